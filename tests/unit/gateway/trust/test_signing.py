"""Signed summaries: RFC 7515 appendix F (detached JWS) over RFC 8785 (contract section 4)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fhir.resources.R4B.bundle import Bundle
from joserfc import jws
from joserfc.jwk import ECKey, KeySet, OctKey, OKPKey

from contract import jcs
from contract.errors import BadPartnerSignature
from gateway.trust import signing
from gateway.trust.signing import canonical, sign_bundle, verify_bundle, verify_bundle_from
from profiles import build_summary
from tests.unit.profiles.profiles_builders import HOLDER, MOTHER_BSN, NOW, mother_records, signals_shareable

KID = "ggz-noord-2025"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pem(private_key: Any) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class Signer:
    """A holder's key made with raw ``cryptography``, so the independent check shares nothing with joserfc."""

    def __init__(self, alg: str) -> None:
        self.alg = alg
        if alg == "ES256":
            self.raw = ec.generate_private_key(ec.SECP256R1())
            self.key: Any = ECKey.import_key(pem(self.raw), {"kid": KID})
        else:
            self.raw = ed25519.Ed25519PrivateKey.generate()
            self.key = OKPKey.import_key(pem(self.raw), {"kid": KID})
        self.pinned = KeySet([type(self.key).import_key(self.key.as_dict(private=False))])

    def sign(self, bundle: dict[str, Any]) -> dict[str, Any]:
        return sign_bundle(bundle, self.key, kid=KID, alg=self.alg, signer_ref=HOLDER, now=NOW)


@pytest.fixture
def summary() -> dict[str, Any]:
    return build_summary(
        mother_records(),
        ["signals", "safety-plan", "care-team"],
        holder_org=HOLDER,
        subject_bsn=MOTHER_BSN,
        exchange_id="ex-1",
        request_hash=hashlib.sha256(b"q").hexdigest(),
        now=NOW,
    )


@pytest.fixture(params=["ES256", "EdDSA", "Ed25519"])
def signer(request: pytest.FixtureRequest) -> Signer:
    return Signer(request.param)


@pytest.fixture
def es256() -> Signer:
    return Signer("ES256")


def compact_of(signed: dict[str, Any]) -> str:
    return base64.b64decode(signed["signature"]["data"]).decode("ascii")


def with_compact(signed: dict[str, Any], compact: str) -> dict[str, Any]:
    forged = copy.deepcopy(signed)
    forged["signature"]["data"] = base64.b64encode(compact.encode("ascii")).decode("ascii")
    return forged


def refused(bundle: Any, keys: KeySet) -> None:
    with pytest.raises(BadPartnerSignature):
        verify_bundle(bundle, keys)


def test_holder_signs_and_requester_verifies(summary: dict[str, Any], signer: Signer) -> None:
    signed = signer.sign(summary)
    assert verify_bundle(signed, signer.pinned) == {"alg": signer.alg, "kid": KID}
    assert signed["signature"]["sigFormat"] == "application/jose"
    assert signed["signature"]["who"] == {
        "identifier": {"system": "https://jggz-gateway.nl/fhir/NamingSystem/org-id", "value": HOLDER}
    }
    assert signed["signature"]["type"][0]["code"] == "1.2.840.10065.1.12.1.5"
    assert signed["signature"]["when"] == "2025-03-14T09:30:00Z"
    assert "signature" not in summary
    Bundle.model_validate(signed)


def test_signature_is_a_detached_jws_over_the_jcs_bundle_without_signature(
    summary: dict[str, Any], signer: Signer
) -> None:
    signed = signer.sign(summary)
    header_b64, payload_b64, signature_b64 = compact_of(signed).split(".")
    assert payload_b64 == ""
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=="))
    assert header == {"alg": signer.alg, "kid": KID}
    signing_input = f"{header_b64}.{b64url(canonical(summary))}".encode("ascii")
    raw_signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    public = signer.raw.public_key()
    if signer.alg == "ES256":  # JWS carries r || s; cryptography wants DER
        assert len(raw_signature) == 64
        der = encode_dss_signature(int.from_bytes(raw_signature[:32], "big"), int.from_bytes(raw_signature[32:], "big"))
        public.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    else:
        public.verify(raw_signature, signing_input)


def test_key_order_and_whitespace_do_not_matter(summary: dict[str, Any], es256: Signer) -> None:
    signed = es256.sign(summary)
    reparsed = json.loads(json.dumps(dict(reversed(list(signed.items()))), indent=3))
    verify_bundle(reparsed, es256.pinned)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b: b["entry"][0]["resource"]["note"][0].__setitem__("text", "Bij terugtrekken: bel de wijkcoacH."),
        lambda b: b["entry"][0]["resource"].__setitem__("status", "amended"),
        lambda b: b["entry"].pop(),
        lambda b: b["entry"].reverse(),
        lambda b: b["meta"]["extension"][0].__setitem__("valueString", "0" * 64),
        lambda b: b.__setitem__("id", "ex-2"),
        lambda b: b["entry"][0]["resource"].__setitem__("valueString", "extra"),
    ],
    ids=["note-byte", "status", "entry-dropped", "entries-reordered", "request-hash", "exchange-id", "added"],
)
def test_any_change_to_the_signed_content_fails(summary: dict[str, Any], es256: Signer, tamper: Any) -> None:
    signed = es256.sign(summary)
    tamper(signed)
    refused(signed, es256.pinned)


def test_large_summary_of_300_kb_signs_and_verifies(signer: Signer) -> None:
    records = []
    for day in range(1, 29):
        record = signals_shareable()
        record["effectiveDateTime"] = f"2025-02-{day:02d}"
        record["note"] = [{"text": f"Observatie {day}: " + "moeder belt de wijkcoach. " * 400}]
        records.append(record)
    big = build_summary(
        records,
        ["signals"],
        holder_org=HOLDER,
        subject_bsn=MOTHER_BSN,
        exchange_id="ex-big",
        request_hash="a" * 64,
        now=NOW,
    )
    assert len(canonical(big)) > 300_000
    verify_bundle(signer.sign(big), signer.pinned)


def test_attached_payload_is_refused(summary: dict[str, Any], es256: Signer) -> None:
    attached = jws.serialize_compact({"alg": "ES256", "kid": KID}, canonical(summary), es256.key, algorithms=["ES256"])
    refused(with_compact(es256.sign(summary), attached), es256.pinned)


def test_unknown_kid_is_refused(summary: dict[str, Any], es256: Signer) -> None:
    signed = sign_bundle(summary, es256.key, kid="other", alg="ES256", signer_ref=HOLDER, now=NOW)
    refused(signed, es256.pinned)


def test_a_key_pinned_for_another_partner_is_refused(summary: dict[str, Any]) -> None:
    holder, stranger = Signer("ES256"), Signer("ES256")
    refused(stranger.sign(summary), holder.pinned)


def test_alg_none_is_refused(summary: dict[str, Any], es256: Signer) -> None:
    header = b64url(json.dumps({"alg": "none", "kid": KID}).encode())
    refused(with_compact(es256.sign(summary), f"{header}.."), es256.pinned)
    refused(with_compact(es256.sign(summary), f"{header}..{b64url(b'x')}"), es256.pinned)


def test_hmac_with_the_public_key_as_secret_is_refused(summary: dict[str, Any], es256: Signer) -> None:
    secret = OctKey.import_key(json.dumps(es256.key.as_dict(private=False)).encode())
    forged = jws.serialize_compact({"alg": "HS256", "kid": KID}, canonical(summary), secret, algorithms=["HS256"])
    refused(with_compact(es256.sign(summary), jws.detach_content(forged)), es256.pinned)


@pytest.mark.parametrize(
    "extra",
    [
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {"x5c": ["MIIB"]},
        {"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}},
        {"crit": ["b64"], "b64": False},
        {"typ": "consent+jwt"},
    ],
)
def test_forbidden_header_members_are_refused(summary: dict[str, Any], es256: Signer, extra: dict) -> None:
    header = b64url(json.dumps({"alg": "ES256", "kid": KID, **extra}).encode())
    _, _, signature = compact_of(es256.sign(summary)).split(".")
    refused(with_compact(es256.sign(summary), f"{header}..{signature}"), es256.pinned)


def test_duplicate_header_member_is_refused(summary: dict[str, Any], es256: Signer) -> None:
    header = b64url(b'{"alg":"ES256","kid":"other","kid":"' + KID.encode() + b'"}')
    _, _, signature = compact_of(es256.sign(summary)).split(".")
    refused(with_compact(es256.sign(summary), f"{header}..{signature}"), es256.pinned)


def test_eddsa_header_with_an_ec_key_is_refused(summary: dict[str, Any], es256: Signer) -> None:
    header = b64url(json.dumps({"alg": "EdDSA", "kid": KID}).encode())
    _, _, signature = compact_of(es256.sign(summary)).split(".")
    refused(with_compact(es256.sign(summary), f"{header}..{signature}"), es256.pinned)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda s: s.pop("signature"),
        lambda s: s["signature"].__setitem__("sigFormat", "application/jose+json"),
        lambda s: s["signature"].__setitem__("data", "not base64!"),
        lambda s: s["signature"].__setitem__("data", base64.b64encode(b"a.b").decode()),
        lambda s: s["signature"].__setitem__("data", None),
    ],
    ids=["missing", "sigFormat", "not-base64", "two-parts", "no-data"],
)
def test_malformed_signature_element_is_refused(summary: dict[str, Any], es256: Signer, breakage: Any) -> None:
    signed = es256.sign(summary)
    breakage(signed)
    refused(signed, es256.pinned)


def test_signing_refuses_a_naive_clock_a_wrong_alg_a_public_key_or_a_float(
    summary: dict[str, Any], es256: Signer
) -> None:
    with pytest.raises(ValueError):
        sign_bundle(summary, es256.key, kid=KID, alg="ES256", signer_ref=HOLDER, now=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError):
        sign_bundle(summary, es256.key, kid=KID, alg="EdDSA", signer_ref=HOLDER, now=NOW)
    with pytest.raises(ValueError):
        sign_bundle(summary, es256.key, kid=KID, alg="RS256", signer_ref=HOLDER, now=NOW)
    public_only = next(iter(es256.pinned))
    with pytest.raises(ValueError):
        sign_bundle(summary, public_only, kid=KID, alg="ES256", signer_ref=HOLDER, now=NOW)
    with pytest.raises(ValueError):
        sign_bundle({**summary, "total": 0.5}, es256.key, kid=KID, alg="ES256", signer_ref=HOLDER, now=NOW)


def test_canonical_is_rfc8785() -> None:
    assert canonical({"b": 1, "a": "é", "c": [True, None]}) == '{"a":"é","b":1,"c":[true,null]}'.encode()
    assert canonical({"\u20ac": 1, "\r": 2, "1": 3}) == '{"\\r":2,"1":3,"€":1}'.encode()
    for number in (0.010, 2**53, -(2**53)):
        with pytest.raises(ValueError):
            canonical({"n": number})


def test_resigning_replaces_the_old_signature(summary: dict[str, Any], es256: Signer) -> None:
    first = es256.sign(summary)
    second = es256.sign(first)
    assert verify_bundle(second, es256.pinned)
    assert canonical({k: v for k, v in second.items() if k != "signature"}) == canonical(summary)


def test_signer_kid_names_the_key_only_to_choose_it_and_is_none_for_garbage() -> None:
    key = ECKey.generate_key("P-256", private=True)
    bundle = {"resourceType": "Bundle", "type": "collection"}
    signed = signing.sign_bundle(
        bundle, key, kid=key.thumbprint(), alg="ES256", signer_ref="ggz-noord", now=datetime.now(UTC)
    )
    assert signing.signer_kid(signed) == key.thumbprint()
    assert signing.signer_kid(bundle) is None
    assert signing.signer_kid({**signed, "signature": {**signed["signature"], "data": "!!"}}) is None


# --- canonical(): the fast path must be RFC 8785 exactly -------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SAFE = 2**53 - 1
_json_leaf = st.none() | st.booleans() | st.integers(-_SAFE, _SAFE) | st.text()
_json_docs = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(_json_docs)
def test_canonical_is_byte_for_byte_the_rfc8785_reference(doc: Any) -> None:
    """Any JSON without floats: non-ASCII and astral keys, control characters, U+2028,
    lone surrogates (refused by both) all give what the reference implementation gives."""
    try:
        expected = rfc8785.dumps(doc)
    except ValueError:
        with pytest.raises(ValueError):
            canonical(doc)
        return
    assert canonical(doc) == expected


def test_canonical_orders_keys_by_utf16_code_units_like_rfc8785() -> None:
    # U+FB01 sorts after U+1F600 in UTF-16 (surrogates D83D..) but before it by code point
    doc = {"\ufb01": 1, "\U0001f600": 2, "a": {"\x7f": "\u2028\x00\n"}}

    assert canonical(doc) == rfc8785.dumps(doc)
    assert canonical(doc).index("\U0001f600".encode()) < canonical(doc).index("\ufb01".encode())


@pytest.mark.parametrize("bad", [1.5, 2**53, -(2**53), {"a": [0.0]}])
def test_canonical_refuses_numbers_jcs_would_rewrite(bad: Any) -> None:
    with pytest.raises(ValueError):
        canonical(bad)


@pytest.mark.parametrize("bad", [{"k": "\ud800"}, ["x\udfff"], {"\ud83d": 1}])
def test_canonical_refuses_a_lone_surrogate_as_rfc8785_does(bad: Any) -> None:
    with pytest.raises(ValueError):
        rfc8785.dumps(bad)
    with pytest.raises(ValueError):
        canonical(bad)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
        max_leaves=20,
    )
)
def test_jcs_dumps_matches_the_reference_with_any_numbers(doc: Any) -> None:
    """contract.jcs outside the signed-document rules: floats and big integers too."""
    try:
        expected = rfc8785.dumps(doc)
    except ValueError:
        with pytest.raises(ValueError):
            jcs.dumps(doc)
        return
    assert jcs.dumps(doc) == expected


def test_the_requester_asks_for_the_holders_keys_once_by_org_and_kid(summary: dict[str, Any], es256: Signer) -> None:

    asked: list[tuple[str, str]] = []

    def keys_for(org: str, kid: str) -> KeySet | None:
        asked.append((org, kid))
        return es256.pinned if org == HOLDER else None

    assert verify_bundle_from(es256.sign(summary), HOLDER, keys_for)["kid"] == KID
    assert asked == [(HOLDER, KID)]
    with pytest.raises(BadPartnerSignature):  # signed by the holder, presented as another's
        verify_bundle_from(es256.sign(summary), "org:other", keys_for)


def test_a_forged_signature_header_is_refused_before_keys_are_looked_up(summary: dict[str, Any], es256: Signer) -> None:

    signed = es256.sign(summary)
    header, _, signature = compact_of(signed).split(".")
    forged = with_compact(signed, f"{b64url(json.dumps({'alg': 'none', 'kid': KID}).encode())}..{signature}")

    def keys_for(_org: str, _kid: str) -> KeySet:
        raise AssertionError("a JWKS would be re-fetched for a header the kernel refuses")

    with pytest.raises(BadPartnerSignature):
        verify_bundle_from(forged, HOLDER, keys_for)
