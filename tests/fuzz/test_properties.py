"""Bad input at scale: hypothesis over Parameters bodies, FHIR bodies, tokens and raw bytes.

Against the Flask test client of one node (each store) with a trusted partner whose URL is
closed. Properties: never a 500, a 5xx only as a contract refusal, every error an
OperationOutcome, and nothing disclosed (no summary Bundle, no ``disclosure-sent`` audit).
``GATEWAY_FUZZ_EXAMPLES`` sets the examples per test (100 by default).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import date
from typing import Any

import pytest
from fuzz_support import EXAMPLES, assert_contract_answer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey

from contract import jwt
from gateway.demo import data as d
from gateway.fhir.fhir_in import BSN_SYSTEM, CATEGORY_SYSTEM, PURPOSE_SYSTEM

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

KNOWN_BSN = d.bsn(1)
CATEGORIES = ["signals", "safety-plan", "care-team", "parenting", "care-status"]
PURPOSES = ["joint-safety-planning", "care-coordination", "referral", "assessment", "crisis-response"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=15,
)
texts = st.one_of(
    st.text(max_size=40), st.sampled_from(["", " ", "\x00", "ａｂｃ", "١٢٣٤٥٦٧٨٢", "000000000", KNOWN_BSN, "x" * 5000])
)
bsns = st.one_of(
    st.just(KNOWN_BSN),
    st.sampled_from(["000000000", "123456789", "１２３４５６７８２", "12345678"]),
    st.text(alphabet="0123456789", min_size=8, max_size=10),
)
codes_of = lambda values, system: st.one_of(  # noqa: E731 - a tiny strategy factory
    st.builds(lambda c: {"system": system, "code": c}, st.sampled_from(values) | st.text(max_size=20)),
    st.builds(lambda s, c: {"system": s, "code": c}, st.text(max_size=30), st.text(max_size=20)),
    json_values,
)


def _param(name: str, kind: str, value: Any) -> dict[str, Any]:
    return {"name": name, kind: value}


@st.composite
def tokens(draw: st.DrawFn, key: ECKey | None = None, holder: str = "ggz-noord") -> str:
    """Garbage, near-JWS shapes, and tokens signed by the trusted partner with odd claims."""

    kind = draw(st.sampled_from(["text", "shape", "signed", "alg-none", "typ"]))
    if kind == "text" or key is None:
        return draw(st.text(min_size=1, max_size=200))
    if kind == "shape":
        parts = draw(
            st.lists(
                st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=40),
                min_size=1,
                max_size=5,
            )
        )
        return ".".join(parts) or "x"
    now = int(time.time())
    claims = {
        "iss": "fuzz-partner",
        "sub": draw(bsns),
        "aud": draw(st.sampled_from([[holder], holder, [], ["x"]])),
        "grantee": draw(st.sampled_from(["fuzz-partner", "other"])),
        "purpose": draw(st.sampled_from(PURPOSES) | st.text(max_size=10)),
        "categories": draw(st.lists(st.sampled_from(CATEGORIES), max_size=5)),
        "consent": draw(st.text(min_size=1, max_size=20)),
        "iat": now + draw(st.integers(-400, 400)),
        "nbf": now + draw(st.integers(-400, 400)),
        "exp": now + draw(st.integers(-400, 4000)),
        "jti": uuid.uuid4().hex,
    }
    for name in draw(st.lists(st.sampled_from(sorted(claims)), max_size=3)):
        claims[name] = draw(json_values)
    try:
        tok = jwt.sign(
            claims,
            key,
            kid=key.thumbprint(),
            alg="ES256",
            typ="consent+jwt" if kind != "typ" else draw(st.sampled_from(["JWT", "at+jwt", "x"])),
        )
    except (TypeError, ValueError):
        return "a.b.c"
    if kind == "alg-none":
        header = (
            base64.urlsafe_b64encode(
                json.dumps({"alg": "none", "typ": "consent+jwt", "kid": key.thumbprint()}).encode()
            )
            .rstrip(b"=")
            .decode()
        )
        tok = header + "." + tok.split(".")[1] + "."
    return tok


@st.composite
def summary_parameters(draw: st.DrawFn, *, holder_side: bool, key: ECKey | None = None) -> dict[str, Any]:
    """Mostly well-formed Parameters (so most inputs reach the token and consent checks), each
    part broken now and then: a wrong value, a duplicate, an unknown parameter, a wrong shape."""

    def often(valid: st.SearchStrategy[Any], broken: st.SearchStrategy[Any]) -> Any:
        return draw(valid) if draw(st.integers(0, 9)) < 8 else draw(broken)

    params: list[dict[str, Any]] = []
    if not holder_side:
        params.append(_param("partner", "valueString", often(st.just("fuzz-partner"), texts)))
    params.append(
        _param(
            "subject",
            "valueIdentifier",
            often(
                st.just({"system": BSN_SYSTEM, "value": KNOWN_BSN}),
                st.builds(lambda v: {"system": BSN_SYSTEM, "value": v}, bsns) | json_values,
            ),
        )
    )
    params.append(
        _param(
            "purpose",
            "valueCoding",
            often(
                st.builds(lambda c: {"system": PURPOSE_SYSTEM, "code": c}, st.sampled_from(PURPOSES)),
                codes_of(PURPOSES, PURPOSE_SYSTEM),
            ),
        )
    )
    cats = often(
        st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3, unique=True).map(
            lambda cs: [{"system": CATEGORY_SYSTEM, "code": c} for c in cs]
        ),
        st.lists(codes_of(CATEGORIES, CATEGORY_SYSTEM), max_size=4),
    )
    params += [_param("category", "valueCoding", c) for c in cats]
    if draw(st.integers(0, 9)) < 8:
        params.append(_param("consent-token", "valueString", draw(tokens(key))))
    if holder_side:
        params.append(_param("practitioner", "valueIdentifier", often(st.just({"value": "uzi:1"}), json_values)))
        params.append(_param("exchange-id", "valueString", often(st.builds(lambda: uuid.uuid4().hex), texts)))
    if draw(st.integers(0, 9)) == 0:
        params.append(
            draw(
                st.builds(
                    lambda n, k, v: {"name": n, k: v},
                    st.text(max_size=15),
                    st.sampled_from(["valueString", "valueCode", "valueInteger", "resource"]),
                    json_values,
                )
            )
        )
    if draw(st.integers(0, 9)) == 0 and params:
        params.append(draw(st.sampled_from(params)))  # a duplicate
    params = draw(st.permutations(params))
    body: dict[str, Any] = {"resourceType": "Parameters", "parameter": params}
    if draw(st.integers(0, 19)) == 0:
        body = draw(
            st.sampled_from(
                [
                    {"resourceType": "Parameters"},
                    {"resourceType": "Bundle", "parameter": params},
                    {"resourceType": "Parameters", "parameter": params, "extra": 1},
                ]
            )
        )
    return body


SEEN: set[str] = set()
"""Reason codes answered so far: the tests check that generated input got past the edge."""
DEEP = {
    "bad-signature",
    "token-expired",
    "wrong-audience",
    "grantee-mismatch",
    "subject-mismatch",
    "consent-status-unavailable",
    "purpose-mismatch",
    "category-not-consented",
    "not-shareable",
    "partner-unavailable",
    "subject-unknown",
}


def _post(node: Any, path: str, body: Any, role: str) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body, allow_nan=False).encode()
    return node.client.post(path, data=raw, headers=node.headers(role))


def _check(resp: Any, path: str) -> None:
    body = resp.get_json(silent=True) or {}
    try:
        reason = body["issue"][0]["details"]["coding"][0]["code"]
    except (KeyError, IndexError, TypeError):
        reason = ""
    event(f"{resp.status_code} {reason}")
    SEEN.add(reason)
    assert_contract_answer(resp.status_code, resp.get_data(), resp.content_type or "", path)


@pytest.fixture
def known_person(fuzz_node: Any) -> Any:
    """The mother known at the node, with records, so refusals come from deep in the exchange."""
    c = fuzz_node.client
    h = fuzz_node.headers("ehr")
    mother = c.post("/fhir/Patient", json=d.patient(KNOWN_BSN, date(1991, 4, 12), "Sanne", "Jansen"), headers=h)
    assert mother.status_code in (200, 201), mother.get_data(as_text=True)
    pid = mother.get_json()["id"]
    for rec in (
        d.observation(pid, "signals", "Slaapt slecht.", shareable=True, source_id="sig-1"),
        d.safety_plan(pid, source_id="plan-1"),
        d.care_team(pid, source_id="team-1"),
    ):
        assert c.post(f"/fhir/{rec['resourceType']}", json=rec, headers=h).status_code in (200, 201)
    return fuzz_node


def test_behaviour_summary_never_discloses_to_generated_parameters(known_person: Any) -> None:
    node = known_person

    @FUZZ
    @given(body=summary_parameters(holder_side=True, key=node.partner_key))
    def prop(body: dict[str, Any]) -> None:
        resp = _post(node, "/fhir/$behaviour-summary", body, "partner")
        _check(resp, "/fhir/$behaviour-summary")
        assert resp.status_code != 200, resp.get_json()

    SEEN.clear()
    prop()
    assert node.audit_count("disclosure-sent") == 0
    assert SEEN & DEEP, f"no generated request got past parsing: {sorted(SEEN)}"


def test_request_summary_answers_generated_parameters_clearly(known_person: Any) -> None:
    node = known_person

    @FUZZ
    @given(body=summary_parameters(holder_side=False, key=node.partner_key))
    def prop(body: dict[str, Any]) -> None:
        resp = _post(node, "/fhir/$request-summary", body, "ehr")
        _check(resp, "/fhir/$request-summary")
        assert resp.status_code != 200  # the partner's URL is closed: nothing can come back

    SEEN.clear()
    prop()
    assert node.audit_count("summary-received") == 0
    assert SEEN & DEEP, f"no generated request got past parsing: {sorted(SEEN)}"


VALID = {
    "Patient": lambda: d.patient(d.bsn(7), date(2010, 1, 2), "Test", "Kind"),
    "Observation": lambda: d.observation("nobody", "signals", "tekst", shareable=True, source_id="o1"),
    "CarePlan": lambda: d.safety_plan("nobody", source_id="c1"),
    "CareTeam": lambda: d.care_team("nobody", source_id="t1"),
    "RelatedPerson": lambda: d.parent_of("nobody", d.bsn(3)),
    "Consent": lambda: d.consent(
        "nobody",
        ["Patient/nobody"],
        recipients=["a"],
        holders=["b"],
        purpose="referral",
        categories=["signals"],
        start=date(2026, 1, 1),
    ),
}


@st.composite
def fhir_bodies(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid resource with a few elements replaced by generated JSON, or generated JSON alone."""
    rtype = draw(st.sampled_from(sorted(VALID)))
    if draw(st.integers(0, 4)) == 0:
        body = draw(st.dictionaries(st.text(max_size=12), json_values, max_size=6))
        body["resourceType"] = rtype
        return rtype, body
    body = VALID[rtype]()
    for _ in range(draw(st.integers(1, 3))):
        keys = sorted(body)
        name = draw(st.sampled_from(keys) | st.text(max_size=10))
        if name == "resourceType":
            continue
        body[name] = draw(json_values)
    return rtype, body


def test_fhir_bodies_get_contract_answers(fuzz_node: Any) -> None:
    @FUZZ
    @given(item=fhir_bodies())
    def prop(item: tuple[str, Any]) -> None:
        rtype, body = item
        try:
            resp = _post(fuzz_node, f"/fhir/{rtype}", body, "ehr")
        except ValueError:  # a float JSON cannot write (never sent)
            return
        _check(resp, f"/fhir/{rtype}")

    prop()


raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b'{"resourceType": "Parameters", "parameter": [], "parameter": []}',
            b'{"a": NaN}',
            b'{"a": Infinity}',
            b"[" * 5000 + b"]" * 5000,
            b'{"resourceType": "Parameters", "x": 1e999}',
            b'"\\ud800"',
            b"\xff\xfe",
            b"",
            b"null",
            b"[]",
            b'{"resourceType": "Parameters"}',
        ]
    ),
    st.builds(lambda v: json.dumps(v).encode(), json_values),
)


def test_raw_bodies_and_bearer_tokens_get_contract_answers(fuzz_node: Any) -> None:
    paths = [
        "/fhir/$request-summary",
        "/fhir/$behaviour-summary",
        "/fhir/$consent-status",
        "/fhir/Patient",
        "/fhir/Consent",
        "/fhir",
    ]

    @FUZZ
    @given(
        path=st.sampled_from(paths),
        raw=raw_bodies,
        bearer=st.one_of(st.none(), tokens(fuzz_node.partner_key).filter(lambda t: t.isascii() and t.isprintable())),
        ctype=st.sampled_from(["application/fhir+json", "application/json", "text/plain", ""]),
    )
    def prop(path: str, raw: bytes, bearer: str | None, ctype: str) -> None:
        role = "partner" if path in ("/fhir/$behaviour-summary", "/fhir/$consent-status") else "ehr"
        headers = fuzz_node.headers(role)
        if bearer is not None:
            headers["Authorization"] = "Bearer " + bearer
        headers["Content-Type"] = ctype
        resp = fuzz_node.client.post(path, data=raw, headers=headers)
        _check(resp, path)
        if bearer is not None:
            assert resp.status_code in (400, 401, 403, 415), (resp.status_code, resp.get_data()[:200])

    prop()
    assert fuzz_node.audit_count("disclosure-sent") == 0


# --- bugs found by the generated requests (schemathesis, test_openapi.py) -----------------


def test_partner_notice_with_odd_consent_id_is_a_clear_refusal(fuzz_node: Any) -> None:
    body = {"resourceType": "Parameters", "parameter": [{"name": "consent", "valueString": "x" * 600}]}
    resp = _post(fuzz_node, "/fhir/$consent-revoked", body, "partner")
    assert_contract_answer(resp.status_code, resp.get_data(), resp.content_type or "", "/fhir/$consent-revoked")
    assert resp.status_code == 400


def test_partner_notice_with_odd_since_is_a_clear_refusal(fuzz_node: Any) -> None:
    body = {"resourceType": "Parameters", "parameter": [{"name": "since", "valueString": "x" * 1500}]}
    resp = _post(fuzz_node, "/fhir/$exchange-receipts", body, "partner")
    assert_contract_answer(resp.status_code, resp.get_data(), resp.content_type or "", "/fhir/$exchange-receipts")
    assert resp.status_code == 400
