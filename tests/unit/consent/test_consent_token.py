"""The consent token: issued here, verifiable anywhere, refused when anything is off."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from consent_builders import (
    MENTAL_HEALTH,
    MOTHER,
    NOW,
    SAFE_HOME,
    YOUTH_CARE,
    a_grant,
    an_ec_key,
    an_ed_key,
    b64,
    b64d,
    claims,
    hand_sign,
    public_set,
)
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.jwk import ECKey, KeySet, OKPKey

from consent import token
from consent.model import VerifiedConsent
from contract.errors import BadSignature, GatewayError, InvalidRequest, TokenExpired, WrongAudience

ISSUER_KEYS: dict[str, ECKey | OKPKey] = {
    "ES256": an_ec_key("yc-ec-1"),
    "EdDSA": an_ed_key("yc-ed-1"),
}


@pytest.fixture(params=["ES256", "EdDSA"])
def alg(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def issuer_key(alg: str) -> ECKey | OKPKey:
    return ISSUER_KEYS[alg]


def pinned(*keys: ECKey | OKPKey, issuer: str = YOUTH_CARE) -> Callable[[str, str], KeySet | None]:
    """The holder's partner registry: the issuer's published public keys, nobody else's."""
    keyset = public_set(*keys)
    return lambda iss, _kid: keyset if iss == issuer else None


def verify(tok: str, key: ECKey | OKPKey, *, now: int = NOW, holder: str = MENTAL_HEALTH) -> VerifiedConsent:
    return token.verify(tok, keys_for=pinned(key), holder=holder, now=now)


def issue(key: ECKey | OKPKey, alg: str, **kwargs: Any) -> str:
    grant = kwargs.pop("grant", a_grant())
    return token.issue(grant, grantee=YOUTH_CARE, objections=(), key=key, kid=str(key.kid), alg=alg, now=NOW, **kwargs)


def refused(error: type[GatewayError], tok: str, key: ECKey | OKPKey, **kwargs: Any) -> GatewayError:
    with pytest.raises(error) as caught:
        verify(tok, key, **kwargs)
    assert type(caught.value) is error, caught.value
    return caught.value


# --- issue and verify ------------------------------------------------------------------


def test_a_token_issued_for_youth_care_verifies_at_the_mental_health_holder(
    alg: str, issuer_key: ECKey | OKPKey
) -> None:
    tok = issue(issuer_key, alg, jti="jti-1")
    verified = verify(tok, issuer_key)
    assert isinstance(verified, VerifiedConsent)
    assert (verified.issuer, verified.subject_bsn, verified.grantee) == (
        YOUTH_CARE,
        MOTHER,
        YOUTH_CARE,
    )
    assert verified.audience == (MENTAL_HEALTH,)
    assert verified.purpose == "joint-safety-planning"
    assert verified.categories == {"signals", "safety-plan", "care-team"}
    assert (verified.consent_id, verified.jti, verified.kid) == (
        "consent-1",
        "jti-1",
        issuer_key.kid,
    )
    assert (verified.iat, verified.nbf, verified.exp) == (NOW, NOW, NOW + 3600)
    assert verified.from_token


def test_claims_are_written_as_the_contract_says(alg: str, issuer_key: ECKey | OKPKey) -> None:
    grant = a_grant(holders=frozenset({MENTAL_HEALTH, SAFE_HOME}))
    tok = issue(issuer_key, alg, grant=grant)
    header = json.loads(b64d(tok.split(".")[0]))
    body = json.loads(b64d(tok.split(".")[1]))
    assert header == {"alg": alg, "kid": issuer_key.kid, "typ": "consent+jwt"}
    assert body["aud"] == sorted([MENTAL_HEALTH, SAFE_HOME])
    assert body["categories"] == ["care-team", "safety-plan", "signals"]
    assert set(body) == {
        "iss",
        "sub",
        "aud",
        "grantee",
        "purpose",
        "categories",
        "consent",
        "iat",
        "nbf",
        "exp",
        "jti",
    }
    assert len(body["jti"]) == 32


def test_a_token_never_outlives_its_consent() -> None:
    key = ISSUER_KEYS["ES256"]
    grant = a_grant(end=datetime.date(2025, 6, 15))  # NOW is 10:00 UTC on that day
    body = json.loads(b64d(issue(key, "ES256", grant=grant, lifetime=86400).split(".")[1]))
    midnight_nl = int(datetime.datetime(2025, 6, 15, 22, 0, tzinfo=datetime.UTC).timestamp())
    assert body["exp"] == midnight_nl


@pytest.mark.parametrize(
    ("overrides", "grantee"),
    [
        ({"status": "inactive"}, YOUTH_CARE),
        ({"decision": "deny"}, YOUTH_CARE),
        ({"end": datetime.date(2025, 6, 14)}, YOUTH_CARE),
        ({}, SAFE_HOME),  # not a recipient of this consent
    ],
)
def test_no_token_for_a_revoked_objected_expired_or_foreign_grant(overrides: dict[str, Any], grantee: str) -> None:
    key = ISSUER_KEYS["ES256"]
    with pytest.raises(InvalidRequest):
        token.issue(a_grant(**overrides), grantee=grantee, objections=(), key=key, kid="yc-ec-1", alg="ES256", now=NOW)


# --- verifiable with an independent JOSE implementation --------------------------------


def verify_with_cryptography(tok: str, jwk: dict[str, Any]) -> dict[str, Any]:
    """Verify as a partner without joserfc would: RFC 7515 by hand on ``cryptography``."""
    head, body, sig = tok.split(".")
    signing_input = f"{head}.{body}".encode("ascii")
    signature = b64d(sig)
    if jwk["kty"] == "EC":
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64d(jwk["x"]), "big"),
            int.from_bytes(b64d(jwk["y"]), "big"),
            ec.SECP256R1(),
        )
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        numbers.public_key().verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    else:
        Ed25519PublicKey.from_public_bytes(b64d(jwk["x"])).verify(signature, signing_input)
    result: dict[str, Any] = json.loads(b64d(body))
    return result


def test_a_partner_verifies_our_token_with_plain_cryptography(alg: str, issuer_key: ECKey | OKPKey) -> None:
    tok = issue(issuer_key, alg)
    jwk = issuer_key.as_dict(private=False)
    assert verify_with_cryptography(tok, jwk)["sub"] == MOTHER
    tampered = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidSignature):
        verify_with_cryptography(tampered, jwk)


with warnings.catch_warnings():
    # authlib.jose is deprecated in favour of joserfc, and authlib.deprecate installs an
    # "always" filter for its warning when imported: import it first, then silence.
    try:
        import authlib.deprecate  # noqa: F401

        warnings.simplefilter("ignore", DeprecationWarning)
        import authlib.jose as jose_legacy
    except ImportError:  # pragma: no cover - authlib is a runtime dependency
        jose_legacy = None


@pytest.mark.skipif(jose_legacy is None, reason="authlib.jose not importable")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_partner_verifies_our_token_with_authlib(alg: str, issuer_key: ECKey | OKPKey) -> None:
    tok = issue(issuer_key, alg)
    jws = jose_legacy.JsonWebSignature(algorithms=["ES256", "EdDSA"])
    public = jose_legacy.JsonWebKey.import_key(issuer_key.as_dict(private=False))
    data = jws.deserialize_compact(tok, public)
    assert data["header"]["typ"] == "consent+jwt"
    assert json.loads(data["payload"])["grantee"] == YOUTH_CARE


def test_the_rfc9864_name_ed25519_is_accepted_as_well() -> None:
    key = ISSUER_KEYS["EdDSA"]
    tok = hand_sign({"alg": "Ed25519", "kid": key.kid, "typ": "consent+jwt"}, claims(), key)
    assert verify(tok, key).subject_bsn == MOTHER


# --- refusals ---------------------------------------------------------------------------


def test_a_forgery_signed_by_another_key_with_the_same_kid_is_refused(alg: str, issuer_key: ECKey | OKPKey) -> None:
    impostor = (an_ec_key if alg == "ES256" else an_ed_key)(str(issuer_key.kid))
    refused(BadSignature, issue(impostor, alg), issuer_key)


def test_an_altered_payload_is_refused(alg: str, issuer_key: ECKey | OKPKey) -> None:
    head, _, sig = issue(issuer_key, alg).split(".")
    wider = b64(json.dumps(claims(categories=["care-team", "parenting", "safety-plan", "signals"])))
    refused(BadSignature, f"{head}.{wider}.{sig}", issuer_key)


def test_expiry_allows_sixty_seconds_of_clock_skew_and_no_more(alg: str, issuer_key: ECKey | OKPKey) -> None:
    tok = issue(issuer_key, alg, lifetime=600)
    assert verify(tok, issuer_key, now=NOW + 600 + 59)
    refused(TokenExpired, tok, issuer_key, now=NOW + 600 + 60)
    refused(TokenExpired, tok, issuer_key, now=NOW + 600 + 3600)


def test_a_token_not_yet_valid_is_refused_beyond_the_skew(alg: str, issuer_key: ECKey | OKPKey) -> None:
    tok = issue(issuer_key, alg)
    assert verify(tok, issuer_key, now=NOW - 60)
    refused(TokenExpired, tok, issuer_key, now=NOW - 61)


def test_alg_none_is_refused_before_any_crypto() -> None:
    key = ISSUER_KEYS["ES256"]
    header = {"alg": "none", "kid": key.kid, "typ": "consent+jwt"}
    unsigned = f"{b64(json.dumps(header))}.{b64(json.dumps(claims()))}"
    refused(BadSignature, unsigned + ".", key)
    refused(BadSignature, unsigned + ".c2ln", key)


@pytest.mark.parametrize("public_form", ["pem", "jwk"])
def test_hs256_keyed_with_the_issuers_public_key_is_refused(public_form: str) -> None:
    key = ISSUER_KEYS["ES256"]
    public = key.public_key
    secret = (
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        if public_form == "pem"
        else json.dumps(key.as_dict(private=False)).encode()
    )
    header = {"alg": "HS256", "kid": key.kid, "typ": "consent+jwt"}
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(claims()))}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    error = refused(BadSignature, f"{signing_input}.{b64(mac)}", key)
    assert "HS256" in error.detail


def test_an_unknown_kid_is_refused_without_trying_other_keys(alg: str, issuer_key: ECKey | OKPKey) -> None:
    tok = hand_sign({"alg": alg, "kid": "not-published", "typ": "consent+jwt"}, claims(), issuer_key)
    refused(BadSignature, tok, issuer_key)
    no_kid = hand_sign({"alg": alg, "typ": "consent+jwt"}, claims(), issuer_key)
    refused(BadSignature, no_kid, issuer_key)


def test_a_kid_naming_a_key_of_the_wrong_type_is_refused() -> None:
    ed = ISSUER_KEYS["EdDSA"]
    ec_key = an_ec_key(str(ed.kid))
    tok = hand_sign({"alg": "ES256", "kid": ed.kid, "typ": "consent+jwt"}, claims(), ec_key)
    refused(BadSignature, tok, ed)


@pytest.mark.parametrize(
    "extra",
    [
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {"x5c": ["MIIB"]},
        {"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}},
        {"crit": ["exp"]},
        {"b64": False},
    ],
)
def test_headers_that_bring_their_own_keys_are_refused(extra: dict[str, Any]) -> None:
    key = ISSUER_KEYS["ES256"]
    tok = hand_sign({"alg": "ES256", "kid": key.kid, "typ": "consent+jwt", **extra}, claims(), key)
    error = refused(BadSignature, tok, key)
    assert next(iter(extra)) in error.detail


@pytest.mark.parametrize("typ", ["at+jwt", "JWT", "client-authentication+jwt", "CONSENT+JWT", None])
def test_other_token_types_are_never_accepted_as_consent(typ: str | None) -> None:
    key = ISSUER_KEYS["ES256"]
    header = {"alg": "ES256", "kid": key.kid} | ({"typ": typ} if typ else {})
    refused(BadSignature, hand_sign(header, claims(), key), key)


def test_duplicate_keys_in_the_signed_payload_are_refused() -> None:
    key = ISSUER_KEYS["ES256"]
    header = {"alg": "ES256", "kid": key.kid, "typ": "consent+jwt"}
    payload = json.dumps(claims())[:-1] + f', "aud": ["{SAFE_HOME}"]}}'
    refused(InvalidRequest, hand_sign(header, payload, key), key, holder=SAFE_HOME)


def test_duplicate_keys_in_the_header_are_refused() -> None:
    key = ISSUER_KEYS["ES256"]
    header = f'{{"alg": "ES256", "kid": "{key.kid}", "typ": "consent+jwt", "alg": "none"}}'
    refused(BadSignature, hand_sign(header, claims(), key), key)


@pytest.mark.parametrize(
    "exp_text",
    [
        "true",
        "1e999",
        "NaN",
        "Infinity",
        f"{NOW + 3600}.0",
        f"{NOW + 3600}.5",
        str(2**41),
        '"1750000000"',
        "null",
        "-1",
    ],
)
def test_time_claims_must_be_plain_integers(exp_text: str) -> None:
    key = ISSUER_KEYS["ES256"]
    header = {"alg": "ES256", "kid": key.kid, "typ": "consent+jwt"}
    payload = json.dumps(claims(exp="EXP")).replace('"EXP"', exp_text)
    refused(InvalidRequest, hand_sign(header, payload, key), key)


@pytest.mark.parametrize(
    "claim",
    ["sub", "aud", "grantee", "purpose", "categories", "consent", "iat", "nbf", "exp", "jti"],
)
def test_every_claim_is_required(claim: str) -> None:
    key = ISSUER_KEYS["ES256"]
    body = claims()
    del body[claim]
    refused(
        InvalidRequest,
        hand_sign({"alg": "ES256", "kid": key.kid, "typ": "consent+jwt"}, body, key),
        key,
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"sub": "123456789"},  # fails the eleven-test
        {"sub": "１１１２２２３３３"},
        {"aud": MENTAL_HEALTH},  # a bare string, not the contract's list
        {"aud": []},
        {"categories": []},
        {"categories": ["signals", "signals"]},
        {"categories": "signals"},
        {"categories": ["signals", 7]},
        {"grantee": ""},
        {"purpose": ["joint-safety-planning"]},
        {"jti": 42},
        {"consent": None},
    ],
)
def test_ill_typed_claims_are_refused(overrides: dict[str, Any]) -> None:
    key = ISSUER_KEYS["ES256"]
    tok = hand_sign({"alg": "ES256", "kid": key.kid, "typ": "consent+jwt"}, claims(**overrides), key)
    refused(InvalidRequest, tok, key)


def test_a_token_for_other_holders_is_refused_with_wrong_audience(alg: str, issuer_key: ECKey | OKPKey) -> None:
    refused(WrongAudience, issue(issuer_key, alg), issuer_key, holder=SAFE_HOME)


def test_a_token_from_an_unknown_issuer_is_refused() -> None:
    key = ISSUER_KEYS["ES256"]
    tok = hand_sign({"alg": "ES256", "kid": key.kid, "typ": "consent+jwt"}, claims(iss="org:unknown"), key)
    refused(BadSignature, tok, key)
    no_iss = claims()
    del no_iss["iss"]
    refused(
        BadSignature,
        hand_sign({"alg": "ES256", "kid": key.kid, "typ": "consent+jwt"}, no_iss, key),
        key,
    )


def test_a_partner_cannot_use_its_own_keys_to_speak_for_another_issuer() -> None:
    partner_key = an_ec_key("partner-1")
    issuer_key = ISSUER_KEYS["ES256"]
    # the partner signs with its own key but claims to be youth care
    tok = hand_sign({"alg": "ES256", "kid": "partner-1", "typ": "consent+jwt"}, claims(), partner_key)
    registry = {YOUTH_CARE: public_set(issuer_key), "org:partner": public_set(partner_key)}
    with pytest.raises(BadSignature):
        token.verify(tok, keys_for=lambda iss, _kid: registry.get(iss), holder=MENTAL_HEALTH, now=NOW)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "a..c",
        "é.b.c",
        "a.b.c" + "A" * 20000,
        "eyJhbGciOiJFUzI1NiJ9.e30.!!!",
    ],
)
def test_malformed_tokens_are_refused_as_bad_signature(garbage: str) -> None:
    refused(BadSignature, garbage, ISSUER_KEYS["ES256"])


def test_a_verified_consent_cannot_be_made_by_hand() -> None:
    with pytest.raises(TypeError):
        VerifiedConsent(
            issuer=YOUTH_CARE,
            subject_bsn=MOTHER,
            audience=(MENTAL_HEALTH,),
            grantee=YOUTH_CARE,
            purpose="joint-safety-planning",
            categories=frozenset({"signals"}),
            consent_id="c",
            iat=NOW,
            nbf=NOW,
            exp=NOW + 60,
            jti="j",
            kid="k",
        )
