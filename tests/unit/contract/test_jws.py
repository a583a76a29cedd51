"""The one JWS kernel: what every token, signed summary and checkpoint must get past.

The attacks SECURITY.md and RFC 8725 name are each tried with a *valid* signature by the
real key wherever that is possible, so a refusal can only come from the rule under test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from contract_builders import (
    ISSUER,
    an_ec_key,
    an_ed_key,
    b64,
    hand_sign,
    hmac_with_public_key,
    public_set,
)
from joserfc.jwk import KeySet, OctKey

from contract import jws
from contract.errors import BadPartnerSignature, BadSignature

EC = an_ec_key("yc-ec-1")
ED = an_ed_key("yc-ed-1")
KEYS = public_set(EC, ED)
TYP = "consent+jwt"
RULES = jws.Rules(typ=TYP)
BUNDLE_RULES = jws.Rules(typ=None, error=BadPartnerSignature, members=frozenset({"alg", "kid", "typ"}))
CLAIMS = {"iss": ISSUER, "sub": "999990019", "exp": 2_000_000_000}
HEADER = {
    "ES256": {"alg": "ES256", "kid": "yc-ec-1", "typ": TYP},
    "EdDSA": {"alg": "EdDSA", "kid": "yc-ed-1", "typ": TYP},
    "Ed25519": {"alg": "Ed25519", "kid": "yc-ed-1", "typ": TYP},
}
SIGNER = {"ES256": EC, "EdDSA": ED, "Ed25519": ED}


def pinned(keys: KeySet = KEYS, issuer: str = ISSUER) -> jws.KeysFor:
    return lambda iss, _kid: keys if iss == issuer else None


def verify(token: str, rules: jws.Rules = RULES, **kwargs: Any) -> jws.Parsed:
    return jws.verify(token, pinned(), rules, issuer=ISSUER, **kwargs)


def signed(alg: str = "ES256", **header: Any) -> str:
    return hand_sign(HEADER[alg] | header, CLAIMS, SIGNER[alg])


# --- what passes ------------------------------------------------------------------------


@pytest.mark.parametrize("alg", sorted(HEADER))
def test_a_token_signed_by_the_issuers_pinned_key_verifies(alg: str) -> None:
    parsed = verify(signed(alg))
    assert parsed.header == HEADER[alg]
    assert json.loads(parsed.payload()) == CLAIMS


@pytest.mark.parametrize("alg", sorted(HEADER))
def test_what_the_kernel_signs_it_verifies_compact_and_detached(alg: str) -> None:
    payload = b'{"resourceType":"Bundle"}'
    compact = jws.sign(payload, SIGNER[alg], HEADER[alg])
    assert verify(compact).payload() == payload
    detached = jws.sign(payload, SIGNER[alg], HEADER[alg], detached=True)
    assert detached.split(".")[1] == ""
    assert verify(detached, detached_payload=payload).header == HEADER[alg]


def test_keys_are_asked_for_once_by_issuer_and_kid() -> None:
    asked: list[tuple[str, str]] = []

    def keys_for(issuer: str, kid: str) -> KeySet:
        asked.append((issuer, kid))
        return KEYS

    jws.verify(signed(), keys_for, RULES, issuer=ISSUER)
    assert asked == [(ISSUER, "yc-ec-1")]


def test_a_header_that_fails_is_refused_before_any_key_is_looked_up() -> None:
    # a forged header must not make a node re-fetch a partner's JWKS
    def keys_for(_issuer: str, _kid: str) -> KeySet:
        raise AssertionError("keys looked up for a header the kernel refuses")

    with pytest.raises(BadSignature):
        jws.verify(signed(typ="at+jwt"), keys_for, RULES, issuer=ISSUER)


# --- the attacks SECURITY.md and RFC 8725 list --------------------------------------------


def test_alg_none_is_refused_with_or_without_a_signature() -> None:
    header = b64(json.dumps({"alg": "none", "kid": "yc-ec-1", "typ": TYP}))
    body = b64(json.dumps(CLAIMS))
    for token in (f"{header}.{body}.", f"{header}.{body}.{b64(b'x' * 64)}"):
        with pytest.raises(BadSignature):
            verify(token)


def test_hs256_keyed_with_the_public_key_is_refused() -> None:
    with pytest.raises(BadSignature, match="Algoritme"):
        verify(hmac_with_public_key(HEADER["ES256"] | {"alg": "HS256"}, CLAIMS, EC))


def test_an_ed25519_signature_under_an_es256_header_is_refused() -> None:
    # alg confusion across curves: the kid names the Ed25519 key, the header claims ES256
    with pytest.raises(BadSignature, match="past niet"):
        verify(hand_sign(HEADER["EdDSA"] | {"alg": "ES256"}, CLAIMS, ED))


def test_an_embedded_jwk_is_refused_even_when_it_signed_the_token() -> None:
    intruder = an_ec_key("yc-ec-1")
    token = hand_sign(HEADER["ES256"] | {"jwk": intruder.as_dict(private=False)}, CLAIMS, intruder)
    with pytest.raises(BadSignature, match="jwk"):
        verify(token)


@pytest.mark.parametrize("name", ["jku", "x5u", "x5c"])
def test_headers_that_fetch_keys_are_refused(name: str) -> None:
    value: Any = ["MIIB"] if name == "x5c" else "https://evil.example/keys"
    with pytest.raises(BadSignature, match=name):
        verify(signed(**{name: value}))


def test_b64_false_without_crit_is_refused() -> None:
    # RFC 7797 section 6: b64 must be listed in crit; without it a reader may ignore it
    # and verify a different payload than the signer meant
    with pytest.raises(BadSignature, match="b64"):
        verify(signed(b64=False))


def test_b64_false_with_crit_is_refused_too() -> None:
    # we implement no extension, so RFC 7515 section 4.1.11 says refuse any crit
    with pytest.raises(BadSignature, match="crit"):
        verify(signed(b64=False, crit=["b64"]))


@pytest.mark.parametrize("crit", [["exp"], ["urn:example:unknown"], [], "b64"])
def test_any_crit_header_is_refused(crit: Any) -> None:
    with pytest.raises(BadSignature, match="crit"):
        verify(signed(crit=crit))


@pytest.mark.parametrize("member", ["alg", "kid", "typ"])
def test_a_duplicate_header_member_is_refused(member: str) -> None:
    header = json.dumps(HEADER["ES256"])[:-1] + f', "{member}": "none"}}'
    with pytest.raises(BadSignature, match="Dubbele sleutel"):
        verify(hand_sign(header, CLAIMS, EC))


@pytest.mark.parametrize(
    "header",
    [
        '{"alg": "ES256", "kid": "\\ud800", "typ": "consent+jwt"}',
        '{"alg": "ES256", "kid": "yc-ec-1", "typ": "consent+jwt", "\\udc00": "x"}',
    ],
)
def test_a_lone_surrogate_in_the_header_is_refused(header: str) -> None:
    with pytest.raises(BadSignature, match="surrogaat"):
        verify(hand_sign(header, CLAIMS, EC))


@pytest.mark.parametrize(
    ("made_as", "expected"),
    [
        ("at+jwt", TYP),
        (TYP, "at+jwt"),
        ("audit-checkpoint+jwt", TYP),
        ("JWT", TYP),
    ],
)
def test_one_kind_of_jws_is_never_taken_for_another(made_as: str, expected: str) -> None:
    token = signed(typ=made_as)
    with pytest.raises(BadSignature, match="tokentype"):
        verify(token, jws.Rules(typ=expected))


def test_a_bundle_signature_takes_typ_jose_or_none_and_nothing_else() -> None:
    payload = b"{}"
    for header in ({"alg": "ES256", "kid": "yc-ec-1"}, {"alg": "ES256", "kid": "yc-ec-1", "typ": "JOSE"}):
        verify(hand_sign(header, payload, EC, detached=True), BUNDLE_RULES, detached_payload=payload)
    with pytest.raises(BadPartnerSignature):
        verify(
            hand_sign({"alg": "ES256", "kid": "yc-ec-1", "typ": TYP}, payload, EC, detached=True),
            BUNDLE_RULES,
            detached_payload=payload,
        )
    with pytest.raises(BadPartnerSignature, match="cty"):
        verify(
            hand_sign({"alg": "ES256", "kid": "yc-ec-1", "cty": "json"}, payload, EC, detached=True),
            BUNDLE_RULES,
            detached_payload=payload,
        )


# --- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [None, KeySet([]), public_set(an_ec_key("other"))])
def test_an_issuer_without_that_key_is_refused(keys: KeySet | None) -> None:
    with pytest.raises(BadSignature):
        jws.verify(signed(), lambda _iss, _kid: keys, RULES, issuer=ISSUER)


def test_a_token_forged_with_another_key_under_the_same_kid_is_refused() -> None:
    with pytest.raises(BadSignature, match="klopt niet"):
        verify(hand_sign(HEADER["ES256"], CLAIMS, an_ec_key("yc-ec-1")))


def test_two_pinned_keys_with_one_kid_are_ambiguous_and_refused() -> None:
    twins = public_set(EC, an_ec_key("yc-ec-1"))
    with pytest.raises(BadSignature):
        jws.verify(signed(), pinned(twins), RULES, issuer=ISSUER)


@pytest.mark.parametrize("params", [{"use": "enc"}, {"alg": "ES384"}, {"key_ops": ["sign"]}])
def test_a_key_published_for_something_else_does_not_verify(params: dict[str, Any]) -> None:
    keys = KeySet.import_key_set({"keys": [EC.as_dict(private=False) | params]})
    with pytest.raises(BadSignature, match="gepubliceerd"):
        jws.verify(signed(), pinned(keys), RULES, issuer=ISSUER)


def test_rules_narrow_the_algorithms_and_never_widen_them() -> None:
    es_only = jws.Rules(typ=TYP, algorithms=("ES256",))
    with pytest.raises(BadSignature, match="Algoritme"):
        verify(signed("EdDSA"), es_only)
    with pytest.raises(ValueError):
        jws.Rules(typ=TYP, algorithms=("ES256", "HS256"))


# --- base64url and shape ----------------------------------------------------------------


def _with_spare_bits(part: int) -> str:
    for pad in ("", "p", "pp", "ppp"):
        token = hand_sign(HEADER["ES256"] | {"x": pad}, CLAIMS | {"x": pad}, EC)
        if len(token.split(".")[part]) % 4 in (2, 3):
            return token
    raise AssertionError("unreachable: one of four lengths leaves spare bits")


@pytest.mark.parametrize("part", [0, 1, 2])
def test_non_canonical_base64url_is_refused(part: int) -> None:
    # the same bytes with the unused low bits of the last character set (RFC 4648 3.5)
    parts = _with_spare_bits(part).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    parts[part] = parts[part][:-1] + alphabet[alphabet.index(parts[part][-1]) + 1]
    with pytest.raises(BadSignature, match="canonieke"):
        verify(".".join(parts))


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t + "=",  # padding
        lambda t: t.replace("-", "+").replace("_", "/") if ("-" in t or "_" in t) else t + "+",
        lambda t: t + ".x",  # four parts
        lambda t: t.rsplit(".", 1)[0],  # two parts
        lambda t: " " + t,
        lambda t: t + "é",
        lambda t: t + "A" * 17_000,  # over the size cap
    ],
)
def test_anything_but_three_plain_base64url_parts_is_refused(damage: Any) -> None:
    with pytest.raises(BadSignature):
        verify(damage(signed()))


def test_a_header_over_512_bytes_is_refused() -> None:
    with pytest.raises(BadSignature, match="te groot"):
        verify(signed(x="y" * 400))


@pytest.mark.parametrize(
    "header",
    [
        '["ES256"]',
        '"ES256"',
        '{"alg": "ES256", "kid": "yc-ec-1", "typ": "consent+jwt", "n": NaN}',
    ],
)
def test_a_header_that_is_not_an_i_json_object_is_refused(header: str) -> None:
    with pytest.raises(BadSignature):
        verify(hand_sign(header, CLAIMS, EC))


@pytest.mark.parametrize("extra", [{"kid": 7}, {"typ": ["consent+jwt"]}, {"cty": 1}, {"kid": ""}])
def test_registered_headers_must_be_non_empty_text(extra: dict[str, Any]) -> None:
    with pytest.raises(BadSignature):
        verify(signed(**extra))


# --- detached payloads (RFC 7515 appendix F) ----------------------------------------------


def test_a_detached_signature_checks_the_payload_it_is_given() -> None:
    payload = b'{"a":1}'
    token = hand_sign({"alg": "ES256", "kid": "yc-ec-1"}, payload, EC, detached=True)
    assert verify(token, BUNDLE_RULES, detached_payload=payload).kid == "yc-ec-1"
    with pytest.raises(BadPartnerSignature, match="klopt niet"):
        verify(token, BUNDLE_RULES, detached_payload=b'{"a":2}')


def test_detached_and_attached_forms_are_never_confused() -> None:
    payload = b'{"a":1}'
    attached = hand_sign({"alg": "ES256", "kid": "yc-ec-1"}, payload, EC)
    with pytest.raises(BadPartnerSignature, match="losgekoppelde"):
        verify(attached, BUNDLE_RULES, detached_payload=payload)
    detached = hand_sign(HEADER["ES256"], payload, EC, detached=True)
    with pytest.raises(BadSignature):
        verify(detached)


def test_a_large_detached_payload_signs_and_verifies() -> None:
    # joserfc refuses payloads over 128,000 bytes by default, detached ones too
    payload = b'{"a":"' + b"x" * 300_000 + b'"}'
    token = jws.sign(payload, EC, {"alg": "ES256", "kid": "yc-ec-1"}, detached=True)
    assert verify(token, BUNDLE_RULES, detached_payload=payload).alg == "ES256"


# --- signing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ({"alg": "HS256", "kid": "k"}, OctKey.generate_key(256)),
        ({"alg": "none", "kid": "k"}, EC),
        ({"alg": "ES256", "kid": "k"}, ED),
        ({"alg": "EdDSA", "kid": "k"}, EC),
        ({"alg": "ES256", "kid": ""}, EC),
        ({"alg": "ES256", "kid": "k", "jwk": {"kty": "EC"}}, EC),
        ({"alg": "ES256", "kid": "k", "b64": False}, EC),
        ({"alg": "ES256", "kid": "k", "crit": ["b64"]}, EC),
    ],
)
def test_the_kernel_never_signs_what_it_would_refuse(header: dict[str, Any], key: Any) -> None:
    with pytest.raises(ValueError, match="cannot sign"):
        jws.sign(b"{}", key, header)


def test_peek_header_reads_without_checking_only_to_report() -> None:
    forged = hand_sign({"alg": "none", "kid": "who-knows"}, CLAIMS, an_ec_key())
    assert jws.peek_header(forged) == {"alg": "none", "kid": "who-knows"}
    with pytest.raises(BadSignature):
        jws.peek_header("not a token")
