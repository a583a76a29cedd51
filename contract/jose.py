"""Strict JOSE rules shared by every token type (RFC 7515, RFC 7519, RFC 8725).

Consent tokens, client assertions and access tokens all pass through ``decode_strict``
(consent tokens through ``decode_from_issuer``: the same steps, keys chosen by ``iss``)
and ``check_times``, so the rules hold in one place (SECURITY.md, STYLE habit 10):

* an explicit algorithm allow-list checked *before* any cryptography, so ``none`` and
  HS256-keyed-with-a-public-key never reach a verifier (RFC 8725 sections 2.1, 3.1);
* keys only from the caller's pinned ``KeySet``, chosen by an exact ``kid`` and never by
  trying every key; ``jku``, ``x5u``, ``x5c`` and an embedded ``jwk`` are refused outright;
* an exact ``typ``, so one kind of token is never accepted as another (section 3.11);
* I-JSON parsing of header and payload (duplicate keys and non-finite numbers refused);
* integer time claims with one shared ``LEEWAY``: joserfc would accept ``true``,
  ``1e999`` and ``NaN``.

The signature itself is checked with ``cryptography`` directly (RFC 7518 section 3.4 for
ES256, RFC 8037 section 3.1 for Ed25519), as ``audit/signer.py`` does: everything
joserfc's compact deserialiser would add on top (a second header parse, registries, key
guessing) is either done stricter here already or re-stated below (canonical base64url,
a 512-byte header cap, string-typed registered headers, the key's ``use``, ``alg`` and
``key_ops``), so it only cost time. joserfc still signs and holds the keys.

joserfc 1.8 names Ed25519 signatures two ways: ``EdDSA`` (RFC 8037, which it marks
deprecated and answers with a ``SecurityWarning``) and ``Ed25519`` (RFC 9864). The
contract allows both; we sign with ``EdDSA``, which every JOSE library understands.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Collection
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jws
from joserfc.errors import UnsupportedAlgorithmError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import ECKey, Key, KeySet, OKPKey
from joserfc.jws import JWSRegistry

from contract import ijson
from contract.errors import BadSignature, GatewayError, InvalidRequest, TokenExpired

ALGORITHMS: tuple[str, ...] = ("ES256", "EdDSA", "Ed25519")
"""The only signature algorithms accepted or produced (contract section 4)."""

LEEWAY = 60
"""The one clock-skew allowance, in seconds, for every time claim (contract section 4)."""

MAX_TOKEN_LENGTH = 16 * 1024
"""Longer tokens are refused before any parsing: ours are well under 2 KiB."""

MAX_TIME = 2**40
"""Time claims above this (year 36812) are refused as nonsense rather than trusted."""

MAX_HEADER_LENGTH = 512
"""Longer protected headers are refused (joserfc's cap, kept now that it no longer parses)."""

FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "x5c", "jwk", "crit", "b64", "zip"})
"""Headers that fetch or embed keys, or change how the payload is read (RFC 7797)."""

_STRING_HEADERS = ("kid", "typ", "cty", "x5t", "x5t#S256")
"""Registered headers that must be strings if present (RFC 7515 section 4.1), as joserfc checks."""

_SIGNATURE_BYTES = 64
"""ES256: R and S of 32 bytes each (RFC 7518 section 3.4); Ed25519: 64 bytes (RFC 8032)."""

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
# The last character of a canonical base64url segment of length 4n+2 / 4n+3 leaves its
# unused low bits zero (RFC 4648 section 3.5); joserfc refuses the others, and so do we.
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}

_KEY_FOR_ALG: dict[str, tuple[str, str]] = {
    "ES256": ("EC", "P-256"),
    "EdDSA": ("OKP", "Ed25519"),  # EdDSA would also take Ed448: the contract does not
    "Ed25519": ("OKP", "Ed25519"),
}
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class _OneAlgorithm(JWSRegistry):
    """A joserfc registry that allows exactly the algorithm we already checked.

    joserfc's own ``get_alg`` warns on ``EdDSA``; silencing that with
    ``warnings.catch_warnings`` would not be thread-safe, so the allow-list is applied
    here instead.
    """

    def get_alg(self, name: str) -> JWSAlgModel:
        if not self.allowed or name not in self.allowed or name not in self.algorithms:
            raise UnsupportedAlgorithmError(f"Algorithm '{name}' is not allowed")
        return self.algorithms[name]


def _registry(alg: str) -> JWSRegistry:
    return _OneAlgorithm(algorithms=[alg])


def key_fits(key: Key, alg: str) -> bool:
    """Tell whether ``key`` is the key type and curve that ``alg`` requires here."""
    wanted = _KEY_FOR_ALG.get(alg)
    if wanted is None or not isinstance(key, (ECKey, OKPKey)):
        return False
    return (key.key_type, key.curve_name) == wanted


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _canonical(segment: str) -> bool:
    """Tell whether a segment already matched by ``_COMPACT`` is canonical unpadded base64url."""
    rest = len(segment) % 4
    return rest == 0 or (rest != 1 and segment[-1] in _CANONICAL_LAST[rest])


def _segments(token: str, error: type[GatewayError]) -> list[str]:
    if not isinstance(token, str) or not token.isascii():
        raise error("Het token is geen JWS compact-serialisatie.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise error("Het token is te groot.")
    if not _COMPACT.fullmatch(token):
        raise error("Het token bestaat niet uit drie base64url-delen.")
    return token.split(".")


def _json_object(segment: str, error: type[GatewayError], what: str) -> dict[str, Any]:
    try:
        raw = _b64decode(segment)
    except (binascii.Error, ValueError) as exc:
        raise error(f"De {what} van het token is geen geldige base64url.") from exc
    value = ijson.loads(raw, error=error)
    if not isinstance(value, dict):
        raise error(f"De {what} van het token is geen JSON-object.")
    return value


def peek_claims(
    token: str, *, error: type[GatewayError] = BadSignature, strict: bool = True
) -> dict[str, Any]:
    """Read a token's claims WITHOUT verifying them, only to choose whose keys verify it.

    Nothing read here may be trusted or acted on; ``decode_strict`` must follow. With
    ``strict=False`` duplicate keys and non-finite numbers pass, so that a *signed* but
    malformed payload is refused after the signature check as a claims error rather
    than as a bad signature; the strict parse in ``decode_strict`` still refuses it.
    Raises ``error`` when the token is not shaped like a JWS with a JSON-object payload.
    """
    segment = _segments(token, error)[1]
    if strict:
        return _json_object(segment, error, "inhoud")
    try:
        payload = _b64decode(segment)
    except (binascii.Error, ValueError) as exc:
        raise error("De inhoud van het token is geen JSON.") from exc
    return _lenient_object(payload, error)


def peek_header(token: str, *, error: type[GatewayError] = BadSignature) -> dict[str, Any]:
    """Read a token's protected header WITHOUT verifying it, only to choose keys (``kid``).

    Same caveat as ``peek_claims``. Raises ``error`` for a malformed token or header.
    """
    return _json_object(_segments(token, error)[0], error, "header")


def decode_strict(
    token: str,
    keys: KeySet,
    *,
    typ: str,
    error: type[GatewayError] = BadSignature,
    claims_error: type[GatewayError] = InvalidRequest,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS against pinned keys and return its header and claims.

    RFC 7515 section 5.2 with RFC 8725: size cap, three canonical base64url parts, an
    I-JSON header of at most ``MAX_HEADER_LENGTH``, ``alg`` in ``ALGORITHMS``, no
    key-carrying headers, ``typ`` exactly ``typ``, ``kid`` naming exactly one key of
    ``keys`` of the right type, then the signature. Raises ``error`` (``BadSignature``)
    for anything about shape, header, key or signature, and ``claims_error`` for a
    signed payload that is not a strict JSON object. The claims themselves (times,
    audience, ...) are the caller's to check: see ``check_times``.
    """
    parts = _segments(token, error)
    header, key = _checked_header(parts[0], keys, typ, error)
    _check_signature(parts, header["alg"], key, error)
    payload = _b64decode(parts[1])
    return header, _claims(ijson.loads(payload, error=claims_error), claims_error)


def decode_from_issuer(
    token: str,
    keys_for_issuer: Callable[[str], KeySet | None],
    *,
    typ: str,
    error: type[GatewayError] = BadSignature,
    claims_error: type[GatewayError] = InvalidRequest,
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS with the pinned keys of the issuer its ``iss`` names.

    RFC 8725 section 3.8 (the keys must belong to the issuer): the unverified ``iss`` is
    read only to call ``keys_for_issuer``; then the same steps as ``decode_strict``.
    The payload is decoded and parsed once: a payload that is not strict I-JSON is read
    leniently for ``iss`` alone, so that a *signed* malformed payload is refused after
    the signature as ``claims_error``, not as a bad signature. Returns the issuer, the
    header and the claims (whose ``iss`` is that issuer). Raises ``error`` for a token
    without ``iss``, an issuer without pinned keys, or any ``decode_strict`` refusal;
    ``claims_error`` for a signed payload that is not a strict JSON object.
    """
    parts = _segments(token, error)
    try:
        payload = _b64decode(parts[1])
    except (binascii.Error, ValueError) as exc:
        raise error("De inhoud van het token is geen geldige base64url.") from exc
    try:
        unverified = _claims(ijson.loads(payload), InvalidRequest)
        claims: dict[str, Any] | None = unverified
    except InvalidRequest:
        claims, unverified = None, _lenient_object(payload, error)
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise error("Het token noemt geen uitgever.")
    keys = keys_for_issuer(issuer)
    if not keys:
        raise error("De uitgever van het token is geen vertrouwde partner.")

    header, key = _checked_header(parts[0], keys, typ, error)
    _check_signature(parts, header["alg"], key, error)
    if claims is None:  # signed, but not strict I-JSON: refuse it with the parser's reason
        claims = _claims(ijson.loads(payload, error=claims_error), claims_error)
    return issuer, header, claims


def verify_signature(key: Key, alg: str, signing_input: bytes, signature: bytes) -> bool:
    """Tell whether ``signature`` over ``signing_input`` verifies with ``key`` under ``alg``.

    RFC 7518 section 3.4 (ES256: R||S, 32 bytes each, turned into DER for
    ``cryptography``) and RFC 8037 section 3.1 (Ed25519). False for an ``alg`` outside
    ``ALGORITHMS``, a key that does not fit it, or a signature of the wrong length.
    """
    if not key_fits(key, alg):
        return False
    public = key.public_key
    if not isinstance(public, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        return False
    return raw_verify(public, signing_input, signature)


def raw_verify(public: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey, signing_input: bytes,
               signature: bytes) -> bool:
    """The curve operation itself, for every JWS this project checks (tokens here, audit
    checkpoints in ``audit.signer``): an EC P-256 key takes the JWS R||S form
    (32 bytes each, turned into DER for ``cryptography``), an Ed25519 key its 64 bytes.
    False for a signature of the wrong length or one that does not verify."""
    if len(signature) != _SIGNATURE_BYTES:
        return False
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            public.verify(der, signing_input, _ECDSA_SHA256)
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, signing_input)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _checked_header(
    segment: str, keys: KeySet, typ: str, error: type[GatewayError]
) -> tuple[dict[str, Any], Key]:
    """Parse and check the protected header; return it with the one pinned key it names."""
    if len(segment) > MAX_HEADER_LENGTH:
        raise error("De header van het token is te groot.")
    header = _parsed_header(segment, error)

    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise error(f"Algoritme niet toegestaan: {alg!r}.")
    if not FORBIDDEN_HEADERS.isdisjoint(header):
        forbidden = sorted(FORBIDDEN_HEADERS & header.keys())
        raise error(f"Header niet toegestaan: {', '.join(forbidden)}.")
    if header.get("typ") != typ:
        raise error(f"Verkeerd tokentype: {header.get('typ')!r}, verwacht {typ!r}.")
    for name in _STRING_HEADERS:
        if name in header and not isinstance(header[name], str):
            raise error(f"Header {name!r} is geen tekst.")
    return header, _pinned_key(header.get("kid"), alg, keys, error)


def _parsed_header(segment: str, error: type[GatewayError]) -> dict[str, Any]:
    """Return a fresh dict of the strictly parsed header segment; raise ``error`` if it fails."""
    items = _flat_header(segment)
    if items is not None:
        return dict(items)
    return _json_object(segment, error, "header")


@functools.lru_cache(maxsize=256)
def _flat_header(segment: str) -> tuple[tuple[str, str], ...] | None:
    """The members of a strictly parsed header whose values are all strings, else None.

    An issuer's tokens all carry the same {alg, kid, typ}, and its strict parse costs
    a twentieth of a verification, so it is remembered by its exact text. Immutable
    items, so nothing a caller does to a header can reach the next token; no personal
    data (a header names an algorithm, a key and a type). A header that does not parse
    or is not flat gives None, and ``_parsed_header`` parses it again to say why.
    """
    try:
        header = _json_object(segment, InvalidRequest, "header")
    except InvalidRequest:
        return None
    if not all(isinstance(value, str) for value in header.values()):
        return None
    return tuple(header.items())


def _check_signature(parts: list[str], alg: str, key: Key, error: type[GatewayError]) -> None:
    """Check the signature (third part) over the first two parts, all canonical base64url."""
    header_segment, payload_segment, signature_segment = parts
    if not all((_canonical(header_segment), _canonical(payload_segment),
                _canonical(signature_segment))):
        raise error("Het token is geen canonieke base64url.")
    signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
    if not verify_signature(key, alg, signing_input, _b64decode(signature_segment)):
        raise error("De handtekening van het token klopt niet.")


def _claims(value: Any, error: type[GatewayError]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise error("De inhoud van het token is geen JSON-object.")
    return value


def _lenient_object(payload: bytes, error: type[GatewayError]) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise error("De inhoud van het token is geen JSON.") from exc
    return _claims(value, error)


def _pinned_key(kid: object, alg: str, keys: KeySet, error: type[GatewayError]) -> Key:
    if not isinstance(kid, str) or not kid:
        raise error("Het token noemt geen sleutel (kid).")
    matches = [key for key in keys if key.kid == kid]
    if len(matches) != 1:
        # None: unknown key. Several: ambiguous pinning; never guess between them.
        raise error("De sleutel (kid) van het token is niet bekend bij deze uitgever.")
    key = matches[0]
    if not key_fits(key, alg):
        raise error(f"De sleutel (kid) past niet bij algoritme {alg}.")
    # RFC 7517 sections 4.2-4.4, as joserfc checks them: a key published for another
    # use, another algorithm or without the verify operation does not verify.
    use, key_alg, key_ops = key.get("use"), key.get("alg"), key.get("key_ops")
    if (use and use != "sig") or (key_alg and key_alg != alg) or (
        key_ops is not None and "verify" not in key_ops
    ):
        raise error(f"De sleutel (kid) is niet gepubliceerd voor ondertekening met {alg}.")
    return key


def _time_claim(claims: dict[str, Any], name: str, error: type[GatewayError]) -> int | None:
    if name not in claims:
        return None
    value = claims[name]
    # bool is an int in Python; floats (1e999, NaN) and huge ints are refused as well.
    if type(value) is not int or not 0 <= value <= MAX_TIME:
        raise error(f"Tijdclaim {name!r} is geen geldig geheel getal.")
    return value


def check_times(
    claims: dict[str, Any],
    now: int,
    *,
    error_expired: type[GatewayError] = TokenExpired,
    max_lifetime: int | None = None,
    required: Collection[str] = ("iat", "nbf", "exp"),
    error_malformed: type[GatewayError] = InvalidRequest,
) -> None:
    """Check ``iat``, ``nbf`` and ``exp`` against ``now`` with the shared ``LEEWAY``.

    RFC 7519 sections 4.1.4-4.1.6: ``exp`` > now - LEEWAY, ``nbf`` and ``iat`` <= now +
    LEEWAY. Every name in ``required`` must be present; ``exp`` always is. With
    ``max_lifetime`` (client assertions: 300) ``exp`` may lie at most that far ahead.
    Raises ``error_malformed`` for a missing or non-integer claim (``true``, ``1e999``,
    ``NaN``, > 2**40) or an inverted window, ``error_expired`` outside the window.
    """
    for name in sorted({"exp", *required}):
        if name not in claims:
            raise error_malformed(f"Tijdclaim {name!r} ontbreekt.")
    iat = _time_claim(claims, "iat", error_malformed)
    nbf = _time_claim(claims, "nbf", error_malformed)
    exp = _time_claim(claims, "exp", error_malformed)
    if exp is None:  # unreachable: required above; kept for the type checker
        raise error_malformed("Tijdclaim 'exp' ontbreekt.")
    if (nbf is not None and nbf > exp) or (iat is not None and iat > exp):
        raise error_malformed("Het token verloopt voordat het geldig wordt.")
    if exp <= now - LEEWAY:
        raise error_expired("Het token is verlopen.")
    if nbf is not None and nbf > now + LEEWAY:
        raise error_expired("Het token is nog niet geldig.")
    if iat is not None and iat > now + LEEWAY:
        raise error_expired("Het token is in de toekomst uitgegeven.")
    if max_lifetime is not None and exp - now > max_lifetime + LEEWAY:
        raise error_malformed(f"Het token is langer dan {max_lifetime} seconden geldig.")


def sign(claims: dict[str, Any], key: Key, *, kid: str, alg: str, typ: str) -> str:
    """Return a compact JWS of ``claims`` with the protected header {alg, kid, typ}.

    The claims are serialised without NaN/Infinity so that our own ``decode_strict``
    and every other I-JSON reader accept them. Raises ``ValueError`` for an algorithm
    outside ``ALGORITHMS``, a key that does not fit it, or an empty ``kid``/``typ``.
    """
    if alg not in ALGORITHMS or not key_fits(key, alg):
        raise ValueError(f"cannot sign with alg {alg!r} and a {type(key).__name__}")
    if not kid or not typ:
        raise ValueError("kid and typ are required")
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    header = {"alg": alg, "kid": kid, "typ": typ}
    return jws.serialize_compact(header, payload.encode("utf-8"), key, registry=_registry(alg))
