"""Keys and hand-made JWS for the wire-rule tests: built with ``cryptography``, not our code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.jwk import ECKey, KeySet, OKPKey

ISSUER = "org:jeugdzorg-utrecht"


def an_ec_key(kid: str = "yc-ec-1") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid})


def an_ed_key(kid: str = "yc-ed-1") -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid})


def public_set(*keys: ECKey | OKPKey) -> KeySet:
    """The JWKS a partner would publish and we would pin: public members only."""
    return KeySet.import_key_set({"keys": [k.as_dict(private=False) for k in keys]})


def b64(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def text(value: dict[str, Any] | str) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def raw_signature(signing_input: bytes, jwk: ECKey | OKPKey) -> bytes:
    private = jwk.private_key
    if isinstance(private, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert isinstance(private, Ed25519PrivateKey)
    return private.sign(signing_input)


def hand_sign(
    header: dict[str, Any] | str, payload: dict[str, Any] | str | bytes, jwk: ECKey | OKPKey, *, detached: bool = False
) -> str:
    """Sign raw header and payload with the real key, bypassing our code.

    Lets a test build what our ``sign`` would never produce (``alg`` none, an embedded
    ``jwk``, duplicate members) and still carry a valid signature. With ``detached`` the
    payload segment is left out (RFC 7515 appendix F).
    """
    body = b64(payload if isinstance(payload, bytes) else text(payload))
    signing_input = f"{b64(text(header))}.{body}".encode("ascii")
    signature = b64(raw_signature(signing_input, jwk))
    head = signing_input.decode("ascii").split(".")[0]
    return f"{head}..{signature}" if detached else f"{signing_input.decode('ascii')}.{signature}"


def hmac_with_public_key(header: dict[str, Any], payload: dict[str, Any], jwk: ECKey | OKPKey) -> str:
    """HS256 keyed with the verifier's public JWK: the classic algorithm confusion."""
    secret = json.dumps(jwk.as_dict(private=False)).encode()
    signing_input = f"{b64(text(header))}.{b64(text(payload))}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


NOW = 1_749_981_600  # 2025-06-15 10:00 UTC


def b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
