"""JSON Web Tokens on the JWS kernel: claims, times and the issuer's keys (RFC 7519, RFC 8725).

Consent tokens (``consent.token``), client assertions and access tokens
(``gateway.http.auth``) and reconciliation answers are compact JWS checked by
``contract.jws``; this module adds what makes them tokens:

* the issuer whose keys verify: given by the caller, or read from the unverified ``iss``
  only to call ``keys_for(issuer, kid)`` (RFC 8725 section 3.8);
* a payload parsed as I-JSON once: a *signed* payload with duplicate keys or non-finite
  numbers is refused after the signature as malformed (``claims_error``), not as a bad
  signature;
* integer time claims with one shared ``LEEWAY``: joserfc would accept ``true``,
  ``1e999`` and ``NaN``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

from joserfc.jwk import Key

from contract import ijson, jws
from contract.errors import BadSignature, GatewayError, InvalidRequest, TokenExpired

ALGORITHMS = jws.ALGORITHMS
"""The only signature algorithms accepted or produced (contract section 4)."""

LEEWAY = 60
"""The one clock-skew allowance, in seconds, for every time claim (contract section 4)."""

MAX_TIME = 2**40
"""Time claims above this (year 36812) are refused as nonsense rather than trusted."""

peek_header = jws.peek_header


def rules(typ: str, error: type[GatewayError] = BadSignature) -> jws.Rules:
    """The kernel's rules for a token of type ``typ``: exact ``typ``, any non-forbidden header."""
    return jws.Rules(typ=typ, error=error)


def decode(
    token: str,
    keys_for: jws.KeysFor,
    *,
    typ: str,
    issuer: str | None = None,
    error: type[GatewayError] = BadSignature,
    claims_error: type[GatewayError] = InvalidRequest,
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Verify a compact JWT with the pinned keys ``keys_for(issuer, kid)`` returns.

    ``issuer`` None: the unverified ``iss`` names it, read only to choose the keys (the
    caller must still hold the claims to it). The kernel checks shape, header, key and
    signature (``contract.jws``). Returns the issuer, the header and the claims. Raises
    ``error`` (``BadSignature``) for a token without ``iss``, an issuer without keys, or
    any kernel refusal; ``claims_error`` for a signed payload that is not a strict JSON
    object. Times, audience and the rest are the caller's: see ``check_times``.
    """
    token_rules = rules(typ, error)
    parsed = jws.parse(token, token_rules)
    payload = parsed.payload()
    claims: dict[str, Any] | None = None
    if issuer is None:
        try:
            claims = _object(ijson.loads(payload), InvalidRequest)
            unverified = claims
        except InvalidRequest:
            unverified = _lenient_object(payload, error)
        named = unverified.get("iss")
        if not isinstance(named, str) or not named:
            raise error("Het token noemt geen uitgever.")
        issuer = named
    keys = keys_for(issuer, parsed.kid)
    if not keys:
        raise error("De uitgever van het token is geen vertrouwde partner.")
    jws.check_signature(parsed, jws.pick_key(parsed, keys, token_rules), token_rules)
    if claims is None:  # not parsed yet, or signed but not strict I-JSON: refuse with the reason
        claims = _object(ijson.loads(payload, error=claims_error), claims_error)
    return issuer, parsed.header, claims


def decode_strict(
    token: str,
    keys: Iterable[Key],
    *,
    typ: str,
    error: type[GatewayError] = BadSignature,
    claims_error: type[GatewayError] = InvalidRequest,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``decode`` against one fixed set of keys (this node's own, for its access tokens).

    The ``iss`` is not read: the caller checks it against the one issuer it expects.
    """
    _, header, claims = decode(
        token, lambda _issuer, _kid: keys, typ=typ, issuer="", error=error, claims_error=claims_error
    )
    return header, claims


def peek_claims(token: str, *, error: type[GatewayError] = BadSignature, strict: bool = True) -> dict[str, Any]:
    """Read a token's claims WITHOUT verifying them, only to choose or report something.

    Nothing read here may be trusted or acted on; ``decode`` must follow. With
    ``strict=False`` duplicate keys and non-finite numbers pass. Raises ``error`` when
    the token is not shaped like a JWS with a JSON-object payload.
    """
    jws.peek_header(token, error=error)  # the shape; the header itself is not checked
    payload = jws.b64decode(token.split(".")[1], error)
    if strict:
        return jws.json_object(payload, error, "inhoud")
    return _lenient_object(payload, error)


def _object(value: Any, error: type[GatewayError]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise error("De inhoud van het token is geen JSON-object.")
    return value


def _lenient_object(payload: bytes, error: type[GatewayError]) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise error("De inhoud van het token is geen JSON.") from exc
    return _object(value, error)


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
    """Return a compact JWT of ``claims`` with the protected header {alg, kid, typ}.

    The claims are serialised without NaN/Infinity so that every I-JSON reader accepts
    them. Raises ``ValueError`` for an algorithm outside ``ALGORITHMS``, a key that does
    not fit it, or an empty ``kid``/``typ``.
    """
    if not typ:
        raise ValueError("cannot sign: kid and typ are required")
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return jws.sign(payload.encode("utf-8"), key, {"alg": alg, "kid": kid, "typ": typ})
