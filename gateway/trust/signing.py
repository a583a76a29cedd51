"""Sign and verify summary Bundles: RFC 7515 appendix F (detached JWS) over RFC 8785 (JCS).

Contract section 4 ("Summary"): ``Bundle.signature.data`` is the base64 of a compact JWS
whose payload part is empty; the payload is the JCS canonical JSON of the Bundle without
its ``signature`` element. Only the protected header and that payload are signed:
``signature.when`` and ``signature.who`` are not, so trust comes from the pinned key the
verifier chose (SECURITY.md, "Keys per issuer"), never from ``who``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError, UnsupportedAlgorithmError
from joserfc.jwk import ECKey, Key, KeySet, OKPKey

from contract import ijson, jcs
from contract.errors import BadPartnerSignature

__all__ = ["ALGORITHMS", "MAX_PAYLOAD_BYTES", "canonical", "sign_bundle", "signer_kid", "verify_bundle"]

ALGORITHMS: tuple[str, ...] = ("ES256", "EdDSA", "Ed25519")
"""ES256; Ed25519 under its RFC 8037 name ``EdDSA`` or its RFC 9864 name ``Ed25519``."""

MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
"""joserfc refuses payloads over 128,000 bytes, detached ones too (SECURITY.md); ours may be larger."""

SIGNATURE_TYPE = {
    "system": "urn:iso-astm:E1762-95:2013",
    "code": "1.2.840.10065.1.12.1.5",
    "display": "Verification Signature",
}
ORG_ID_SYSTEM = "https://jggz-gateway.nl/fhir/NamingSystem/org-id"
SIG_FORMAT = "application/jose"

_HEADER_MEMBERS = frozenset({"alg", "kid", "typ"})  # never jku, x5u, x5c, jwk, crit or b64
_CURVE = {"ES256": "P-256", "EdDSA": "Ed25519", "Ed25519": "Ed25519"}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class _Registry(jws.JWSRegistry):
    """joserfc's registry with our allow-list and a payload cap sized for summaries."""

    max_payload_length = MAX_PAYLOAD_BYTES

    def __init__(self, algorithms: Collection[str]) -> None:
        super().__init__(algorithms=list(algorithms))

    def get_alg(self, name: str) -> Any:
        # joserfc warns on every EdDSA use (RFC 9864 deprecates the name); we allow it on
        # purpose for interoperability, and the explicit allow-list is checked here.
        if name not in ALGORITHMS or not self.allowed or name not in self.allowed:
            raise UnsupportedAlgorithmError(f"Algorithm {name!r} is not allowed")
        return self.algorithms[name]


def canonical(obj: Any) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 JSON of ``obj``.

    SECURITY.md: JCS writes numbers as IEEE-754 doubles, so a float or an integer
    outside +-2**53 could change meaning; raises ``ValueError`` on either.
    """
    return jcs.dumps(obj, signed=True)


def _unsigned(bundle: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in bundle.items() if key != "signature"}


def sign_bundle(
    bundle: dict[str, Any], key: Key, *, kid: str, alg: str, signer_ref: str, now: datetime
) -> dict[str, Any]:
    """Return a copy of ``bundle`` with ``Bundle.signature`` set (contract section 4).

    RFC 7515 appendix F over RFC 8785. Raises ``ValueError`` for a naive ``now``, an
    alg outside ``ALGORITHMS``, a key that does not fit the alg, or numbers JCS would
    rewrite.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if alg not in ALGORITHMS or not kid or not signer_ref:
        raise ValueError(f"alg must be one of {ALGORITHMS}; kid and signer_ref must be set")
    if not _fits(key, alg):
        raise ValueError(f"key does not fit {alg}")
    payload = canonical(_unsigned(bundle))
    try:
        compact = jws.serialize_compact(
            {"alg": alg, "kid": kid}, payload, key, registry=_Registry([alg])
        )
    except JoseError as exc:
        raise ValueError(f"cannot sign: {exc}") from exc
    detached = jws.detach_content(compact)
    signed = copy.deepcopy(_unsigned(bundle))
    signed["signature"] = {
        "type": [dict(SIGNATURE_TYPE)],
        "when": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "who": {"identifier": {"system": ORG_ID_SYSTEM, "value": signer_ref}},
        "sigFormat": SIG_FORMAT,
        "data": base64.b64encode(detached.encode("ascii")).decode("ascii"),
    }
    return signed


def verify_bundle(bundle: dict[str, Any], keys: KeySet) -> dict[str, Any]:
    """Verify ``Bundle.signature`` against the signer's pinned ``keys``; return the JWS header.

    Contract section 4; RFC 7515 appendix F over RFC 8785. Strict: ``sigFormat`` exact,
    a detached (empty) payload part, an I-JSON header holding only ``alg``, ``kid`` and
    ``typ`` (``JOSE``), ``alg`` in ``ALGORITHMS``, ``kid`` naming a key in ``keys``.
    Raises ``BadPartnerSignature`` on any failure.
    """
    if not isinstance(bundle, dict):
        raise BadPartnerSignature("Samenvatting is geen JSON-object.")
    signature = bundle.get("signature")
    if not isinstance(signature, dict) or signature.get("sigFormat") != SIG_FORMAT:
        raise BadPartnerSignature("Samenvatting mist een JOSE-handtekening.")
    header_b64, payload_b64, signature_b64 = _split(signature.get("data"))
    if payload_b64:
        raise BadPartnerSignature("Handtekening is geen JWS met losgekoppelde inhoud.")
    header = ijson.loads(_b64url_decode(header_b64), error=BadPartnerSignature)
    if not isinstance(header, dict) or not set(header) <= _HEADER_MEMBERS:
        raise BadPartnerSignature("JWS-header bevat niet-toegestane velden.")
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS or header.get("typ", "JOSE") != "JOSE":
        raise BadPartnerSignature("Algoritme of type van de handtekening niet toegestaan.")
    if not isinstance(kid, str) or not kid:
        raise BadPartnerSignature("Handtekening noemt geen sleutel (kid).")
    _b64url_decode(signature_b64)
    candidates = [k for k in keys if k.kid == kid and _fits(k, alg)]
    if len(candidates) != 1:
        raise BadPartnerSignature("Sleutel van de handtekening is niet (eenduidig) vastgelegd.")
    try:
        payload = canonical(_unsigned(bundle))
        jws.deserialize_compact(
            f"{header_b64}..{signature_b64}", candidates[0],
            registry=_Registry([alg]), payload=payload,
        )
    except (JoseError, ValueError, TypeError) as exc:
        raise BadPartnerSignature("Handtekening van de samenvatting klopt niet.") from exc
    return header


def signer_kid(bundle: dict[str, Any]) -> str | None:
    """Read the ``kid`` of a Bundle's signature WITHOUT verifying it, only to choose pinned keys.

    None when the signature is missing or malformed: ``verify_bundle`` then refuses it.
    """
    try:
        header = ijson.loads(_b64url_decode(_split((bundle.get("signature") or {}).get("data"))[0]),
                             error=BadPartnerSignature)
    except BadPartnerSignature:
        return None
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else None


def _split(data: Any) -> tuple[str, str, str]:
    if not isinstance(data, str):
        raise BadPartnerSignature("Handtekening heeft geen data.")
    try:
        raw = base64.b64decode(data, validate=True)
        if base64.b64encode(raw).decode("ascii") != data:
            raise ValueError("non-canonical base64")
        compact = raw.decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise BadPartnerSignature("Handtekening is geen geldige base64.") from exc
    parts = compact.split(".")
    if len(parts) != 3:
        raise BadPartnerSignature("Handtekening is geen compacte JWS.")
    return parts[0], parts[1], parts[2]


def _b64url_decode(segment: str) -> bytes:
    if not segment or not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise BadPartnerSignature("JWS-deel is geen geldige base64url.")
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise BadPartnerSignature("JWS-deel is geen canonieke base64url.")
    return raw


def _fits(key: Any, alg: str) -> bool:
    kinds = (ECKey,) if alg == "ES256" else (OKPKey,)
    return isinstance(key, kinds) and key.curve_name == _CURVE[alg]
