"""The consent token: issue and verify a ``consent+jwt`` (contract section 4).

A JWS compact JWT signed by the issuing node (``ES256`` or ``EdDSA``/``Ed25519``) with
claims ``iss`` (issuing org), ``sub`` (subject BSN), ``aud`` (holder org ids), ``grantee``
(receiving org id), ``purpose``, ``categories``, ``consent`` (the Consent id at the
issuer), ``iat``, ``nbf``, ``exp`` and ``jti``. It verifies with any standard JOSE
library against the issuer's JWKS. ``verify`` is the one verification used everywhere;
its result, a ``VerifiedConsent``, is what ``consent.decision.check`` takes.

Revocation is not visible in a token: the holder still asks the issuer for the consent's
status at disclosure time (``$consent-status``), and the replay of a ``jti`` is the
caller's atomic insert. Both are I/O and live in the gateway's services.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from joserfc.jwk import Key

from consent import covering, rules
from consent.model import _VERIFIER_SEAL, Grant, VerifiedConsent, valid_bsn
from contract import jws, jwt
from contract.errors import BadSignature, InvalidRequest, WrongAudience

TYP = "consent+jwt"
"""The token's ``typ`` header; client assertions and access tokens never carry it."""

DEFAULT_LIFETIME = 3600


def issue(
    grant: Grant,
    *,
    grantee: str,
    key: Key,
    kid: str,
    alg: str,
    now: int,
    objections: Iterable[Grant],
    lifetime: int = DEFAULT_LIFETIME,
    jti: str | None = None,
) -> str:
    """Sign a consent token for ``grantee`` under ``grant`` (contract section 4).

    ``aud`` lists the grant's holders and ``categories`` its categories, both sorted;
    ``exp`` is ``now + lifetime`` but never past the end of the grant's last day.
    ``objections`` are the subject's grants recorded at the issuer: the token carries
    every category of the grant, so an objection against any of them for ``grantee``
    refuses it. The rule is ``consent.covering.why_not``, the one every place that picks
    a consent uses. Raises ``InvalidRequest`` for a grant that does not cover the grantee
    (not honoured today, an objection, the grantee not a recipient, no holders or
    categories, an issuer that is no party) or a lifetime that is not positive.
    """
    why = covering.why_not(grant, covering.Ask(recipient=grantee), others=objections, on=rules.day_of(now))
    if why is not None:
        raise InvalidRequest(f"Geen token: {why.reason}")
    if type(lifetime) is not int or lifetime <= 0:
        raise InvalidRequest("Geen token: de geldigheidsduur moet positief zijn.")
    exp = now + lifetime
    if grant.end is not None:
        exp = min(exp, rules.day_end(grant.end))
    claims: dict[str, Any] = {
        "iss": grant.issuer,
        "sub": grant.subject.bsn,
        "aud": sorted(grant.holders),
        "grantee": grantee,
        "purpose": grant.purpose,
        "categories": sorted(grant.categories),
        "consent": grant.id,
        "iat": now,
        "nbf": now,
        "exp": exp,
        "jti": jti if jti is not None else uuid.uuid4().hex,
    }
    return jwt.sign(claims, key, kid=kid, alg=alg, typ=TYP)


def verify(
    token: str,
    *,
    keys_for: jws.KeysFor,
    holder: str,
    now: int,
) -> VerifiedConsent:
    """Verify a consent token presented to ``holder`` at ``now`` (contract section 4).

    1. ``jwt.decode`` with typ ``consent+jwt``: the JWS kernel checks shape and header,
       the unverified ``iss`` and the ``kid`` only pick that issuer's pinned key through
       ``keys_for(issuer, kid)``, then the signature;
    2. ``jwt.check_times`` with the shared leeway;
    3. every claim present and well-typed, ``iss`` the issuer whose keys verified;
    4. ``holder`` in ``aud``.
    Raises ``BadSignature`` (unknown issuer, shape, alg, typ, kid, key, signature),
    ``TokenExpired``, ``InvalidRequest`` (signed but malformed claims) or
    ``WrongAudience``.
    """
    # 1. Signature, with only the keys of the issuer the token names. The payload is
    # parsed once; one with duplicate keys or NaN is refused after the signature as
    # malformed (InvalidRequest), not as a bad signature.
    issuer, header, claims = jwt.decode(token, keys_for, typ=TYP)

    # 2. Validity window.
    jwt.check_times(claims, now)

    # 3. Claims.
    if claims.get("iss") != issuer:
        raise BadSignature("De uitgever in het token is niet de ondertekenaar.")
    texts = {name: _text(claims, name) for name in ("sub", "grantee", "purpose", "consent", "jti")}
    if not valid_bsn(texts["sub"]):
        raise InvalidRequest("Claim 'sub' is geen geldig BSN.")
    audience = _text_list(claims, "aud")
    categories = _text_list(claims, "categories")

    # 4. Audience.
    if holder not in audience:
        raise WrongAudience()

    return VerifiedConsent(
        issuer=issuer,
        subject_bsn=texts["sub"],
        audience=tuple(audience),
        grantee=texts["grantee"],
        purpose=texts["purpose"],
        categories=frozenset(categories),
        consent_id=texts["consent"],
        iat=claims["iat"],
        nbf=claims["nbf"],
        exp=claims["exp"],
        jti=texts["jti"],
        kid=header["kid"],
        _seal=_VERIFIER_SEAL,
    )


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"Claim {name!r} ontbreekt of is geen tekst.")
    return value


def _text_list(claims: dict[str, Any], name: str) -> list[str]:
    value = claims.get(name)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item for item in value)
        or len(set(value)) != len(value)
    ):
        raise InvalidRequest(f"Claim {name!r} moet een niet-lege lijst unieke teksten zijn.")
    return value
