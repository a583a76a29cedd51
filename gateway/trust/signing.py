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
from datetime import UTC, datetime
from typing import Any

from joserfc.jwk import Key, KeySet

from contract import jcs, jws
from contract.errors import BadPartnerSignature
from contract.systems import ORG_ID_SYSTEM, SIGNATURE_TYPE_SYSTEM

__all__ = [
    "ALGORITHMS",
    "MAX_PAYLOAD_BYTES",
    "RULES",
    "canonical",
    "sign_bundle",
    "signer_kid",
    "verify_bundle",
    "verify_bundle_from",
]

ALGORITHMS: tuple[str, ...] = jws.ALGORITHMS
"""ES256; Ed25519 under its RFC 8037 name ``EdDSA`` or its RFC 9864 name ``Ed25519``."""

MAX_PAYLOAD_BYTES = jws.MAX_PAYLOAD_BYTES
"""joserfc refuses payloads over 128,000 bytes, detached ones too (SECURITY.md); ours may be larger."""

RULES = jws.Rules(typ=None, error=BadPartnerSignature, members=frozenset({"alg", "kid", "typ"}))
"""A Bundle signature's header: ``alg`` and ``kid``, ``typ`` absent or ``JOSE``, nothing else."""

SIGNATURE_TYPE = {
    "system": SIGNATURE_TYPE_SYSTEM,
    "code": "1.2.840.10065.1.12.1.5",
    "display": "Verification Signature",
}
SIG_FORMAT = "application/jose"


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
    """Return ``bundle`` with ``Bundle.signature`` set (contract section 4), as a new top-level
    dict that shares the entries with ``bundle``: the caller built it for this one answer and
    does not change it afterwards (a deep copy cost a tenth of the signing, issue 19).

    RFC 7515 appendix F over RFC 8785. Raises ``ValueError`` for a naive ``now``, an
    alg outside ``ALGORITHMS``, a key that does not fit the alg, or numbers JCS would
    rewrite.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if alg not in ALGORITHMS or not kid or not signer_ref:
        raise ValueError(f"alg must be one of {ALGORITHMS}; kid and signer_ref must be set")
    if not jws.key_fits(key, alg):
        raise ValueError(f"key does not fit {alg}")
    unsigned = _unsigned(bundle)
    detached = jws.sign(canonical(unsigned), key, {"alg": alg, "kid": kid}, detached=True)
    signed = unsigned
    signed["signature"] = {
        "type": [dict(SIGNATURE_TYPE)],
        "when": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "who": {"identifier": {"system": ORG_ID_SYSTEM, "value": signer_ref}},
        "sigFormat": SIG_FORMAT,
        "data": base64.b64encode(detached.encode("ascii")).decode("ascii"),
    }
    return signed


def verify_bundle_from(bundle: dict[str, Any], signer: str, keys_for: jws.KeysFor) -> dict[str, Any]:
    """Verify ``Bundle.signature`` with the key of ``signer`` that ``keys_for(signer, kid)`` pins.

    Contract section 4; RFC 7515 appendix F over RFC 8785, through the JWS kernel: a
    ``sigFormat`` of exactly ``application/jose``, canonical base64 ``data`` holding a
    detached compact JWS whose header holds only ``alg``, ``kid`` and ``typ`` (``JOSE``).
    Returns the JWS header. Raises ``BadPartnerSignature`` on any failure.
    """
    if not isinstance(bundle, dict):
        raise BadPartnerSignature("Samenvatting is geen JSON-object.")
    signature = bundle.get("signature")
    if not isinstance(signature, dict) or signature.get("sigFormat") != SIG_FORMAT:
        raise BadPartnerSignature("Samenvatting mist een JOSE-handtekening.")
    compact = _compact(signature.get("data"))
    try:
        payload = canonical(_unsigned(bundle))
    except (ValueError, TypeError) as exc:
        raise BadPartnerSignature("Handtekening van de samenvatting klopt niet.") from exc
    return jws.verify(compact, keys_for, RULES, issuer=signer, detached_payload=payload).header


def verify_bundle(bundle: dict[str, Any], keys: KeySet) -> dict[str, Any]:
    """``verify_bundle_from`` with one fixed set of pinned keys (an operator's, a test's)."""
    return verify_bundle_from(bundle, "", lambda _signer, _kid: keys)


def signer_kid(bundle: dict[str, Any]) -> str | None:
    """Read the ``kid`` of a Bundle's signature WITHOUT verifying it, for reports only.

    None when the signature is missing or malformed: ``verify_bundle`` then refuses it.
    """
    try:
        header = jws.peek_header(_compact((bundle.get("signature") or {}).get("data")), error=BadPartnerSignature)
    except (BadPartnerSignature, AttributeError):
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def _compact(data: Any) -> str:
    """The compact JWS in ``signature.data``: canonical standard base64 of ASCII text."""
    if not isinstance(data, str):
        raise BadPartnerSignature("Handtekening heeft geen data.")
    try:
        raw = base64.b64decode(data, validate=True)
        if base64.b64encode(raw).decode("ascii") != data:
            raise ValueError("non-canonical base64")
        return raw.decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise BadPartnerSignature("Handtekening is geen geldige base64.") from exc
