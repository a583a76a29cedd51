"""Sign and verify audit checkpoints as compact JWS (RFC 7515) with the node key.

The chain takes ``sign(claims) -> str`` and ``verify(jws) -> claims`` callables; these
build them from joserfc keys. Signing goes through joserfc. Verification is strict and
visible (STYLE habit 10): algorithms ``ES256`` and ``Ed25519`` only (the fully specified
name RFC 9864 gives EdDSA over Ed25519), header ``typ`` exactly ``audit-checkpoint+jwt``
(a consent or access token is never taken for a checkpoint, RFC 8725 section 3.11), the
key chosen by ``kid`` among the keys we pass and never from the token's own header, and
claims parsed as I-JSON (no duplicate keys, no non-finite numbers).

Verification calls ``cryptography`` directly (``contract.jose.raw_verify``; RFC 7515 section
5.2, RFC 7518 section 3.4)
because a million-entry log holds ten thousand checkpoints and joserfc's generic path
costs twice as much per signature; the tests check both agree. Keep retired public keys
in the verifier for as long as the log is kept: old checkpoints stay signed by them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from joserfc import jws
from joserfc.jwk import ECKey, KeySet, OKPKey

from audit.chain import CHECKPOINT_TYP, no_duplicate_keys
from contract.jose import raw_verify

ALGORITHMS: tuple[str, ...] = ("ES256", "Ed25519")
_HEADER_MEMBERS = frozenset({"alg", "typ", "kid"})
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class CheckpointSignatureError(ValueError):
    """A checkpoint does not verify: bad signature, algorithm, type, key or header."""


def make_signer(key: ECKey | OKPKey) -> Callable[[dict[str, Any]], str]:
    """Return ``sign(claims) -> compact JWS`` with ``key`` (EC P-256: ES256, Ed25519: Ed25519)."""
    alg = "ES256" if isinstance(key, ECKey) else "Ed25519"
    if key.curve_name != ("P-256" if alg == "ES256" else "Ed25519"):
        raise ValueError("audit checkpoints are signed with an EC P-256 or Ed25519 key")
    header = {"alg": alg, "typ": CHECKPOINT_TYP, "kid": key.thumbprint()}

    def sign(claims: dict[str, Any]) -> str:
        payload = json.dumps(claims, separators=(",", ":"), sort_keys=True, allow_nan=False)
        return jws.serialize_compact(dict(header), payload.encode("utf-8"), key,
                                     algorithms=[alg])

    return sign


def make_verifier(keys: KeySet | ECKey | OKPKey | Iterable[ECKey | OKPKey],
                  ) -> Callable[[str], dict[str, Any]]:
    """Return ``verify(jws) -> claims`` raising CheckpointSignatureError unless all rules hold.

    ``keys`` are the node's current and retired public keys; each is looked up by its
    RFC 7638 thumbprint, which the signer puts in ``kid``.
    """
    if isinstance(keys, (ECKey, OKPKey)):
        candidates: list[Any] = [keys]
    else:
        candidates = list(keys.keys if isinstance(keys, KeySet) else keys)
    table: dict[str, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey] = {}
    for key in candidates:
        public = key.public_key if isinstance(key, (ECKey, OKPKey)) else None
        if isinstance(public, ec.EllipticCurvePublicKey) and key.curve_name == "P-256":
            table[key.thumbprint()] = public
            continue
        if not isinstance(public, ed25519.Ed25519PublicKey):
            raise ValueError("checkpoint keys must be EC P-256 or Ed25519")
        table[key.thumbprint()] = public
    if not table:
        raise ValueError("no checkpoint verification key")

    def verify(token: str) -> dict[str, Any]:
        header_b64, payload_b64, signature = _split(token)
        header = _json(_b64decode(header_b64), "header")
        if set(header) - _HEADER_MEMBERS:  # jku, jwk, x5u, x5c, crit: never honoured
            raise CheckpointSignatureError("checkpoint header has unexpected members")
        if header.get("typ") != CHECKPOINT_TYP:
            raise CheckpointSignatureError("not an audit checkpoint (typ)")
        kid = header.get("kid")
        public_key = table.get(kid) if isinstance(kid, str) else None
        is_ec = isinstance(public_key, ec.EllipticCurvePublicKey)
        if public_key is None or header.get("alg") != ("ES256" if is_ec else "Ed25519"):
            raise CheckpointSignatureError("unknown key or algorithm for this checkpoint")
        signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
        if not raw_verify(public_key, signing_input, signature):
            raise CheckpointSignatureError("checkpoint signature invalid")
        return _json(_b64decode(payload_b64), "payload")

    return verify


def _split(token: object) -> tuple[str, str, bytes]:
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > 4096:
        raise CheckpointSignatureError("not a compact JWS")
    header_b64, payload_b64, signature_b64 = token.split(".")
    return header_b64, payload_b64, _b64decode(signature_b64)


def _b64decode(part: str) -> bytes:
    if not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        raise CheckpointSignatureError("not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise CheckpointSignatureError("not base64url") from None


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicate_keys,
                           parse_constant=_reject)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointSignatureError(f"checkpoint {what} is not I-JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CheckpointSignatureError(f"checkpoint {what} is not an object")
    return value


def _reject(token: str) -> Any:
    raise ValueError(f"non-finite number {token}")
