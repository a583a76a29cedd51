"""Audit entries as IHE BALP AuditEvents, a search Bundle, and formula-safe CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from audit_builders import (
    HOLDER,
    MOTHER,
    REQUESTER,
    Log,
    a_disclosure,
    a_receipt,
    a_refusal,
)
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from audit import events, fhir
from audit.chain import StoredEntry
from audit.events import AuditRecord

DCM = "http://dicom.nema.org/resources/ontology/DCM"


def rendered(record: AuditRecord, org_id: str) -> tuple[StoredEntry, dict[str, Any]]:
    log = Log()
    entry = log.append(record)
    event = fhir.to_audit_event(entry, org_id=org_id, org_url=f"https://{org_id}.example/fhir")
    AuditEvent.model_validate(event)
    return entry, event


def agent(event: dict[str, Any], system: str, code: str) -> dict[str, Any]:
    found = [
        a
        for a in event["agent"]
        if any(c["system"] == system and c["code"] == code for c in a["type"].get("coding", []))
    ]
    assert len(found) == 1, (code, event["agent"])
    return found[0]


def entity(event: dict[str, Any], system: str, code: str) -> dict[str, Any]:
    found = [e for e in event["entity"] if e.get("type", {}).get("system") == system and e["type"]["code"] == code]
    assert len(found) == 1, (code, event["entity"])
    return found[0]


def test_holder_disclosure_is_a_balp_privacy_disclosure_at_the_source() -> None:
    entry, event = rendered(a_disclosure(), HOLDER)
    assert event["id"] == entry.event_id and event["recorded"] == entry.recorded_at
    assert event["meta"]["profile"] == [fhir.BALP + "PrivacyDisclosure.Source"]
    assert event["type"] == {"system": DCM, "code": "110106", "display": "Export"}
    assert event["action"] == "R" and event["outcome"] == "0"
    subtypes = {(c["system"], c["code"]) for c in event["subtype"]}
    assert (fhir.LIFECYCLE, "disclose") in subtypes
    assert (fhir.AUDIT_ACTION_SYSTEM, events.DISCLOSURE_SENT) in subtypes
    assert event["purposeOfEvent"][0]["coding"][0] == {"system": fhir.PURPOSE_SYSTEM, "code": "joint-safety-planning"}
    source = agent(event, DCM, "110153")
    assert source["who"] == event["source"]["observer"]  # BALP val-audit-source
    assert source["who"]["identifier"]["value"] == HOLDER
    recipient = agent(event, DCM, "110152")
    assert recipient["who"]["identifier"]["value"] == REQUESTER and recipient["network"]
    assert agent(event, fhir.SNOMED, "159541003")["who"]["identifier"]["value"] == HOLDER
    user = agent(event, fhir.PARTICIPATION, "IRCP")
    assert user["requestor"] is True
    assert user["who"]["identifier"] == {"system": fhir.PRACTITIONER_SYSTEMS["uzi"], "value": "900012345"}
    patient = entity(event, fhir.ENTITY_TYPE, "1")
    assert patient["role"]["code"] == "1"
    assert patient["what"]["identifier"] == {"system": fhir.BSN_SYSTEM, "value": MOTHER}
    consent = entity(event, fhir.RESOURCE_TYPES, "Consent")
    assert consent["what"]["identifier"]["value"] == "consent-42"
    exchange = entity(event, fhir.ENTITY_TYPE, "2")
    assert exchange["what"]["identifier"] == {"system": fhir.EXCHANGE_ID_SYSTEM, "value": "ex-1"}
    data = entity(event, fhir.RESOURCE_TYPES, "Bundle")
    details = {d["type"]: d["valueString"] for d in data["detail"]}
    assert details["categories"] == "signals safety-plan"
    assert details["response-sha256"] == "b" * 64 and details["peer-request-sha256"] == "c" * 64


def test_requester_receipt_is_a_balp_privacy_disclosure_at_the_recipient() -> None:
    _, event = rendered(a_receipt(), REQUESTER)
    assert event["meta"]["profile"] == [fhir.BALP + "PrivacyDisclosure.Recipient"]
    assert event["type"]["code"] == "110107" and event["action"] == "C"
    assert agent(event, DCM, "110153")["who"]["identifier"]["value"] == HOLDER
    recipient = agent(event, DCM, "110152")
    assert recipient["who"] == event["source"]["observer"]  # BALP val-audit-source
    assert agent(event, fhir.PARTICIPATION, "IRCP")["requestor"] is True
    details = {d["type"]: d["valueString"] for d in entity(event, fhir.RESOURCE_TYPES, "Bundle")["detail"]}
    assert details["peer-response-sha256"] == "b" * 64


@pytest.mark.parametrize(("outcome", "code"), [("refused", "4"), ("error", "8")])
def test_refusal_carries_outcome_and_reason(outcome: str, code: str) -> None:
    _, event = rendered(a_refusal(outcome=outcome), HOLDER)
    assert event["outcome"] == code
    assert "consent-revoked" in event["outcomeDesc"]
    assert event["type"]["code"] == "110106"


def test_safety_disclosure_is_tagged_for_review() -> None:
    record = AuditRecord(
        action=events.SAFETY_DISCLOSURE_SENT,
        outcome=events.SUCCESS,
        actor_id="agb:01234567",
        actor_role="professional",
        subject=MOTHER,
        peer_org=REQUESTER,
        legal_ground="meldcode",
        flagged=True,
        categories=("safety-plan",),
        detail={"justification": "Acuut gevaar voor het kind."},
    )
    _, event = rendered(record, HOLDER)
    assert event["meta"]["tag"][0]["code"] == "review"
    assert agent(event, fhir.PARTICIPATION, "INF")["who"]["identifier"]["system"] == (fhir.PRACTITIONER_SYSTEMS["agb"])
    assert entity(event, fhir.LEGAL_GROUND_SYSTEM, "meldcode")


@pytest.mark.parametrize("action", sorted(events.ACTIONS))
def test_every_action_renders_a_valid_audit_event(action: str) -> None:
    record = AuditRecord(
        action=action,
        outcome=events.SUCCESS,
        actor_id="uzi:1",
        actor_org=REQUESTER,
        peer_org=REQUESTER,
        consent_id="c-1",
        flagged=action in events.SAFETY_ACTIONS,
    )
    _, event = rendered(record, HOLDER)
    assert event["subtype"][-1]["code"] == action


def test_search_bundle_validates_and_counts_all_matches() -> None:
    events_ = [rendered(r, HOLDER)[1] for r in (a_disclosure(), a_refusal())]
    bundle = fhir.search_bundle(
        events_,
        7,
        "https://n.example/fhir/AuditEvent?patient=1",
        next_url="https://n.example/fhir/AuditEvent?patient=1&_offset=2",
    )
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset" and bundle["total"] == 7
    assert bundle["entry"][0]["fullUrl"] == (f"https://n.example/fhir/AuditEvent/{events_[0]['id']}")
    assert [link["relation"] for link in bundle["link"]] == ["self", "next"]


def test_csv_has_the_fixed_header_and_round_trips() -> None:
    log = Log()
    log.append(a_disclosure())
    log.append(a_refusal())
    rows = list(csv.reader(io.StringIO(fhir.to_csv(log.entries), newline="")))
    assert tuple(rows[0]) == fhir.CSV_COLUMNS
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["subject"] == MOTHER and first["actor_id"] == "uzi:900012345"
    assert first["categories"] == "signals safety-plan" and first["flagged"] == "false"
    assert first["hash"] == log.entries[0].hash
    assert first["detail"].startswith('{"consent_discussed"')
    assert "".join(fhir.iter_csv(log.entries)) == fhir.to_csv(log.entries)


@pytest.mark.parametrize("value", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_neutralises_formulas(value: str) -> None:
    log = Log()
    log.append(a_disclosure(actor_role=value, detail={"note": value}))
    rows = list(csv.reader(io.StringIO(fhir.to_csv(log.entries), newline="")))
    cells = dict(zip(rows[0], rows[1], strict=True))
    assert cells["actor_role"] == "'" + value
    for cell in rows[1]:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_a_revocation_notice_from_the_issuer_names_its_consent_without_a_broken_reference() -> None:
    # the requester hears from ggz-noord that consent c-17 there was revoked; the consent lives
    # at the issuer, so "Consent/ggz-noord/c-17" would be neither Type/id nor an absolute URL
    notice = AuditRecord(
        action=events.CONSENT_REVOKED,
        outcome=events.SUCCESS,
        actor_id="org:ggz-noord",
        actor_role="partner",
        peer_org="ggz-noord",
        consent_id="ggz-noord/c-17",
    )
    _, event = rendered(notice, REQUESTER)
    [consent] = [e for e in event["entity"] if e.get("type", {}).get("code") == "Consent"]
    assert "reference" not in consent["what"]
    assert consent["what"]["identifier"] == {"system": fhir.CONSENT_SYSTEM, "value": "ggz-noord/c-17"}


def test_a_consent_revoked_here_is_referenced_as_type_and_id() -> None:
    revoked = AuditRecord(
        action=events.CONSENT_REVOKED,
        outcome=events.SUCCESS,
        actor_id="uzi:123456",
        actor_role="professional",
        consent_id="c-17",
    )
    _, event = rendered(revoked, HOLDER)
    [consent] = [e for e in event["entity"] if e.get("type", {}).get("code") == "Consent"]
    assert consent["what"]["reference"] == "Consent/c-17"
