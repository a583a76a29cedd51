"""The node's signing keys: made at ``init``, rotated by ``keys rotate``, served as a JWKS.

Contract section 2: only asymmetric keys (EC P-256 for ES256, OKP Ed25519 for EdDSA), the
``kid`` is the RFC 7638 thumbprint, a rotated-out key stays in the JWKS for its window so
that what it signed stays verifiable. Private keys live in ``HOME/keys/<kid>.pem``, mode
0600; ``HOME/keys/keyring.json`` says which key is active. A running node notices a
rotation by the keyring file's change time, so ``keys rotate`` needs no restart.

With an HSM (``[keys] backend = "pkcs11"``, ``gateway.hsm``) new keys are made on the
token instead; their entries carry ``"store": "pkcs11"`` and the token's ``CKA_ID``, and
no private key file exists for them. One ring may hold both kinds: a node that moves its
key into an HSM rotates once, and its old file key keeps verifying what it signed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, KeySet, OKPKey

from contract.errors import GatewayError

SigningKey = ECKey | OKPKey


class KeyError_(GatewayError):  # noqa: N801 - the underscore keeps it from shadowing the builtin KeyError
    """The key ring is missing, unreadable or unsafe."""

    code = "key-error"
    message_nl = "De sleutels van de node zijn niet bruikbaar."


def generate(alg: str) -> SigningKey:
    """Make a fresh private key for ``alg`` (ES256 or EdDSA)."""
    if alg == "ES256":
        return ECKey.generate_key("P-256", private=True)
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519", private=True)
    raise KeyError_(f"unsupported algorithm {alg!r}; use ES256 or EdDSA")


def alg_of(key: SigningKey) -> str:
    return "ES256" if isinstance(key, ECKey) else "EdDSA"


def public_jwk(key: SigningKey) -> dict[str, Any]:
    """Return the public JWK with kid = RFC 7638 thumbprint and its alg and use."""
    data = key.as_dict(private=False)
    data = {k: v for k, v in data.items() if k in ("kty", "crv", "x", "y")}
    data.update(kid=key.thumbprint(), alg=alg_of(key), use="sig")
    return data


@dataclass(frozen=True)
class KeyEntry:
    kid: str
    alg: str
    created: str
    retired: str | None = None
    withdrawn: bool = False  # left the JWKS at once (``keys rotate --withdraw-old``)
    store: str = "file"  # "file": HOME/keys/<kid>.pem; "pkcs11": on the HSM token
    token_id: str = ""  # pkcs11: the key's CKA_ID (hex)


@dataclass(frozen=True)
class _Ring:
    """What one load of the ring found; replaced whole, never changed."""

    entries: tuple[KeyEntry, ...]
    keys: dict[str, SigningKey]
    active: str
    verification: KeySet

    @property
    def active_entry(self) -> KeyEntry:
        return next(e for e in self.entries if e.kid == self.active)


def _write_private(path: Path, pem: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


class KeyRing:
    """The node's keys; ``active`` signs, ``jwks()`` publishes, ``verification_set`` verifies."""

    def __init__(
        self, home: Path, retired_key_days: int = 30, *, hsm: Any = None, new_keys_on_hsm: bool = False
    ) -> None:
        self.dir = Path(home) / "keys"
        self.retired_key_days = retired_key_days
        self.hsm = hsm  # gateway.hsm.Pkcs11Token, when the node has one
        self.new_keys_on_hsm = new_keys_on_hsm
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._load()

    # -- creation and rotation (CLI) --------------------------------------------------
    @classmethod
    def create(cls, home: Path, alg: str, *, hsm: Any = None) -> KeyRing:
        """Make the first key of a new node (on ``hsm`` when given)."""
        keydir = Path(home) / "keys"
        keydir.mkdir(mode=0o700, exist_ok=False)
        entry = _new_key(keydir, alg, hsm, _now())
        cls._save_index(keydir, entry.kid, [entry])
        return cls(home, hsm=hsm, new_keys_on_hsm=hsm is not None)

    def rotate(self, alg: str | None = None, *, withdraw_old: bool = False) -> str:
        """Make a new active key; the old one stays listed until its window ends, or leaves
        the JWKS at once with ``withdraw_old`` (it may be compromised). Either way it still
        verifies this node's own old audit checkpoints."""
        with self._lock:
            now = _now()
            new = _new_key(
                self.dir,
                alg or ("ES256" if self.new_keys_on_hsm else self.active_entry.alg),
                self.hsm if self.new_keys_on_hsm else None,
                now,
            )
            entries = [
                dataclasses.replace(e, retired=e.retired or now, withdrawn=e.withdrawn or withdraw_old)
                for e in self.entries
            ] + [new]
            self._save_index(self.dir, new.kid, entries)
            self._stamp = None
        self._load()
        return new.kid

    @staticmethod
    def _save_index(keydir: Path, active: str, entries: list[KeyEntry]) -> None:
        tmp = keydir / "keyring.json.tmp"
        tmp.write_text(json.dumps({"active": active, "keys": [e.__dict__ for e in entries]}, indent=2))
        os.replace(tmp, keydir / "keyring.json")

    # -- loading ------------------------------------------------------------------------
    def _load(self) -> None:
        index = self.dir / "keyring.json"
        try:
            stamp = index.stat().st_mtime_ns
        except FileNotFoundError:
            raise KeyError_(f"no key ring at {self.dir}") from None
        if stamp == self._stamp:
            return
        try:
            raw = json.loads(index.read_text("utf-8"))
            entries = [KeyEntry(**e) for e in raw["keys"]]
            active = str(raw["active"])
        except (ValueError, KeyError, TypeError) as exc:  # hand-edited or cut short
            raise KeyError_(f"{index} is damaged ({type(exc).__name__}); restore it from backup") from None
        keys: dict[str, SigningKey] = {}
        for entry in entries:
            if entry.store == "pkcs11":
                keys[entry.kid] = self._token_key(entry)
                continue
            path = self.dir / f"{entry.kid}.pem"
            if path.stat().st_mode & 0o077:
                raise KeyError_(f"{path} is readable by others; chmod 600 it")
            pem = path.read_bytes()
            key: SigningKey = ECKey.import_key(pem) if entry.alg == "ES256" else OKPKey.import_key(pem)
            if key.thumbprint() != entry.kid:
                raise KeyError_(f"{path}: thumbprint does not match its name")
            keys[entry.kid] = key
        if active not in keys:
            raise KeyError_("the active key is missing")
        verification = KeySet(
            [
                ECKey.import_key(public_jwk(k)) if isinstance(k, ECKey) else OKPKey.import_key(public_jwk(k))
                for k in keys.values()
            ]
        )
        # One assignment: a request reading the ring while another one loads a rotation sees
        # the old ring or the new one, never the new active kid beside the old entry list.
        self._state = _Ring(tuple(entries), keys, active, verification)
        self._stamp = stamp

    def _token_key(self, entry: KeyEntry) -> SigningKey:
        if self.hsm is None:
            raise KeyError_(f"key {entry.kid} lives in an HSM: set [keys] pkcs11_module and pkcs11_token")
        key: SigningKey = self.hsm.key(bytes.fromhex(entry.token_id))
        if key.thumbprint() != entry.kid:
            raise KeyError_(f"the HSM key {entry.token_id} is not key {entry.kid}")
        return key

    def refresh(self) -> None:
        """Pick up a rotation made by the CLI while the node runs."""
        with self._lock:
            self._load()

    # -- use ----------------------------------------------------------------------------
    @property
    def entries(self) -> tuple[KeyEntry, ...]:
        return self._state.entries

    @property
    def active_entry(self) -> KeyEntry:
        return self._state.active_entry

    @property
    def active(self) -> tuple[str, str, SigningKey]:
        """Return (kid, alg, private key) of the key that signs now."""
        self.refresh()
        ring = self._state
        entry = ring.active_entry
        return entry.kid, entry.alg, ring.keys[entry.kid]

    def jwks(self, now: datetime | None = None) -> dict[str, Any]:
        """Return the public JWKS: the active key and retired keys within their window."""
        self.refresh()
        ring = self._state
        now = now or datetime.now(UTC)
        window = timedelta(days=self.retired_key_days)
        listed = [
            e
            for e in ring.entries
            if not e.withdrawn and (e.retired is None or datetime.fromisoformat(e.retired) + window > now)
        ]
        return {"keys": [public_jwk(ring.keys[e.kid]) for e in listed]}

    def verification_set(self) -> KeySet:
        """Return every own public key ever used (audit checkpoints outlive the JWKS window)."""
        self.refresh()
        return self._state.verification

    def thumbprint(self) -> str:
        return self.active[0]


def _new_key(keydir: Path, alg: str, hsm: Any, now: str) -> KeyEntry:
    """Make a key: on the HSM token (ES256; only its id is written), or as an owner-only file."""
    if hsm is not None:
        if alg != "ES256":
            raise KeyError_("keys on the HSM are ES256 keys")
        key_id = hsm.generate()
        return KeyEntry(
            kid=hsm.key(key_id).thumbprint(), alg="ES256", created=now, store="pkcs11", token_id=key_id.hex()
        )
    key = generate(alg)
    _write_private(keydir / f"{key.thumbprint()}.pem", key.as_pem(private=True))
    return KeyEntry(kid=key.thumbprint(), alg=alg_of(key), created=now)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
