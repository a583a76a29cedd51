"""The strict token rules every token type shares (RFC 7519, RFC 8725), on the JWS kernel."""

from __future__ import annotations

import json
from typing import Any

import pytest
from contract_builders import NOW, an_ec_key, an_ed_key, b64d, hand_sign, public_set
from joserfc.jwk import OctKey, OKPKey

from contract import jwt
from contract.errors import BadSignature, InvalidRequest, TokenExpired, Unauthenticated

KEY = an_ec_key("node-1")
KEYS = public_set(KEY)


def test_sign_and_decode_round_trip_for_both_algorithms() -> None:
    for key, alg in ((KEY, "ES256"), (an_ed_key("ed-1"), "EdDSA")):
        tok = jwt.sign({"iss": "org:a", "exp": NOW}, key, kid=str(key.kid), alg=alg, typ="at+jwt")
        header, body = jwt.decode_strict(tok, public_set(key), typ="at+jwt")
        assert header == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
        assert body == {"iss": "org:a", "exp": NOW}


@pytest.mark.parametrize(
    ("made_as", "expected"),
    [("at+jwt", "consent+jwt"), ("consent+jwt", "at+jwt"), ("client-authentication+jwt", "at+jwt")],
)
def test_token_types_never_cross(made_as: str, expected: str) -> None:
    tok = jwt.sign({"exp": NOW}, KEY, kid="node-1", alg="ES256", typ=made_as)
    with pytest.raises(BadSignature, match="tokentype"):
        jwt.decode_strict(tok, KEYS, typ=expected)


def test_the_caller_chooses_which_error_a_bad_token_raises() -> None:
    tok = jwt.sign({"exp": NOW}, KEY, kid="node-1", alg="ES256", typ="at+jwt")
    with pytest.raises(Unauthenticated):
        jwt.decode_strict(tok, KEYS, typ="consent+jwt", error=Unauthenticated)


def test_tokens_over_16_kib_are_refused_before_parsing() -> None:
    tok = jwt.sign({"exp": NOW, "pad": "x" * 17000}, KEY, kid="node-1", alg="ES256", typ="at+jwt")
    with pytest.raises(BadSignature, match="te groot"):
        jwt.decode_strict(tok, KEYS, typ="at+jwt")


def test_an_ambiguous_kid_is_refused_rather_than_guessed() -> None:
    twin = an_ec_key("node-1")
    tok = jwt.sign({"exp": NOW}, KEY, kid="node-1", alg="ES256", typ="at+jwt")
    with pytest.raises(BadSignature):
        jwt.decode_strict(tok, public_set(KEY, twin), typ="at+jwt")


def test_ed448_is_not_accepted_under_the_eddsa_name() -> None:
    ed448 = OKPKey.generate_key("Ed448", parameters={"kid": "ed448"})
    with pytest.raises(ValueError, match="cannot sign"):
        jwt.sign({"exp": NOW}, ed448, kid="ed448", alg="EdDSA", typ="at+jwt")


@pytest.mark.parametrize(
    ("alg", "key"),
    [
        ("HS256", OctKey.generate_key(256)),
        ("ES256", an_ed_key()),
        ("EdDSA", KEY),
        ("none", KEY),
        ("RS256", KEY),
    ],
)
def test_we_never_sign_outside_the_allow_list(alg: str, key: Any) -> None:
    with pytest.raises(ValueError, match="cannot sign"):
        jwt.sign({"exp": NOW}, key, kid="k", alg=alg, typ="at+jwt")


def test_sign_refuses_nan_in_claims() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        jwt.sign({"exp": float("nan")}, KEY, kid="node-1", alg="ES256", typ="at+jwt")


def test_peek_reads_without_verifying_and_only_that() -> None:
    forged = hand_sign({"alg": "ES256", "kid": "who-knows", "typ": "x"}, {"iss": "org:b"}, an_ec_key())
    assert jwt.peek_header(forged)["kid"] == "who-knows"
    assert jwt.peek_claims(forged) == {"iss": "org:b"}
    with pytest.raises(BadSignature):
        jwt.decode_strict(forged, KEYS, typ="x")
    dupes = hand_sign({"alg": "ES256", "kid": "k", "typ": "x"}, '{"iss": "a", "iss": "b"}', KEY)
    with pytest.raises(BadSignature):
        jwt.peek_claims(dupes)
    assert jwt.peek_claims(dupes, strict=False) == {"iss": "b"}


def test_a_signed_payload_that_is_not_an_object_is_malformed() -> None:
    tok = hand_sign({"alg": "ES256", "kid": "node-1", "typ": "x"}, "[1, 2]", KEY)
    with pytest.raises(InvalidRequest):
        jwt.decode_strict(tok, KEYS, typ="x")
    assert json.loads(b64d(tok.split(".")[1])) == [1, 2]


# --- times -------------------------------------------------------------------------------


def times(**values: Any) -> dict[str, Any]:
    return {"iat": NOW, "nbf": NOW, "exp": NOW + 300} | values


@pytest.mark.parametrize(
    ("claims", "now"),
    [
        (times(), NOW),
        (
            times(iat=NOW - 600, nbf=NOW - 600, exp=NOW - 59),
            NOW,
        ),  # expired 59 s ago: within the skew
        (times(nbf=NOW + 60, iat=NOW + 60, exp=NOW + 120), NOW),  # their clock is 60 s ahead
        ({"exp": NOW + 10}, NOW),
    ],
)
def test_times_within_the_shared_leeway_pass(claims: dict[str, Any], now: int) -> None:
    jwt.check_times(claims, now, required=("exp",))


@pytest.mark.parametrize(
    "claims",
    [
        times(iat=NOW - 600, nbf=NOW - 600, exp=NOW - 60),
        times(nbf=NOW + 61, exp=NOW + 600),
        times(iat=NOW + 61, exp=NOW + 600),
    ],
)
def test_times_beyond_the_leeway_are_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(TokenExpired):
        jwt.check_times(claims, NOW)


@pytest.mark.parametrize(
    "claims",
    [
        times(exp=True),
        times(exp=float("inf")),
        times(exp=float("nan")),
        times(exp=float(NOW + 300)),
        times(exp=2**40 + 1),
        times(iat=-5),
        times(nbf=False),
        times(nbf=NOW + 400),  # valid only after it expires
        {"iat": NOW, "exp": NOW + 300},  # nbf required by default
        {"iat": NOW, "nbf": NOW},
    ],
)
def test_time_claims_that_are_not_plain_integers_are_malformed(claims: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        jwt.check_times(claims, NOW)


def test_a_maximum_lifetime_caps_how_far_ahead_exp_may_lie() -> None:
    jwt.check_times({"exp": NOW + 300 + 60}, NOW, required=(), max_lifetime=300)
    with pytest.raises(InvalidRequest):
        jwt.check_times({"exp": NOW + 300 + 61}, NOW, required=(), max_lifetime=300)


def test_the_leeway_is_sixty_seconds_and_the_algorithms_are_the_contracts() -> None:
    assert jwt.LEEWAY == 60
    assert set(jwt.ALGORITHMS) == {"ES256", "EdDSA", "Ed25519"}
