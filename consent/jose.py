"""Strict JOSE rules shared by every token type (RFC 7515, RFC 7519, RFC 8725).

Consent tokens, client assertions and access tokens all pass through ``decode_strict``
and ``check_times``, so the rules hold in one place (SECURITY.md, STYLE habit 10):

* an explicit algorithm allow-list checked *before* any cryptography, so ``none`` and
  HS256-keyed-with-a-public-key never reach a verifier (RFC 8725 sections 2.1, 3.1);
* keys only from the caller's pinned ``KeySet``, chosen by an exact ``kid`` and never by
  trying every key; ``jku``, ``x5u``, ``x5c`` and an embedded ``jwk`` are refused outright;
* an exact ``typ``, so one kind of token is never accepted as another (section 3.11);
* I-JSON parsing of header and payload (duplicate keys and non-finite numbers refused);
* integer time claims with one shared ``LEEWAY``: joserfc would accept ``true``,
  ``1e999`` and ``NaN``.

joserfc 1.8 names Ed25519 signatures two ways: ``EdDSA`` (RFC 8037, which it marks
deprecated and answers with a ``SecurityWarning``) and ``Ed25519`` (RFC 9864). The
contract allows both; we sign with ``EdDSA``, which every JOSE library understands.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError, UnsupportedAlgorithmError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import ECKey, Key, KeySet, OKPKey
from joserfc.jws import JWSRegistry

from consent import ijson
from consent.errors import BadSignature, GatewayError, InvalidRequest, TokenExpired

ALGORITHMS: tuple[str, ...] = ("ES256", "EdDSA", "Ed25519")
"""The only signature algorithms accepted or produced (contract section 4)."""

LEEWAY = 60
"""The one clock-skew allowance, in seconds, for every time claim (contract section 4)."""

MAX_TOKEN_LENGTH = 16 * 1024
"""Longer tokens are refused before any parsing: ours are well under 2 KiB."""

MAX_TIME = 2**40
"""Time claims above this (year 36812) are refused as nonsense rather than trusted."""

FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "x5c", "jwk", "crit", "b64", "zip"})
"""Headers that fetch or embed keys, or change how the payload is read (RFC 7797)."""

_KEY_FOR_ALG: dict[str, tuple[str, str]] = {
    "ES256": ("EC", "P-256"),
    "EdDSA": ("OKP", "Ed25519"),  # EdDSA would also take Ed448: the contract does not
    "Ed25519": ("OKP", "Ed25519"),
}
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


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


def _segments(token: str, error: type[GatewayError]) -> list[str]:
    if not isinstance(token, str) or not token.isascii():
        raise error("Het token is geen JWS compact-serialisatie.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise error("Het token is te groot.")
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(part) for part in parts):
        raise error("Het token bestaat niet uit drie base64url-delen.")
    return parts


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
        value = json.loads(_b64decode(segment))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise error("De inhoud van het token is geen JSON.") from exc
    if not isinstance(value, dict):
        raise error("De inhoud van het token is geen JSON-object.")
    return value


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

    RFC 7515 section 5.2 with RFC 8725: size cap, three parts, I-JSON header, ``alg`` in
    ``ALGORITHMS``, no key-carrying headers, ``typ`` exactly ``typ``, ``kid`` naming
    exactly one key of ``keys`` of the right type, then the signature. Raises ``error``
    (``BadSignature``) for anything about shape, header, key or signature, and
    ``claims_error`` for a signed payload that is not a strict JSON object. The claims
    themselves (times, audience, ...) are the caller's to check: see ``check_times``.
    """
    header_segment = _segments(token, error)[0]
    header = _json_object(header_segment, error, "header")

    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise error(f"Algoritme niet toegestaan: {alg!r}.")
    forbidden = sorted(FORBIDDEN_HEADERS & header.keys())
    if forbidden:
        raise error(f"Header niet toegestaan: {', '.join(forbidden)}.")
    if header.get("typ") != typ:
        raise error(f"Verkeerd tokentype: {header.get('typ')!r}, verwacht {typ!r}.")
    key = _pinned_key(header.get("kid"), alg, keys, error)

    try:
        signed = jws.deserialize_compact(token, key, algorithms=[alg], registry=_registry(alg))
    except (JoseError, ValueError, TypeError) as exc:
        raise error("De handtekening van het token klopt niet.") from exc

    claims = ijson.loads(signed.payload, error=claims_error)
    if not isinstance(claims, dict):
        raise claims_error("De inhoud van het token is geen JSON-object.")
    return header, claims


def _pinned_key(kid: object, alg: str, keys: KeySet, error: type[GatewayError]) -> Key:
    if not isinstance(kid, str) or not kid:
        raise error("Het token noemt geen sleutel (kid).")
    matches = [key for key in keys if key.kid == kid]
    if len(matches) != 1:
        # None: unknown key. Several: ambiguous pinning; never guess between them.
        raise error("De sleutel (kid) van het token is niet bekend bij deze uitgever.")
    if not key_fits(matches[0], alg):
        raise error(f"De sleutel (kid) past niet bij algoritme {alg}.")
    return matches[0]


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
