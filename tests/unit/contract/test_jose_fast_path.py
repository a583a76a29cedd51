"""The fast verification path refuses exactly what joserfc's compact deserialiser refused.

``contract.jws`` checks signatures with ``cryptography`` directly and parses a token
once (benchmarks/micro.py ``crypto_floor``). These tests hold it to the path it
replaced: our header rules followed by ``joserfc.jws.deserialize_compact``, kept here
as ``reference_decode``. Every bad token the brief names is refused by both, with the
same error class, and random corruptions of good tokens get the same verdict from both.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey

from consent import token
from consent.model import valid_bsn
from contract import ijson, jwt
from contract import jws as kernel
from contract.errors import BadSignature, GatewayError, InvalidRequest, TokenExpired
from tests.unit.consent.consent_builders import (
    MENTAL_HEALTH,
    MOTHER,
    NOW,
    SAFE_HOME,
    YOUTH_CARE,
    an_ec_key,
    an_ed_key,
    b64,
    b64d,
    claims,
    hand_sign,
    public_set,
)

EC = an_ec_key("yc-ec-1")
ED = an_ed_key("yc-ed-1")
KEYS = public_set(EC, ED)
TYP = token.TYP
HEADER = {
    "ES256": {"alg": "ES256", "kid": "yc-ec-1", "typ": TYP},
    "EdDSA": {"alg": "EdDSA", "kid": "yc-ed-1", "typ": TYP},
    "Ed25519": {"alg": "Ed25519", "kid": "yc-ed-1", "typ": TYP},
}
SIGNER = {"ES256": EC, "EdDSA": ED, "Ed25519": ED}


def reference_decode(tok: str, keys: KeySet, typ: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``jwt.decode_strict`` as it was: our header rules, then joserfc verifies."""
    header = jwt.peek_header(tok)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in kernel.ALGORITHMS:
        raise BadSignature("alg")
    if kernel.FORBIDDEN_HEADERS & header.keys() or header.get("typ") != typ:
        raise BadSignature("header")
    kid = header.get("kid")
    matches = [k for k in keys if k.kid == kid] if isinstance(kid, str) and kid else []
    if len(matches) != 1 or not kernel.key_fits(matches[0], alg):
        raise BadSignature("kid")
    try:
        signed = jws.deserialize_compact(tok, matches[0], algorithms=[alg], registry=kernel._registry(alg))
    except (JoseError, ValueError, TypeError) as exc:
        raise BadSignature("signature") from exc
    body = ijson.loads(signed.payload)
    if not isinstance(body, dict):
        raise InvalidRequest("not an object")
    return header, body


def reference_from_issuer(
    tok: str, keys_for: Callable[..., KeySet | None]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Steps 1 and 2 of ``token.verify`` as they were: a lenient peek at iss, then decode."""
    issuer = jwt.peek_claims(tok, strict=False).get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise BadSignature("iss")
    keys = keys_for(issuer)
    if not keys:
        raise BadSignature("issuer")
    header, body = reference_decode(tok, keys, TYP)
    return issuer, header, body


def verdict(decode: Callable[[], Any]) -> Any:
    """The result, or the class of the refusal: what must agree between the two paths."""
    try:
        return decode()
    except GatewayError as exc:
        return type(exc)


def both(tok: str, keys: KeySet = KEYS, typ: str = TYP) -> tuple[Any, Any]:
    return (verdict(lambda: jwt.decode_strict(tok, keys, typ=typ)), verdict(lambda: reference_decode(tok, keys, typ)))


def registry(issuer: str = YOUTH_CARE) -> Callable[..., KeySet | None]:
    return lambda iss, _kid="": KEYS if iss == issuer else None


def both_from_issuer(tok: str) -> tuple[Any, Any]:
    return (
        verdict(lambda: jwt.decode(tok, registry(), typ=TYP)),
        verdict(lambda: reference_from_issuer(tok, registry())),
    )


def signed(
    alg: str = "ES256", header: dict[str, Any] | str | None = None, body: dict[str, Any] | str | None = None
) -> str:
    return hand_sign(HEADER[alg] if header is None else header, claims() if body is None else body, SIGNER[alg])


def hs256_with_the_public_key() -> str:
    secret = json.dumps(EC.as_dict(private=False)).encode()
    signing_input = f"{b64(json.dumps(HEADER['ES256'] | {'alg': 'HS256'}))}.{b64(json.dumps(claims()))}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def signed_bytes(payload: bytes) -> str:
    """An ES256 token over any payload bytes (``hand_sign`` takes text only)."""
    signing_input = f"{b64(json.dumps(HEADER['ES256']))}.{b64(payload)}"
    private = EC.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def zero_padded_s(tok: str) -> str:
    """R || 00 00 00 || S: the same integers, so only a length check tells it apart."""
    head, body, sig = tok.split(".")
    raw = b64d(sig)
    return f"{head}.{body}.{b64(raw[:32] + bytes(3) + raw[32:])}"


def with_spare_bits(make: Callable[[str], str], part: int) -> str:
    """A token from ``make(padding)`` whose ``part`` has a length of 4n+2 or 4n+3."""
    for pad in ("", "p", "pp", "ppp"):
        tok = make(pad)
        if len(tok.split(".")[part]) % 4 in (2, 3):
            return tok
    raise AssertionError("unreachable: one of four lengths leaves spare bits")


def altered(tok: str, part: int, value: dict[str, Any]) -> str:
    parts = tok.split(".")
    parts[part] = b64(json.dumps(value))
    return ".".join(parts)


def non_canonical(tok: str, part: int) -> str:
    """The same bytes with the unused low bits of the last character set: not canonical."""
    parts = tok.split(".")
    segment = parts[part]
    assert len(segment) % 4 in (2, 3), "a segment of 4n characters has no spare bits"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    parts[part] = segment[:-1] + alphabet[alphabet.index(segment[-1]) + 1]
    assert b64d(parts[part]) == b64d(segment)
    return ".".join(parts)


def odd_key(**params: Any) -> KeySet:
    return KeySet.import_key_set({"keys": [EC.as_dict(private=False) | params]})


BAD_TOKENS: dict[str, tuple[Callable[[], str], type[GatewayError]]] = {
    "forged by another key with the same kid": (
        lambda: hand_sign(HEADER["ES256"], claims(), an_ec_key("yc-ec-1")),
        BadSignature,
    ),
    "forged EdDSA": (lambda: hand_sign(HEADER["EdDSA"], claims(), an_ed_key("yc-ed-1")), BadSignature),
    "altered payload": (lambda: altered(signed(), 1, claims(aud=[SAFE_HOME])), BadSignature),
    "altered header": (lambda: altered(signed(), 0, HEADER["ES256"] | {"cty": "JWT"}), BadSignature),
    "alg none, empty signature": (lambda: signed().rsplit(".", 1)[0] + ".", BadSignature),
    "alg none": (lambda: altered(signed(), 0, HEADER["ES256"] | {"alg": "none"}), BadSignature),
    "HS256 keyed with the public JWK": (hs256_with_the_public_key, BadSignature),
    "ES256 header, Ed25519 signature": (
        lambda: hand_sign(HEADER["EdDSA"] | {"alg": "ES256"}, claims(), ED),
        BadSignature,
    ),
    "unknown kid": (lambda: signed(header=HEADER["ES256"] | {"kid": "not-published"}), BadSignature),
    "no kid": (lambda: signed(header={"alg": "ES256", "typ": TYP}), BadSignature),
    "jku": (lambda: signed(header=HEADER["ES256"] | {"jku": "https://evil.example/jwks"}), BadSignature),
    "embedded jwk": (lambda: signed(header=HEADER["ES256"] | {"jwk": EC.as_dict(private=False)}), BadSignature),
    "crit": (lambda: signed(header=HEADER["ES256"] | {"crit": ["exp"]}), BadSignature),
    "b64 false": (lambda: signed(header=HEADER["ES256"] | {"b64": False}), BadSignature),
    "wrong typ": (lambda: signed(header=HEADER["ES256"] | {"typ": "at+jwt"}), BadSignature),
    "typ JWT": (lambda: signed(header=HEADER["ES256"] | {"typ": "JWT"}), BadSignature),
    "duplicate alg in header": (
        lambda: signed(header='{"alg": "ES256", "kid": "yc-ec-1", "typ": "consent+jwt", "alg": "none"}'),
        BadSignature,
    ),
    "cty not a string": (lambda: signed(header=HEADER["ES256"] | {"cty": 7}), BadSignature),
    "header over 512 bytes": (lambda: signed(header=HEADER["ES256"] | {"x": "y" * 400}), BadSignature),
    "signature cut short": (lambda: signed()[:-4], BadSignature),
    "signature one byte longer": (lambda: signed() + "AA", BadSignature),
    "S padded with zero bytes": (lambda: zero_padded_s(signed()), BadSignature),
    "non-canonical header": (
        lambda: non_canonical(with_spare_bits(lambda pad: signed(header=HEADER["ES256"] | {"x": pad}), 0), 0),
        BadSignature,
    ),
    "non-canonical payload": (
        lambda: non_canonical(with_spare_bits(lambda pad: signed(body=claims(x=pad)), 1), 1),
        BadSignature,
    ),
    "non-canonical signature": (lambda: non_canonical(signed(), 2), BadSignature),
    "duplicate claim keys": (lambda: signed(body=json.dumps(claims())[:-1] + ', "aud": ["x"]}'), InvalidRequest),
    "NaN claim": (lambda: signed(body=json.dumps(claims()).replace(f"{NOW + 3600}", "NaN")), InvalidRequest),
    "1e999 claim": (lambda: signed(body=json.dumps(claims()).replace(f"{NOW + 3600}", "1e999")), InvalidRequest),
    "payload not an object": (lambda: signed(body="[1, 2]"), InvalidRequest),
    "payload not UTF-8": (lambda: signed_bytes(b'{"iss": "' + YOUTH_CARE.encode() + b'\xff"}'), InvalidRequest),
}


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_each_bad_token_is_refused_as_joserfc_refused_it(name: str) -> None:
    make, expected = BAD_TOKENS[name]
    tok = make()
    ours, reference = both(tok)
    assert ours is expected, name
    assert reference is expected, name
    ours, reference = both_from_issuer(tok)
    assert isinstance(ours, type) and issubclass(ours, GatewayError), name
    assert ours is reference, name


@pytest.mark.parametrize("alg", sorted(HEADER))
def test_good_tokens_decode_to_the_same_header_and_claims(alg: str) -> None:
    tok = signed(alg)
    ours, reference = both(tok)
    assert ours == reference == (HEADER[alg], claims())


@pytest.mark.parametrize("params", [{"use": "enc"}, {"alg": "ES384"}, {"alg": "EdDSA"}, {"key_ops": ["sign"]}])
def test_a_pinned_key_published_for_something_else_does_not_verify(params: dict[str, Any]) -> None:
    keys = odd_key(**params)
    assert both(signed(), keys) == (BadSignature, BadSignature)


def test_a_pinned_key_published_for_signatures_verifies() -> None:
    keys = odd_key(use="sig", alg="ES256", key_ops=["verify"])
    ours, reference = both(signed(), keys)
    assert ours == reference == (HEADER["ES256"], claims())


# Random corruption: any single character replaced, dropped or added, anywhere.
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ é"


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(HEADER)),
    st.integers(0, 10_000),
    st.sampled_from(_ALPHABET),
    st.sampled_from(["replace", "drop", "insert"]),
)
def test_a_corrupted_token_gets_the_same_verdict_from_both_paths(alg: str, where: int, char: str, how: str) -> None:
    tok = signed(alg)
    i = where % len(tok)
    tok = {
        "replace": tok[:i] + char + tok[i + 1 :],
        "drop": tok[:i] + tok[i + 1 :],
        "insert": tok[:i] + char + tok[i:],
    }[how]
    ours, reference = both(tok)
    assert ours == reference
    ours, reference = both_from_issuer(tok)
    assert ours == reference


# --- decode_from_issuer: one parse, keys chosen by the unverified iss -------------------


def test_decode_from_issuer_returns_the_issuer_whose_keys_verified() -> None:
    asked: list[str] = []

    def keys_for(iss: str, kid: str) -> KeySet:
        asked.append(iss)
        return KEYS

    issuer, header, body = jwt.decode(signed(), keys_for, typ=TYP)
    assert (issuer, header, body) == (YOUTH_CARE, HEADER["ES256"], claims())
    assert asked == [YOUTH_CARE]


@pytest.mark.parametrize(
    ("body", "keys_for"),
    [
        ({k: v for k, v in claims().items() if k != "iss"}, registry()),
        (claims(iss=""), registry()),
        (claims(iss=7), registry()),
        (claims(iss="org:unknown"), registry()),
        (claims(), lambda _iss, _kid="": KeySet([])),
    ],
)
def test_decode_from_issuer_refuses_tokens_without_a_trusted_issuer(
    body: dict[str, Any], keys_for: Callable[..., KeySet | None]
) -> None:
    with pytest.raises(BadSignature):
        jwt.decode(signed(body=body), keys_for, typ=TYP)


def test_a_signed_payload_with_a_second_iss_is_malformed_not_a_bad_signature() -> None:
    # read leniently, the last iss wins and chooses the keys; strictly, it is refused
    body = json.dumps(claims(iss="org:other"))[:-1] + f', "iss": "{YOUTH_CARE}"}}'
    with pytest.raises(InvalidRequest, match="Dubbele sleutel"):
        jwt.decode(signed(body=body), registry(), typ=TYP)
    forged = hand_sign(HEADER["ES256"], body, an_ec_key("yc-ec-1"))
    with pytest.raises(BadSignature):
        jwt.decode(forged, registry(), typ=TYP)


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_token_verify_refuses_each_bad_token_as_it_did(name: str) -> None:
    tok = BAD_TOKENS[name][0]()
    expected = verdict(lambda: reference_from_issuer(tok, registry()))
    with pytest.raises(GatewayError) as caught:
        token.verify(tok, keys_for=registry(), holder=MENTAL_HEALTH, now=NOW)
    assert type(caught.value) is expected, name


def test_token_verify_still_refuses_an_expired_token_signed_correctly() -> None:
    tok = signed(body=claims(iat=NOW - 7200, nbf=NOW - 7200, exp=NOW - 60))
    with pytest.raises(TokenExpired):
        token.verify(tok, keys_for=registry(), holder=MENTAL_HEALTH, now=NOW)
    assert token.verify(signed(), keys_for=registry(), holder=MENTAL_HEALTH, now=NOW).subject_bsn == MOTHER


# --- the remembered header --------------------------------------------------------------


def test_changing_a_returned_header_cannot_reach_the_next_token() -> None:
    tok = signed()
    header, _ = jwt.decode_strict(tok, KEYS, typ=TYP)
    header["typ"] = "at+jwt"
    header["kid"] = "elsewhere"
    assert jwt.decode_strict(tok, KEYS, typ=TYP)[0] == HEADER["ES256"]
    with pytest.raises(BadSignature, match="tokentype"):
        jwt.decode_strict(tok, KEYS, typ="at+jwt")


def test_a_header_refused_once_is_refused_every_time() -> None:
    tok = signed(header='{"alg": "ES256", "kid": "yc-ec-1", "typ": "consent+jwt", "kid": "x"}')
    for _ in range(3):
        with pytest.raises(BadSignature, match="Dubbele sleutel"):
            jwt.decode_strict(tok, KEYS, typ=TYP)


# --- verify_signature -------------------------------------------------------------------


@pytest.mark.parametrize("alg", sorted(HEADER))
def test_verify_signature_takes_only_the_key_type_its_algorithm_needs(alg: str) -> None:
    head, body, sig = signed(alg).split(".")
    data, signature = f"{head}.{body}".encode(), b64d(sig)
    own: ECKey | OKPKey = SIGNER[alg]
    other: ECKey | OKPKey = ED if own is EC else EC
    assert kernel.verify_signature(own, alg, data, signature)
    assert not kernel.verify_signature(other, alg, data, signature)
    assert not kernel.verify_signature(own, alg, data + b"x", signature)
    assert not kernel.verify_signature(own, alg, data, signature[:-1])
    assert not kernel.verify_signature(own, alg, data, signature + b"\x00")
    assert not kernel.verify_signature(own, "HS256", data, signature)
    assert not kernel.verify_signature(own, "none", data, b"")


# --- the eleven-test, rewritten for speed ----------------------------------------------


def eleven_test(value: str) -> bool:
    digits = [int(c) for c in value]
    return (sum(w * d for w, d in zip(range(9, 1, -1), digits[:8], strict=True)) - digits[8]) % 11 == 0


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_valid_bsn_is_the_plain_eleven_test(value: str) -> None:
    assert valid_bsn(value) is (value != "000000000" and eleven_test(value))
