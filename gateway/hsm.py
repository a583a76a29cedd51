"""Signing keys in an HSM over PKCS#11 (python-pkcs11; tested against SoftHSM2).

The signer interface of the key ring is a joserfc key: every signing call in the node
(consent tokens, access tokens, client assertions, summaries, audit heads) hands the key
to joserfc, which asks it for its private half and calls ``sign(data, ECDSA(SHA256()))``
on that. ``TokenKey`` is such a key whose private half is a handle on the token: the
SHA-256 digest goes in, the token signs it with ``CKM_ECDSA``, the signature comes out.
The private key never leaves the token: it is made there (``C_GenerateKeyPair``) with
``CKA_SENSITIVE`` true and ``CKA_EXTRACTABLE`` false, and ``HOME/keys/keyring.json``
holds only its ``CKA_ID``; the public key is read back from the token and its RFC 7638
thumbprint is the ``kid``, as for a key file. ES256 only: SoftHSM2 2.6 offers no EdDSA.

A PKCS#11 session is not for two threads at once, so each token signs under a lock; a
library initialised before a fork is not usable after it, so a token opens its library
in the process that signs (gunicorn workers load their keys after the fork).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.jwk import ECKey

from contract.errors import GatewayError


class HsmError(GatewayError):
    """The HSM cannot be opened, logged in to, or does not hold the key the ring names."""

    code = "key-error"
    message_nl = "De sleutels van de node zijn niet bruikbaar."


class _OnToken:
    """The private half of a token key, as far as joserfc's ES256 needs one: ``sign``."""

    def __init__(self, token: Pkcs11Token, key_id: bytes, public: ec.EllipticCurvePublicKey) -> None:
        self._token, self._id, self._public = token, key_id, public
        self.curve = public.curve
        self.key_size = public.key_size

    def sign(self, data: bytes, algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(algorithm, ec.ECDSA) or not isinstance(algorithm.algorithm, hashes.SHA256):
            raise ValueError("token keys sign ECDSA with SHA-256 (ES256) only")
        raw = self._token.sign(self._id, hashlib.sha256(data).digest())
        half = len(raw) // 2
        return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise HsmError("the private key stays on the HSM")

    def private_numbers(self) -> Any:
        raise HsmError("the private key stays on the HSM")


class TokenKey(ECKey):
    """A joserfc EC key whose private half lives on a PKCS#11 token."""

    def __init__(self, token: Pkcs11Token, key_id: bytes, public: ec.EllipticCurvePublicKey) -> None:
        public_dict = ECKey.import_key(public).as_dict(private=False)
        super().__init__(public, public_dict)
        self._on_token = _OnToken(token, key_id, public)
        self.key_id = key_id

    @property
    def is_private(self) -> bool:  # it can sign; it cannot be exported
        return True

    @property
    def private_key(self) -> Any:
        return self._on_token

    def as_pem(self, private: bool = False, password: Any = None) -> bytes:
        if private:
            raise HsmError("the private key stays on the HSM")
        return super().as_pem(private=False)


#: (module, label) -> (pid, session): PKCS#11 login state belongs to the process, not to a
#: session, so every Pkcs11Token of one token in one process shares one logged-in session
_SESSIONS: dict[tuple[str, str], tuple[int, Any]] = {}
#: (module, label, CKA_ID) -> (session, private key handle): finding the object costs as much
#: as signing with it, so the handle is kept for as long as its session lives
_HANDLES: dict[tuple[str, str, bytes], tuple[Any, Any]] = {}
_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_GUARD = threading.Lock()


class Pkcs11Token:
    """One token (by label) in one PKCS#11 library, logged in with the user PIN."""

    def __init__(self, module: str, label: str, pin: str) -> None:
        self.module, self.label, self._pin = module, label, pin
        with _GUARD:
            self._lock = _LOCKS.setdefault((module, label), threading.Lock())

    def _open(self) -> Any:
        """The process's logged-in session on this token (call with ``self._lock`` held)."""
        cached = _SESSIONS.get((self.module, self.label))
        if cached is not None and cached[0] == os.getpid():
            return cached[1]
        if not self._pin:
            raise HsmError("the HSM PIN is not set: put it in GATEWAY_KEYS_PKCS11_PIN")
        import pkcs11  # noqa: PLC0415 - only a node whose keys live on an HSM loads the PKCS#11 binding
        from pkcs11.exceptions import PKCS11Error  # noqa: PLC0415 - only a node whose keys live on an HSM loads the PKCS#11 binding

        try:
            token = pkcs11.lib(self.module).get_token(token_label=self.label)
            session = token.open(user_pin=self._pin, rw=True)
        except (PKCS11Error, RuntimeError, OSError) as exc:
            raise HsmError(f"cannot open HSM token {self.label!r} in {self.module}: {type(exc).__name__}") from None
        _SESSIONS[(self.module, self.label)] = (os.getpid(), session)
        return session

    def generate(self) -> bytes:
        """Make an EC P-256 key pair on the token; return its ``CKA_ID``."""
        from pkcs11 import Attribute, KeyType  # noqa: PLC0415 - only a node whose keys live on an HSM loads the PKCS#11 binding
        from pkcs11.util.ec import encode_named_curve_parameters  # noqa: PLC0415 - only a node whose keys live on an HSM loads the PKCS#11 binding

        key_id = secrets.token_bytes(16)
        with self._lock:
            session = self._open()
            params = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
            )
            params.generate_keypair(
                store=True,
                id=key_id,
                label="gateway-" + key_id.hex(),
                private_template={
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                    Attribute.PRIVATE: True,
                    Attribute.TOKEN: True,
                },
            )
        return key_id

    def key(self, key_id: bytes) -> TokenKey:
        """The token key with ``CKA_ID`` ``key_id`` (its public half read from the token)."""
        from asn1crypto.core import OctetString  # noqa: PLC0415 - only a node whose keys live on an HSM loads the PKCS#11 binding
        from pkcs11 import Attribute, KeyType, ObjectClass  # noqa: PLC0415 - only a node whose keys live on an HSM loads the PKCS#11 binding
        from pkcs11.exceptions import NoSuchKey, PKCS11Error  # noqa: PLC0415 - only a node whose keys live on an HSM loads the PKCS#11 binding

        with self._lock:
            session = self._open()
            try:
                public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, key_type=KeyType.EC, id=key_id)
                session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, id=key_id)
                point = OctetString.load(public[Attribute.EC_POINT]).native
            except NoSuchKey:
                raise HsmError(f"the HSM token {self.label!r} holds no key {key_id.hex()}") from None
            except PKCS11Error as exc:
                raise HsmError(f"HSM token {self.label!r}: {type(exc).__name__}") from None
        return TokenKey(self, key_id, ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point))

    def sign(self, key_id: bytes, digest: bytes) -> bytes:
        """Sign a SHA-256 digest with the private key ``key_id`` (``CKM_ECDSA``); raw r || s."""
        from pkcs11 import KeyType, Mechanism, ObjectClass  # noqa: PLC0415 - only a node whose keys live on an HSM loads the PKCS#11 binding
        from pkcs11.exceptions import PKCS11Error  # noqa: PLC0415 - only a node whose keys live on an HSM loads the PKCS#11 binding

        with self._lock:
            session = self._open()
            try:
                cached = _HANDLES.get((self.module, self.label, key_id))
                if cached is not None and cached[0] is session:
                    private = cached[1]
                else:
                    private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC, id=key_id)
                    _HANDLES[(self.module, self.label, key_id)] = (session, private)
                return bytes(private.sign(digest, mechanism=Mechanism.ECDSA))
            except PKCS11Error as exc:
                raise HsmError(f"the HSM did not sign: {type(exc).__name__}") from None

    def close(self) -> None:
        """Close the process's session on this token (the next use logs in again)."""
        with self._lock:
            cached = _SESSIONS.pop((self.module, self.label), None)
            if cached is not None and cached[0] == os.getpid():
                cached[1].close()


def token_of(cfg: Any) -> Pkcs11Token | None:
    """The configured token (``[keys] pkcs11_*``), or None when the node has no HSM."""
    k = cfg.keys
    if not k.pkcs11_module:
        return None
    return Pkcs11Token(k.pkcs11_module, k.pkcs11_token, k.pkcs11_pin)
