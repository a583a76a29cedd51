"""Safety disclosure (contract section 4): only the holder starts it, on a legal ground, with
a justification; the summary is pushed signed and both sides audit it flagged for review.

The story: the SPV at GGZ Noord sees that the mother is losing balance and that the
children are at risk; under the meldcode she informs the youth team without consent.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests
from joserfc.jwk import ECKey, KeySet

from audit import events
from gateway.demo import data as d
from gateway.trust import signing

pytestmark = pytest.mark.scenario

SPV = "uzi:900000111"
JUSTIFICATION = "Moeder is ernstig ontregeld en alleen met de kinderen; meldcode stap 5, overleg gehad."


@pytest.fixture(scope="module")
def professionals(fed) -> dict[str, Any]:
    """A professional client on each side (role ``professional``), once per federation."""
    fed.ggz.add_client("ggz-spv", "professional")
    fed.jeugd.add_client("jeugd-wijkcoach", "professional")
    return {"ggz": fed.ggz.session("ggz-spv", SPV), "jeugd": fed.jeugd.session("jeugd-wijkcoach", "uzi:900000222")}


def disclosure(
    recipient: str = "jeugdteam-west",
    *,
    subject: str = d.bsn(1),
    categories: tuple[str, ...] = ("signals", "safety-plan"),
    ground: str = "meldcode",
    justification: str | None = JUSTIFICATION,
) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "recipient", "valueString": recipient},
        {"name": "subject", "valueIdentifier": {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": subject}},
        {"name": "legal-ground", "valueCode": ground},
    ]
    params += [{"name": "category", "valueCoding": {"system": d.CATEGORY_SYSTEM, "code": c}} for c in categories]
    if justification is not None:
        params.append({"name": "justification", "valueString": justification})
    return {"resourceType": "Parameters", "parameter": params}


def test_the_holder_pushes_a_signed_summary_and_both_sides_flag_it(fed, professionals) -> None:
    resp = professionals["ggz"].post("/fhir/$safety-disclosure", disclosure())
    assert resp.status_code == 200, resp.text
    values = {p["name"]: p for p in resp.json()["parameter"]}
    assert values["status"]["valueCode"] == "delivered"
    exchange_id = values["exchange-id"]["valueString"]

    [sent] = fed.audit(fed.ggz, action=events.SAFETY_DISCLOSURE_SENT, exchange_id=exchange_id)
    [received] = fed.audit(fed.jeugd, action=events.SAFETY_DISCLOSURE_RECEIVED, exchange_id=exchange_id)
    for record in (sent, received):
        assert record["flagged"] is True and record["legal_ground"] == "meldcode", record
        assert record["subject"] == d.bsn(1) and record["outcome"] == events.SUCCESS
        assert record["detail"]["justification"] == JUSTIFICATION
    assert sent["actor_id"] == SPV and sent["peer_org"] == "jeugdteam-west"
    assert received["actor_id"] == SPV and received["peer_org"] == "ggz-noord"
    assert sent["response_hash"] == received["response_hash"]

    # The youth team's professional finds it, verifiable against GGZ Noord's published key.
    inbox = professionals["jeugd"].get("/fhir/Bundle")
    assert inbox.status_code == 200, inbox.text
    [bundle] = [e["resource"] for e in inbox.json()["entry"] if e["resource"]["identifier"]["value"] == exchange_id]
    jwks = requests.get(fed.ggz.url + "/.well-known/jwks.json", timeout=10).json()
    signing.verify_bundle(bundle, KeySet.import_key_set(jwks))
    text = json.dumps(bundle, ensure_ascii=False)
    assert "Slaapt slecht" in text and "Oma vangt de kinderen op" in text
    assert "F33.1" not in text and "sertraline" not in text and "Brengt de kinderen" not in text
    # opening the inbox is looking at the child's data: audited with the professional who looked
    [looked] = fed.audit(fed.jeugd, action=events.RECORD_VIEWED)[:1]
    assert (looked["subject"], looked["detail"]["view"]) == (d.bsn(1), "inbox")  # one inbox for both kinds
    assert looked["actor_id"] == professionals["jeugd"].practitioner


@pytest.mark.parametrize("justification", [None, "", "   \t ", "zorgen"], ids=["absent", "empty", "blank", "too-short"])
def test_a_justification_is_required(fed, professionals, justification: str | None) -> None:
    before = len(fed.audit(fed.ggz, action=events.SAFETY_DISCLOSURE_SENT))
    resp = professionals["ggz"].post("/fhir/$safety-disclosure", disclosure(justification=justification))
    fed.refused(resp, 400, "invalid-request")
    assert len(fed.audit(fed.ggz, action=events.SAFETY_DISCLOSURE_SENT)) == before


@pytest.mark.parametrize("ground", ["zorgen", "consent", "MELDCODE"])
def test_only_the_two_legal_grounds(fed, professionals, ground: str) -> None:
    fed.refused(
        professionals["ggz"].post("/fhir/$safety-disclosure", disclosure(ground=ground)), 400, "invalid-request"
    )


def test_conflict_of_duties_is_the_other_ground(fed, professionals) -> None:
    resp = professionals["ggz"].post(
        "/fhir/$safety-disclosure", disclosure(ground="conflict-of-duties", categories=("care-team",))
    )
    assert resp.status_code == 200, resp.text
    exchange_id = resp.json()["parameter"][0]["valueString"]
    [received] = fed.audit(fed.jeugd, action=events.SAFETY_DISCLOSURE_RECEIVED, exchange_id=exchange_id)
    assert received["legal_ground"] == "conflict-of-duties" and received["flagged"] is True


def test_a_justification_the_audit_cannot_keep_is_refused_not_crashed(fed, professionals) -> None:
    resp = professionals["ggz"].post(
        "/fhir/$safety-disclosure",
        disclosure(justification="Zie het token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.abc voor de details"),
    )
    fed.refused(resp, 400, "invalid-request")


def test_only_a_professional_may_start_one(fed) -> None:
    fed.refused(fed.ggz.session("ggz-epd").post("/fhir/$safety-disclosure", disclosure()), 403, "forbidden")


def test_an_unknown_recipient_or_subject_gets_nothing(fed, professionals) -> None:
    fed.refused(
        professionals["ggz"].post("/fhir/$safety-disclosure", disclosure("onbekend-team")), 400, "invalid-request"
    )
    fed.refused(
        professionals["ggz"].post("/fhir/$safety-disclosure", disclosure(subject=d.bsn(41))), 404, "subject-unknown"
    )


def test_the_requester_cannot_start_one_at_the_holder(fed) -> None:
    """Jeugdteam West, authenticated as a partner at GGZ Noord, finds no way to make it disclose."""
    before = len(fed.audit(fed.ggz, action=events.SAFETY_DISCLOSURE_SENT))
    partner = fed.as_partner(fed.jeugd)
    fed.refused(partner.post("safety-disclosure", disclosure("jeugdteam-west")), 403, "forbidden")
    fed.refused(partner.post("request-safety-disclosure", disclosure("jeugdteam-west")), 404, "not-found")
    assert len(fed.audit(fed.ggz, action=events.SAFETY_DISCLOSURE_SENT)) == before


def _pushed(bundle: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "summary", "resource": bundle},
            {"name": "legal-ground", "valueCode": "meldcode"},
            {"name": "justification", "valueString": JUSTIFICATION},
            {"name": "practitioner", "valueIdentifier": {"value": SPV}},
        ],
    }


def test_the_recipient_verifies_what_is_pushed(fed, professionals) -> None:
    """A push that is replayed, or signed by a key the sender never published, is refused."""
    resp = professionals["ggz"].post("/fhir/$safety-disclosure", disclosure(categories=("care-team",)))
    exchange_id = resp.json()["parameter"][0]["valueString"]
    [bundle] = [
        e["resource"]
        for e in professionals["jeugd"].get("/fhir/Bundle").json()["entry"]
        if e["resource"]["identifier"]["value"] == exchange_id
    ]
    as_ggz = fed.as_partner(fed.ggz, fed.jeugd)
    fed.refused(as_ggz.post("receive-disclosure", _pushed(bundle)), 401, "replay")

    key = ECKey.generate_key("P-256", private=True)
    unsigned = {k: v for k, v in bundle.items() if k != "signature"}
    forged = signing.sign_bundle(
        dict(unsigned, id="forged-1", identifier=dict(bundle["identifier"], value="forged-1")),
        key,
        kid=key.thumbprint(),
        alg="ES256",
        signer_ref="ggz-noord",
        now=datetime.now(UTC),
    )
    fed.refused(as_ggz.post("receive-disclosure", _pushed(forged)), 502, "bad-partner-signature")
    assert all(e["resource"]["id"] != "forged-1" for e in professionals["jeugd"].get("/fhir/Bundle").json()["entry"])

    # both refusals are in the recipient's log, flagged for its privacy officer: the replay
    # under the exchange id it reused, the forgery without one (nothing in it is vouched for)
    forgery, replay = _refused_at(fed, fed.jeugd)[:2]
    assert (replay["reason_code"], replay["exchange_id"]) == ("replay", exchange_id)
    assert (forgery["reason_code"], forgery["exchange_id"]) == ("bad-partner-signature", "")
    assert all(r["flagged"] and r["peer_org"] == "ggz-noord" for r in (forgery, replay))


def _refused_at(fed, node) -> list[dict[str, Any]]:
    """Safety disclosures ``node`` refused, newest first."""
    return [r for r in fed.audit(node, action=events.SAFETY_DISCLOSURE_RECEIVED) if r["outcome"] == events.REFUSED]


def test_a_push_the_recipient_cannot_read_is_refused_and_flagged(fed) -> None:
    """Jeugdteam West refuses a push it cannot read, before it looks at any Bundle, and its
    privacy officer finds each one in the log: who sent it, when, and why it was refused."""
    as_ggz = fed.as_partner(fed.ggz, fed.jeugd)
    unknown_ground = dict(_pushed({"resourceType": "Bundle"}))
    unknown_ground["parameter"] = [
        dict(p, valueCode="uitzondering") if p["name"] == "legal-ground" else p for p in unknown_ground["parameter"]
    ]
    fed.refused(as_ggz.post("receive-disclosure", unknown_ground), 400, "invalid-request")
    not_json = requests.post(
        f"{fed.jeugd.url}/fhir/$receive-disclosure",
        data=b'{"resourceType": "Parameters", "parameter": [',
        timeout=30,
        headers={"Authorization": f"Bearer {as_ggz.token}", "Content-Type": "application/fhir+json"},
    )
    fed.refused(not_json, 400, "invalid-request")
    broken, unknown = _refused_at(fed, fed.jeugd)[:2]
    assert unknown["request_hash"] and not broken["request_hash"]  # a body that never parsed has no hash
    assert all(
        (r["reason_code"], r["flagged"], r["peer_org"], r["subject"]) == ("invalid-request", True, "ggz-noord", "")
        for r in (broken, unknown)
    )


def test_a_recipient_that_is_down_leaves_an_error_in_the_holders_log(fed, professionals) -> None:
    """The disclosure was audited before the push; the failed push is audited as well."""
    fed.oost.stop()
    try:
        resp = professionals["ggz"].post("/fhir/$safety-disclosure", disclosure("wijkteam-oost"))
    finally:
        fed.oost.start(env={"GATEWAY_PARTNERS_READ_TIMEOUT": "2"})
    fed.refused(resp, 502, "partner-unavailable")
    [failed, sent] = fed.audit(fed.ggz, action=events.SAFETY_DISCLOSURE_SENT)[:2]
    assert failed["outcome"] == events.ERROR and failed["reason_code"] == "partner-unavailable"
    assert sent["outcome"] == events.SUCCESS and sent["exchange_id"] == failed["exchange_id"]
    assert failed["flagged"] is True and failed["peer_org"] == "wijkteam-oost"


# --- issue 20.7: nothing to send is not "delivered"; an unknown person is flagged ---------


def test_a_disclosure_with_nothing_in_it_is_refused_and_nothing_is_sent(fed, professionals) -> None:
    before = len(fed.audit(fed.jeugd, action=events.SAFETY_DISCLOSURE_RECEIVED))
    # the mother has no care-status record at GGZ Noord: a push would carry nothing
    resp = professionals["ggz"].post("/fhir/$safety-disclosure", disclosure(categories=("care-status",)))

    fed.refused(resp, 400, "invalid-request")
    assert "niets verstuurd" in resp.json()["issue"][0]["details"]["text"]
    assert len(fed.audit(fed.jeugd, action=events.SAFETY_DISCLOSURE_RECEIVED)) == before


def test_a_disclosure_about_someone_the_recipient_does_not_know_is_kept_and_marked(fed, professionals) -> None:
    stranger = d.bsn(43)
    epd = fed.ggz.session("ggz-epd", "uzi:900000101")
    pid = epd.post("/fhir/Patient", d.patient(stranger, date(1985, 1, 2), "Kim", "Vos")).json()["id"]
    epd.post(
        "/fhir/Observation",
        d.observation(pid, "signals", "Is onvindbaar sinds gisteren.", shareable=True, source_id="sig-kim"),
    ).raise_for_status()

    resp = professionals["ggz"].post("/fhir/$safety-disclosure", disclosure(subject=stranger, categories=("signals",)))

    assert resp.status_code == 200, resp.text
    exchange_id = resp.json()["parameter"][0]["valueString"]
    [received] = fed.audit(fed.jeugd, action=events.SAFETY_DISCLOSURE_RECEIVED, exchange_id=exchange_id)
    assert received["subject"] == stranger and received["detail"]["subject_known"] is False
