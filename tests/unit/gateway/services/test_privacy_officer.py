"""A privacy officer searches the log, reviews flags and reads entries: every read is logged."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from services_builders import NURSE, PRIVACY_OFFICER, a_family, new_bsn

from audit import events
from audit.events import AuditRecord
from contract.errors import Conflict, InvalidRequest, NotFound
from gateway.services import auditing, flag_reviews, people, probing, registry


def refused(node: Any, bsn: str, reason: str = "subject-unknown", partner: str = "jeugdteam-west") -> None:
    with node.uow() as uow:
        uow.audit.append(
            node,
            AuditRecord(
                action=events.DISCLOSURE_REFUSED,
                outcome=events.REFUSED,
                subject=bsn,
                reason_code=reason,
                actor_id=f"org:{partner}",
                actor_role="partner",
                peer_org=partner,
            ),
        )
        uow.commit()


def test_a_search_for_one_child_finds_only_her_entries_and_is_itself_logged(node: Any) -> None:
    family = a_family(node)
    registry.read_person(node, family.child, NURSE)
    registry.read_person(node, family.mother, NURSE)
    bundle = auditing.search(node, {"patient": family.child_bsn}, PRIVACY_OFFICER)
    assert bundle["total"] == 1
    [found] = bundle["entry"]
    assert found["resource"]["resourceType"] == "AuditEvent"
    search = node.store.audit[-1].record
    assert (search.action, search.actor_id, search.subject, search.count) == (
        events.AUDIT_READ,
        PRIVACY_OFFICER.actor_id,
        family.child_bsn,
        1,
    )


def test_a_search_by_patient_id_names_the_same_child(node: Any) -> None:
    family = a_family(node)
    registry.read_person(node, family.child, NURSE)
    assert auditing.search(node, {"patient": f"Patient/{family.child}"}, PRIVACY_OFFICER)["total"] == 1
    assert auditing.search(node, {"patient": "Patient/nobody"}, PRIVACY_OFFICER)["total"] == 0


def test_a_search_for_something_that_is_not_a_bsn_is_refused_and_not_logged(node: Any) -> None:
    before = len(node.store.audit)
    with pytest.raises(InvalidRequest):
        auditing.search(node, {"patient": "12345"}, PRIVACY_OFFICER)
    assert len(node.store.audit) == before


def test_a_flag_is_handled_once_and_the_handling_is_logged(node: Any) -> None:
    family = a_family(node)
    refused(node, family.child_bsn)
    flagged = node.store.audit[-1]
    flag_reviews.mark_handled(node, flagged.event_id, PRIVACY_OFFICER, "Partner gebeld: verkeerd BSN ingetypt.")
    handled = flag_reviews.handled(node, [flagged.event_id])[flagged.event_id]
    assert (handled.handled_by, handled.note) == (PRIVACY_OFFICER.actor_id, "Partner gebeld: verkeerd BSN ingetypt.")
    assert node.store.audit[-1].record.action == events.FLAG_HANDLED
    with pytest.raises(Conflict):
        flag_reviews.mark_handled(node, flagged.event_id, PRIVACY_OFFICER, "nog eens")
    assert [e.record.action for e in node.store.audit].count(events.FLAG_HANDLED) == 1


def test_an_entry_that_is_not_in_the_log_cannot_be_handled_or_read(node: Any) -> None:
    with pytest.raises(NotFound):
        flag_reviews.mark_handled(node, "no-such-entry", PRIVACY_OFFICER, "")
    with pytest.raises(NotFound):
        flag_reviews.entry(node, "no-such-entry", PRIVACY_OFFICER)
    assert node.store.flags == {} and node.store.audit == []


def test_reading_one_entry_is_logged_with_the_entry_it_read(node: Any) -> None:
    family = a_family(node)
    refused(node, family.child_bsn)
    flagged = node.store.audit[-1]
    assert flag_reviews.entry(node, flagged.event_id, PRIVACY_OFFICER).event_id == flagged.event_id
    assert node.store.audit[-1].record.detail == {"view": "entry", "event_id": flagged.event_id}


def test_a_partner_asking_about_many_unknown_people_in_a_day_is_flagged(node: Any) -> None:
    for _ in range(7):
        refused(node, new_bsn())
    today = node.clock().date()
    [probe] = probing.find(node, PRIVACY_OFFICER, date(today.year, today.month, today.day))
    assert probe.partner == "jeugdteam-west" and probe.refusals == 7
    assert node.store.audit[-1].record.detail["view"] == "probing-flags"


def test_the_professionals_named_in_a_report_are_this_nodes_own_by_their_last_login(node: Any) -> None:
    people.remember(node, NURSE.actor_id, "Anna de Vries")
    people.remember(node, NURSE.actor_id, "Anna de Vries-Bakker")
    assert people.names(node, {NURSE.actor_id, "uzi:elsewhere"}) == {NURSE.actor_id: "Anna de Vries-Bakker"}
