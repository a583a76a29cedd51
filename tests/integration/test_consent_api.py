"""Consent through the local API (issue 3; contract sections 3, 4 and 6), on both stores.

The grantor rules are checked against the node's own Dutch calendar day, so birth dates
are set relative to that day. Consents that must have been recorded in the past (renewal
when the subject turns 12 or 16) are recorded through the API with the node's clock set
back (``builders.on_day``): the grantors are then checked against the day they consented,
as in real life, and no row is written into the store by hand.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from builders import (
    CATEGORIES,
    HERE,
    PARTNER,
    PURPOSE,
    Api,
    Family,
    a_consent,
    a_family,
    born_aged,
    born_turning,
    explanation,
    new_bsn,
    on_day,
    reason,
    today,
    years_before,
)
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from audit import events
from gateway import config
from gateway.app import create_app
from gateway.demo import data as d
from gateway.repositories import audit_log
from gateway.web.receipt import _day


@pytest.fixture
def api(app: Any, client: Any) -> Api:
    return Api(app, client)


def record(api: Api, family: Family, performers: list[str], **kw: Any) -> Any:
    return api.post("/fhir/Consent", a_consent(family.child, performers, start=today(api.app), **kw))


def recorded(api: Api, family: Family, performers: list[str], **kw: Any) -> str:
    resp = record(api, family, performers, **kw)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()["id"]  # type: ignore[no-any-return]


def masked(bsn: str) -> str:
    """How the rules name a person in a refusal: the last three digits only."""
    return f"bsn:…{bsn[-3:]}"


@dataclass(frozen=True)
class Logged:
    action: str
    outcome: str
    consent_id: str
    actor_id: str
    purpose: str


def audit_of(api: Api, bsn: str) -> list[Logged]:
    """The audit entries about ``bsn``, newest first, read inside the node's unit of work."""
    with api.app.extensions["gateway"].uow() as uow:
        return [
            Logged(e.action, e.outcome, e.consent_id, e.actor_id, e.purpose)
            for e in audit_log.entries(uow.session, subject=bsn)
        ]


# --- who may consent: the edges of contract section 6 -----------------------------------


@dataclass(frozen=True)
class Case:
    """One row: a family, who performs (and who refuses or was consulted), what follows."""

    custody: str
    born: Callable[[Any], dt.date]
    performers: Callable[[Family], list[str]]
    status: int
    says: tuple[str, ...] = ()  # Dutch fragments the refusal must contain
    names: Callable[[Family], list[str]] = lambda f: []  # BSNs the refusal must name (masked)
    refused_by: Callable[[Family], list[str]] = lambda f: []
    consulted: Callable[[Family], list[str]] = lambda f: []
    subject: Callable[[Family], str] = lambda f: f.child.patient or ""  # a Patient id


def aged(years: int) -> Callable[[Any], dt.date]:
    return lambda app: born_aged(app, years)


def turning(years: int, in_days: int = 0) -> Callable[[Any], dt.date]:
    return lambda app: born_turning(app, years, in_days=in_days)


def parents(f: Family) -> list[str]:
    return [f.mother.ref, f.father.ref]


def child_and_parents(f: Family) -> list[str]:
    return [f.child.self_ref, f.mother.ref, f.father.ref]


GRANTOR_RULES = [
    pytest.param(Case("joint", aged(11), parents, 201), id="11: both parents with joint custody"),
    pytest.param(
        Case(
            "joint",
            aged(11),
            lambda f: [f.mother.ref],
            422,
            ("Toestemming ontbreekt van",),
            names=lambda f: [f.father.bsn],
        ),
        id="11: one of two custody holders missing",
    ),
    pytest.param(
        Case("joint", aged(11), child_and_parents, 422, ("Onder de 12 jaar",)), id="11: the child is not a grantor"
    ),
    pytest.param(Case("joint", turning(12), child_and_parents, 201), id="12th birthday: child and parents"),
    pytest.param(
        Case("joint", turning(12), parents, 422, ("de jongere zelf",)), id="12th birthday: parents without the child"
    ),
    pytest.param(Case("joint", turning(12, in_days=1), parents, 201), id="day before 12th birthday: parents"),
    pytest.param(
        Case("joint", turning(12, in_days=1), child_and_parents, 422, ("Onder de 12 jaar",)),
        id="day before 12th birthday: the child is not yet a grantor",
    ),
    pytest.param(
        Case(
            "joint",
            aged(13),
            lambda f: [f.child.self_ref, f.mother.ref],
            422,
            ("Toestemming ontbreekt van", "ouder met gezag"),
            names=lambda f: [f.father.bsn],
        ),
        id="13: one parent missing",
    ),
    pytest.param(
        Case(
            "joint",
            aged(13),
            lambda f: [f.child.self_ref, f.mother.ref],
            422,
            ("geweigerd door", "Eén weigering"),
            names=lambda f: [f.father.bsn],
            refused_by=lambda f: [f.father.ref],
        ),
        id="13: one custody holder refuses",
    ),
    pytest.param(Case("mother", aged(8), lambda f: [f.mother.ref], 201), id="8, split custody: mother alone"),
    pytest.param(
        Case("mother", aged(8), parents, 422, ("geen gezag",), names=lambda f: [f.father.bsn]),
        id="8, split custody: father without gezag as a grantor",
    ),
    pytest.param(
        Case(
            "mother",
            aged(8),
            lambda f: [f.father.ref],
            422,
            ("Toestemming ontbreekt van",),
            names=lambda f: [f.mother.bsn],
        ),
        id="8, split custody: father alone",
    ),
    pytest.param(
        Case("institution", aged(9), lambda f: [f.guardian.ref], 201),  # type: ignore[union-attr]
        id="9: certified institution holding guardianship",
    ),
    pytest.param(
        Case("institution", aged(9), parents, 422, ("gecertificeerde instelling", "geen gezag")),
        id="9: parents without gezag instead of the institution",
    ),
    pytest.param(
        Case("voogd", aged(9), lambda f: [f.guardian.ref], 201),  # type: ignore[union-attr]
        id="9: a voogd who is not a parent",
    ),
    pytest.param(
        Case("joint", turning(16), lambda f: [f.child.self_ref], 201), id="16th birthday: the young person alone"
    ),
    pytest.param(
        Case(
            "joint",
            turning(16),
            child_and_parents,
            422,
            ("Vanaf 16 jaar",),
            names=lambda f: [f.mother.bsn, f.father.bsn],
        ),
        id="16th birthday: parents as grantors are refused",
    ),
    pytest.param(
        Case("joint", turning(16), lambda f: [f.child.self_ref], 201, consulted=parents),
        id="16th birthday: parents recorded as consulted",
    ),
    pytest.param(Case("joint", turning(16), parents, 422, ("de persoon zelf",)), id="16th birthday: parents alone"),
    pytest.param(
        Case(
            "joint",
            turning(16, in_days=1),
            lambda f: [f.child.self_ref],
            422,
            ("Toestemming ontbreekt van",),
            names=lambda f: [f.mother.bsn, f.father.bsn],
        ),
        id="day before 16th birthday: the young person alone",
    ),
    pytest.param(
        Case("joint", aged(13), lambda f: [f.mother.self_ref], 201, subject=lambda f: f.mother.patient or ""),
        id="adult: the mother for her own data",
    ),
    pytest.param(
        Case(
            "joint",
            aged(13),
            lambda f: [f.mother.self_ref],
            422,
            ("alleen toestemming voor de eigen gegevens", "Toestemming ontbreekt van"),
            names=lambda f: [f.mother.bsn],
            subject=lambda f: f.father.patient or "",
        ),
        id="adult: the mother for the father's data",
    ),
    pytest.param(
        Case(
            "joint",
            aged(13),
            lambda f: [f.mother.ref],
            422,
            ("alleen toestemming voor de eigen gegevens",),
            names=lambda f: [f.mother.bsn],
            subject=lambda f: f.father.patient or "",
        ),
        id="adult: the mother, as the child's parent, for the father's data",
    ),
]


@pytest.mark.parametrize("case", GRANTOR_RULES)
def test_who_may_consent(api: Api, case: Case) -> None:
    family = a_family(api, custody=case.custody, born=case.born(api.app))

    resp = api.post(
        "/fhir/Consent",
        a_consent(
            case.subject(family),
            case.performers(family),
            start=today(api.app),
            refused_by=case.refused_by(family) or None,
            consulted=case.consulted(family) or None,
        ),
    )

    assert resp.status_code == case.status, resp.get_data(as_text=True)
    if case.status == 201:
        assert resp.get_json()["id"]
        # absolute and versioned (FHIR http.html#create)
        base = api.app.extensions["gateway"].config.node.url.rstrip("/")
        assert resp.headers["Location"] == f"{base}/fhir/Consent/{resp.get_json()['id']}/_history/1"
        return
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert reason(resp) == "grantors-insufficient"
    assert body["issue"][0]["code"] == "business-rule"
    text = explanation(resp)
    for fragment in case.says:
        assert fragment in text, text
    for bsn in case.names(family):
        assert masked(bsn) in text, text
    assert not re.search(r"\d{9}", text), "a refusal never spells out a BSN"


def test_a_child_with_no_custody_holder_known_cannot_be_consented_for(api: Api) -> None:
    child = api.created("/fhir/Patient", d.patient(new_bsn(), born_aged(api.app, 10), "Noor", "Jansen"))["id"]
    parent = api.created("/fhir/RelatedPerson", d.parent_of(child, new_bsn(), custody=False))["id"]

    resp = api.post("/fhir/Consent", a_consent(child, [f"RelatedPerson/{parent}"], start=today(api.app)))

    assert resp.status_code == 422
    assert reason(resp) == "grantors-insufficient"
    assert "geen gezaghebbende bekend" in explanation(resp)


def test_a_parent_of_another_child_is_not_a_grantor(api: Api) -> None:
    ours, theirs = a_family(api, child_age=9), a_family(api, child_age=9)

    resp = record(api, ours, [ours.mother.ref, theirs.father.ref])

    assert resp.status_code == 422
    assert reason(resp) == "grantors-insufficient"
    assert masked(theirs.father.bsn) in explanation(resp)


# --- malformed consents: 400, and nothing stored that would break a later read --------------


def _tamper(body: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    change(body)
    return body


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda c: c.update(status="draft"), "status must be active"),
        (lambda c: c["provision"].update(type="maybe"), "unknown provision.type"),
        (lambda c: c["provision"]["period"].update(end="2000-01-01"), "period ends before it starts"),
        (
            lambda c: c["provision"].update(purpose=[{"system": d.PURPOSE_SYSTEM, "code": "marketing"}]),
            "unknown purpose",
        ),
        (
            lambda c: c["provision"].update(code=[{"coding": [{"system": d.CATEGORY_SYSTEM, "code": "diagnosis"}]}]),
            "unknown category",
        ),
        (
            lambda c: c["provision"].update(purpose=[{"system": d.PURPOSE_SYSTEM, "code": "referral"}]),
            "categories outside the purpose's matrix",
        ),
        (
            lambda c: c["provision"]["actor"][0]["reference"]["identifier"].update(value="Jeugd Team!"),
            "receiving org id is not an org id",
        ),
        (lambda c: c["provision"].update(actor=c["provision"]["actor"][:1]), "no holder named"),
        (lambda c: c.update(performer=[{"reference": "Practitioner/1"}]), "performer is not a person"),
        (lambda c: c.update(performer=[{"reference": "RelatedPerson/nope"}]), "unknown performer"),
    ],
)
def test_a_malformed_consent_is_refused(api: Api, change: Callable[[dict[str, Any]], None], why: str) -> None:
    family = a_family(api, child_age=9)
    body = _tamper(a_consent(family.child, [family.mother.ref, family.father.ref], start=today(api.app)), change)

    resp = api.post("/fhir/Consent", body)

    assert resp.status_code == 400, why
    assert reason(resp) == "invalid-request"
    assert api.get("/fhir/Consent", query_string={"patient": family.child.patient}).status_code == 200


def test_a_consent_for_an_unknown_subject_is_404(api: Api) -> None:
    resp = api.post("/fhir/Consent", a_consent("nope", ["Patient/nope"], start=today(api.app)))

    assert resp.status_code == 404
    assert reason(resp) == "not-found"


def test_recording_a_consent_requires_the_acting_professional(api: Api) -> None:
    family = a_family(api, child_age=9)

    resp = api.post(
        "/fhir/Consent",
        a_consent(family.child, [family.mother.ref, family.father.ref], start=today(api.app)),
        practitioner=None,
    )

    assert resp.status_code == 400
    assert "X-Practitioner" in explanation(resp)


@pytest.mark.parametrize(
    "holders, recipients",
    [
        (["ggz-zuid"], [PARTNER]),
        (["ggz-zuid"], ["school-noord"]),
        ([PARTNER], ["school-noord"]),
    ],
)
def test_a_consent_this_node_is_no_party_to_is_not_recorded(
    api: Api, holders: list[str], recipients: list[str]
) -> None:
    """Issue 13 item 2: youth care tried to record a consent between ggz and a school."""
    family = a_family(api, child_age=9)
    body = d.consent(
        family.child.patient,
        [family.mother.ref, family.father.ref],
        recipients=recipients,
        holders=holders,
        purpose=PURPOSE,
        categories=list(CATEGORIES),
        start=today(api.app),
    )

    resp = api.post("/fhir/Consent", body)

    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert reason(resp) == "invalid-request"
    assert "geen partij" in explanation(resp)
    listed = api.get("/fhir/Consent", query_string={"patient": family.child.patient}).get_json()
    assert listed["total"] == 0


def test_a_consent_naming_this_node_as_recipient_only_is_recorded(api: Api) -> None:
    family = a_family(api, child_age=9)
    body = d.consent(
        family.child.patient,
        [family.mother.ref, family.father.ref],
        recipients=[HERE],
        holders=[PARTNER],
        purpose=PURPOSE,
        categories=list(CATEGORIES),
        start=today(api.app),
    )

    assert api.post("/fhir/Consent", body).status_code == 201


def test_no_token_for_an_exchange_between_two_others(api: Api) -> None:
    """A recipient among several issues a token to itself only; the holder would refuse another."""
    family = a_family(api, child_age=9)
    body = d.consent(
        family.child.patient,
        [family.mother.ref, family.father.ref],
        recipients=[HERE, "wijkteam-oost"],
        holders=[PARTNER],
        purpose=PURPOSE,
        categories=list(CATEGORIES),
        start=today(api.app),
    )
    resp = api.post("/fhir/Consent", body)
    assert resp.status_code == 201
    cid = resp.get_json()["id"]

    def issue(grantee: str) -> Any:
        return api.post(
            f"/fhir/Consent/{cid}/$issue-token",
            {"resourceType": "Parameters", "parameter": [{"name": "grantee", "valueString": grantee}]},
        )

    refused = issue("wijkteam-oost")
    assert refused.status_code == 400 and reason(refused) == "invalid-request"
    assert issue(HERE).status_code == 200


@pytest.mark.parametrize("body", [None, {"resourceType": "Parameters"}], ids=["no-body", "empty-parameters"])
def test_operations_without_input_take_an_empty_parameters_body(api: Api, body: Any) -> None:
    """Issue 13 item 10: parameter is 0..*; generic FHIR clients send an empty Parameters."""
    family = a_family(api, child_age=9)
    cid = recorded(api, family, [family.mother.ref, family.father.ref])

    issued = api.post(f"/fhir/Consent/{cid}/$issue-token", body)
    assert issued.status_code == 200, issued.get_data(as_text=True)
    assert issued.get_json()["parameter"][0]["name"] == "token"
    revoked = api.post(f"/fhir/Consent/{cid}/$revoke", body)
    assert revoked.status_code == 200, revoked.get_data(as_text=True)


@pytest.mark.parametrize(
    "body",
    [
        {"resourceType": "Parameters", "parameter": {}},
        {"resourceType": "Parameters", "parameter": [{"name": "grantee"}]},
        {"resourceType": "Patient"},
    ],
)
def test_a_malformed_parameters_body_is_still_refused(api: Api, body: Any) -> None:
    family = a_family(api, child_age=9)
    cid = recorded(api, family, [family.mother.ref, family.father.ref])

    resp = api.post(f"/fhir/Consent/{cid}/$issue-token", body)
    assert resp.status_code == 400 and reason(resp) == "invalid-request"


# --- the audit ----------------------------------------------------------------------------


def test_recording_a_consent_is_audited(api: Api) -> None:
    family = a_family(api, child_age=9)

    cid = recorded(api, family, [family.mother.ref, family.father.ref])

    [entry] = [e for e in audit_of(api, family.child.bsn) if e.action == events.CONSENT_RECORDED]
    assert entry.consent_id == cid
    assert entry.outcome == events.SUCCESS
    assert entry.actor_id == api.practitioner
    assert entry.purpose == PURPOSE


def test_a_refused_consent_is_audited_and_not_stored(api: Api) -> None:
    family = a_family(api, child_age=13)

    resp = record(api, family, [family.child.self_ref, family.mother.ref], refused_by=[family.father.ref])

    assert resp.status_code == 422
    actions = [(e.action, e.outcome) for e in audit_of(api, family.child.bsn)]
    assert (events.CONSENT_REFUSED, events.REFUSED) in actions
    assert events.CONSENT_RECORDED not in [a for a, _ in actions]
    listed = api.get("/fhir/Consent", query_string={"patient": family.child.patient}).get_json()
    assert listed["total"] == 0


# --- listing and renewal ------------------------------------------------------------------


def test_a_persons_consents_are_listed(api: Api) -> None:
    family, other = a_family(api, child_age=9), a_family(api, child_age=9)
    first = recorded(api, family, [family.mother.ref, family.father.ref])
    second = recorded(
        api, family, [family.mother.ref, family.father.ref], purpose="care-coordination", categories=("care-team",)
    )
    recorded(api, other, [other.mother.ref, other.father.ref])

    resp = api.get("/fhir/Consent", query_string={"patient": family.child.patient})

    assert resp.status_code == 200
    bundle = resp.get_json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert sorted(e["resource"]["id"] for e in bundle["entry"]) == sorted([first, second])
    assert {e["resource"]["status"] for e in bundle["entry"]} == {"active"}
    read = api.get(f"/fhir/Consent/{first}")
    assert read.status_code == 200 and read.get_json()["id"] == first


def test_listing_consents_requires_the_acting_professional(api: Api) -> None:
    resp = api.get("/fhir/Consent", query_string={"patient": "x"}, practitioner=None)

    assert resp.status_code == 400


def test_an_unknown_tag_is_refused_rather_than_ignored(api: Api) -> None:
    resp = api.get("/fhir/Consent", query_string={"_tag": "renewal"})

    assert resp.status_code == 400
    assert reason(resp) == "invalid-request"


def _renewal_flags(resource: dict[str, Any]) -> list[str]:
    return [t["display"] for t in resource.get("meta", {}).get("tag", []) if t["code"] == "renewal-due"]


def test_a_consent_given_before_the_12th_birthday_is_due_for_renewal(api: Api) -> None:
    # Noor turned 12 ten days ago; her parents consented a month ago, when she was 11.
    family = a_family(api, custody="joint", born=born_turning(api.app, 12, in_days=-10))
    fresh = a_family(api, child_age=9)
    month_ago = today(api.app) - dt.timedelta(days=30)
    with on_day(api, month_ago):
        old = api.post(
            "/fhir/Consent", a_consent(family.child, [family.mother.ref, family.father.ref], start=month_ago)
        )
        assert old.status_code == 201, old.get_data(as_text=True)
    recorded(api, fresh, [fresh.mother.ref, fresh.father.ref])

    due = api.get("/fhir/Consent", query_string={"_tag": "renewal-due"}).get_json()

    assert [e["resource"]["id"] for e in due["entry"]] == [old.get_json()["id"]]
    assert _renewal_flags(due["entry"][0]["resource"]) == ["subject-turned-12"]
    # still honoured: the parents' consent holds until she is 16; it asks for her own consent
    assert api.post(f"/fhir/Consent/{old.get_json()['id']}/$issue-token").status_code == 200


def test_parents_consent_stops_counting_at_16_and_is_due_for_renewal(api: Api) -> None:
    # The parents consented when Daan was 11 (for six years); he turned 16 last week.
    family = a_family(api, custody="joint", born=born_turning(api.app, 16, in_days=-7))
    then = years_before(today(api.app), 5)
    with on_day(api, then):
        old = api.post(
            "/fhir/Consent", a_consent(family.child, [family.mother.ref, family.father.ref], start=then, days=6 * 365)
        )
        assert old.status_code == 201, old.get_data(as_text=True)
    cid = old.get_json()["id"]

    due = api.get("/fhir/Consent", query_string={"_tag": "renewal-due", "patient": family.child.patient})
    token = api.post(f"/fhir/Consent/{cid}/$issue-token")

    assert [e["resource"]["id"] for e in due.get_json()["entry"]] == [cid]
    assert _renewal_flags(due.get_json()["entry"][0]["resource"]) == ["subject-turned-12", "subject-turned-16"]
    assert token.status_code == 403
    assert reason(token) == "consent-revoked"
    assert "16" in explanation(token)


# --- objections -----------------------------------------------------------------------------


def test_one_custody_holders_objection_stops_the_token(api: Api) -> None:
    family = a_family(api, child_age=13)
    permit = recorded(api, family, child_and_parents(family))

    objection = record(api, family, [family.father.ref], decision="deny")
    token = api.post(f"/fhir/Consent/{permit}/$issue-token")

    assert objection.status_code == 201, objection.get_data(as_text=True)
    assert token.status_code == 403
    assert reason(token) == "consent-revoked"
    listed = api.get("/fhir/Consent", query_string={"patient": family.child.patient}).get_json()
    assert sorted(e["resource"]["provision"]["type"] for e in listed["entry"]) == ["deny", "permit"]


def test_an_objection_on_another_purpose_does_not_stop_the_token(api: Api) -> None:
    family = a_family(api, child_age=13)
    permit = recorded(api, family, child_and_parents(family))
    recorded(api, family, [family.father.ref], decision="deny", purpose="referral", categories=("care-team",))

    assert api.post(f"/fhir/Consent/{permit}/$issue-token").status_code == 200


def test_a_parent_without_gezag_cannot_object(api: Api) -> None:
    family = a_family(api, child_age=8, custody="mother")

    resp = record(api, family, [family.father.ref], decision="deny")

    assert resp.status_code == 422
    assert reason(resp) == "grantors-insufficient"


def test_an_objection_gets_no_token(api: Api) -> None:
    family = a_family(api, child_age=13)
    objection = recorded(api, family, [family.mother.ref], decision="deny")

    resp = api.post(f"/fhir/Consent/{objection}/$issue-token")

    assert 400 <= resp.status_code < 500
    assert resp.get_json()["resourceType"] == "OperationOutcome"


# --- the consent token ----------------------------------------------------------------------


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _int(segment: str) -> int:
    return int.from_bytes(_b64(segment), "big")


def verify_independently(token: str, jwks: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS with raw ``cryptography`` (no JOSE library); return header, claims."""
    head, payload, sig = token.split(".")
    header = json.loads(_b64(head))
    [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    signed, signature = f"{head}.{payload}".encode(), _b64(sig)
    if header["alg"] == "ES256":
        assert jwk["kty"] == "EC" and jwk["crv"] == "P-256" and len(signature) == 64
        public = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), ec.SECP256R1()).public_key()
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        public.verify(der, signed, ec.ECDSA(hashes.SHA256()))
    else:
        assert header["alg"] in ("EdDSA", "Ed25519") and jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519"
        Ed25519PublicKey.from_public_bytes(_b64(jwk["x"])).verify(signature, signed)
    return header, json.loads(_b64(payload))


def test_the_token_carries_the_contract_claims_and_verifies_against_the_jwks(api: Api) -> None:
    family = a_family(api, child_age=13)
    cid = recorded(api, family, child_and_parents(family))

    resp = api.post(f"/fhir/Consent/{cid}/$issue-token")

    assert resp.status_code == 200, resp.get_data(as_text=True)
    params = resp.get_json()
    assert params["resourceType"] == "Parameters"
    [token] = [p["valueString"] for p in params["parameter"] if p["name"] == "token"]
    jwks = api.client.get("/.well-known/jwks.json").get_json()
    header, claims = verify_independently(token, jwks)
    assert header["typ"] == "consent+jwt" and header["alg"] == "ES256"
    now = int(api.app.extensions["gateway"].clock().timestamp())
    assert claims["iss"] == HERE
    assert claims["sub"] == family.child.bsn
    assert claims["aud"] == [HERE]
    assert claims["grantee"] == PARTNER
    assert claims["purpose"] == PURPOSE
    assert claims["categories"] == sorted(CATEGORIES)
    assert claims["consent"] == cid
    assert claims["iat"] == claims["nbf"] and abs(claims["iat"] - now) <= 60 < claims["exp"] - now
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert set(claims) == {
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
    altered = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
    with pytest.raises(InvalidSignature):
        verify_independently(altered, jwks)
    assert [e.action for e in audit_of(api, family.child.bsn)].count(events.TOKEN_ISSUED) == 1


def test_an_ed25519_node_signs_tokens_that_verify_too(make_home: Any) -> None:
    app = create_app(config.load(make_home(alg="EdDSA")))
    try:
        api = Api(app, app.test_client())
        family = a_family(api, child_age=9)
        cid = recorded(api, family, [family.mother.ref, family.father.ref])
        token = api.post(f"/fhir/Consent/{cid}/$issue-token").get_json()["parameter"][0]["valueString"]
        header, claims = verify_independently(token, api.client.get("/.well-known/jwks.json").get_json())
        assert header["typ"] == "consent+jwt" and claims["consent"] == cid
    finally:
        app.extensions["gateway"].uow.engine.dispose()


def test_a_token_for_an_organisation_the_consent_does_not_name_is_refused(api: Api) -> None:
    family = a_family(api, child_age=9)
    cid = recorded(api, family, [family.mother.ref, family.father.ref])

    resp = api.post(
        f"/fhir/Consent/{cid}/$issue-token",
        {"resourceType": "Parameters", "parameter": [{"name": "grantee", "valueString": "other-org"}]},
    )

    assert resp.status_code == 400
    assert reason(resp) == "invalid-request"


# --- revocation -----------------------------------------------------------------------------


def test_a_revoked_consent_is_inactive_and_gets_no_token(api: Api) -> None:
    family = a_family(api, child_age=9)
    cid = recorded(api, family, [family.mother.ref, family.father.ref])

    revoked = api.post(f"/fhir/Consent/{cid}/$revoke")
    again = api.post(f"/fhir/Consent/{cid}/$revoke")
    token = api.post(f"/fhir/Consent/{cid}/$issue-token")

    assert revoked.status_code == 200 and revoked.get_json()["status"] == "inactive"
    assert api.get(f"/fhir/Consent/{cid}").get_json()["status"] == "inactive"
    listed = api.get("/fhir/Consent", query_string={"patient": family.child.patient}).get_json()
    assert [e["resource"]["status"] for e in listed["entry"]] == ["inactive"]
    assert again.status_code == 409
    assert reason(again) == "conflict"
    assert token.status_code == 403
    assert reason(token) == "consent-revoked"
    revocations = [e for e in audit_of(api, family.child.bsn) if e.action == events.CONSENT_REVOKED]
    assert [e.consent_id for e in revocations] == [cid]


# --- the receipt ----------------------------------------------------------------------------


def test_the_receipt_tells_the_person_in_dutch_what_they_agreed_to(api: Api) -> None:
    family = a_family(api, child_age=9)
    start = today(api.app)
    cid = recorded(api, family, [family.mother.ref, family.father.ref], days=180)

    resp = api.get(f"/consent/{cid}/receipt")

    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert '<html lang="nl">' in page
    assert "samen een veiligheidsplan maken" in page  # the purpose, in plain Dutch
    assert "signalen dat het minder goed gaat" in page and "wie wat doet" in page  # the categories
    assert "geen" not in re.findall(r"<li>(.*?)</li>", page)

    assert f"<strong>Geldig van</strong> {_day(start)}" in page
    assert _day(start + dt.timedelta(days=180)) in page
    assert "intrekken" in page
    assert PARTNER in page
    for bsn in (family.child.bsn, family.mother.bsn, family.father.bsn):
        assert bsn not in page
    # The reference (Kenmerk) is the consent id, a random UUID: about one in seventy holds nine
    # digits in a row by chance. Everything else on the page must hold no such number.
    kenmerk = re.search(
        r"<strong>Kenmerk:</strong> ([^<]+) <span class=\"small\">\(volledig: ([^<]+)\)</span></p>", page
    )
    assert kenmerk and kenmerk.group(2) == cid and len(kenmerk.group(1)) == 9  # read out as XXXX-XXXX
    assert not re.search(r"(?<!\d)\d{9}(?!\d)", page.replace(cid, "<kenmerk>")), "no BSN-like number on the page"


def test_the_receipt_of_an_objection_does_not_read_as_consent(api: Api) -> None:
    family = a_family(api, child_age=13)
    cid = recorded(api, family, [family.mother.ref], decision="deny")

    page = api.get(f"/consent/{cid}/receipt").get_data(as_text=True)

    assert "bezwaar" in page
    assert "U heeft toestemming gegeven" not in page


def test_the_receipt_of_a_revoked_consent_says_so(api: Api) -> None:
    family = a_family(api, child_age=9)
    cid = recorded(api, family, [family.mother.ref, family.father.ref])
    api.post(f"/fhir/Consent/{cid}/$revoke")

    page = api.get(f"/consent/{cid}/receipt").get_data(as_text=True)

    assert "ingetrokken" in page


def test_the_receipt_requires_the_acting_professional(api: Api) -> None:
    family = a_family(api, child_age=9)
    cid = recorded(api, family, [family.mother.ref, family.father.ref])

    assert api.get(f"/consent/{cid}/receipt", practitioner=None).status_code == 400


# --- unknown consents -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/fhir/Consent/nope"),
        ("post", "/fhir/Consent/nope/$issue-token"),
        ("post", "/fhir/Consent/nope/$revoke"),
        ("get", "/consent/nope/receipt"),
    ],
)
def test_an_unknown_consent_is_404(api: Api, method: str, path: str) -> None:
    resp = getattr(api, method)(path)

    assert resp.status_code == 404
    assert resp.mimetype == "application/fhir+json"
    assert reason(resp) == "not-found"
