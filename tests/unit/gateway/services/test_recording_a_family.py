"""An EHR records a family: the registry's use cases on a fake store."""

from __future__ import annotations

from typing import Any

import pytest
from services_builders import EHR, NURSE, a_family, born_aged, new_bsn

from audit import events
from contract.errors import InvalidRequest, NotFound
from gateway.demo import data as d
from gateway.fhir import fhir_in
from gateway.services import lookup, registry


def actions(node: Any) -> list[str]:
    return [e.record.action for e in node.store.audit]


def test_a_mother_registered_twice_is_one_person(node: Any) -> None:
    bsn = new_bsn()
    first, created = registry.register_person(
        node, fhir_in.patient(d.patient(bsn, born_aged(node, 41), "Sanne", "Jansen"))
    )
    again, created_again = registry.register_person(
        node, fhir_in.patient(d.patient(bsn, born_aged(node, 41), "Sanne", "Jansen"))
    )
    assert (created, created_again) == (True, False)
    assert again["id"] == first["id"] and len(node.store.persons) == 1


def test_a_registration_without_a_valid_bsn_writes_nothing(node: Any) -> None:
    with pytest.raises(InvalidRequest):
        registry.register_person(node, fhir_in.patient(d.patient("123456789", born_aged(node, 41), "Sanne", "Jansen")))
    assert node.store.persons == {} and node.uow.store.commits == 0


def test_the_page_of_a_child_names_her_mother_and_the_mothers_page_names_the_child(node: Any) -> None:
    family = a_family(node)
    [mother] = lookup.parents(node, family.child)
    assert (mother.name, mother.kind, mother.custody, mother.person_id) == (
        "Sanne Jansen",
        "parent",
        True,
        family.mother,
    )
    [child] = lookup.children(node, family.mother)
    assert (child.name, child.person_id) == ("Noor Jansen", family.child)


def test_a_child_of_13_consents_together_with_her_mother_who_holds_custody(node: Any) -> None:
    family = a_family(node, child_age=13)
    required, consulted, why_not = lookup.grantors(node, family.child)
    assert why_not is None and consulted == []
    assert [g.reference for g in required] == [f"Patient/{family.child}", f"RelatedPerson/{family.mother_relation}"]
    assert required[1].label == "Sanne Jansen (ouder met gezag)"


def test_without_a_known_custody_holder_nobody_can_consent_for_a_child_of_13_yet(node: Any) -> None:
    family = a_family(node, child_age=13, mother_custody=False)
    required, consulted, why_not = lookup.grantors(node, family.child)
    assert (required, consulted) == ([], [])
    assert why_not  # the page says why, in the rules' own words


def test_the_same_parent_recorded_again_updates_the_relation(node: Any) -> None:
    family = a_family(node, mother_custody=False)
    again = registry.add_relation(
        node, fhir_in.related_person(d.parent_of(family.child, family.mother_bsn, mother=True, custody=True))
    )
    assert again["id"] == family.mother_relation and again["meta"]["versionId"] == "2"
    [mother] = lookup.parents(node, family.child)
    assert mother.custody is True


def test_a_parent_registered_by_mistake_is_removed_and_the_removal_is_audited(node: Any) -> None:
    family = a_family(node)
    registry.remove_relation(node, family.mother_relation, NURSE)
    assert lookup.parents(node, family.child) == []
    removal = node.store.audit[-1].record
    assert (removal.action, removal.subject, removal.actor_id) == (
        events.RECORD_DELETED,
        family.child_bsn,
        NURSE.actor_id,
    )
    with pytest.raises(NotFound):
        registry.remove_relation(node, family.mother_relation, NURSE)


def test_records_pushed_for_a_child_are_stored_once_and_audited_per_person(node: Any) -> None:
    family = a_family(node)
    records = [
        d.observation(family.child, "signals", "Slaapt slecht", shareable=True, source_id="epd-1"),
        d.safety_plan(family.child, source_id="epd-2"),
    ]
    written = registry.push_records(node, fhir_in.records(records, fhir_in.known_categories()), EHR)
    assert [created for _, created in written] == [True, True]
    again = registry.push_records(node, fhir_in.records(records[:1], fhir_in.known_categories()), EHR)
    assert again[0][1] is False and len(node.store.records) == 2
    assert actions(node).count(events.RECORD_WRITTEN) == 2
    assert lookup.nothing_held(node, family.child, ("signals", "care-team")) == ["care-team"]


def test_a_record_under_another_persons_source_id_is_refused_for_both_and_nothing_moves(node: Any) -> None:
    family = a_family(node)
    registry.push_records(
        node,
        fhir_in.records(
            [d.observation(family.child, "signals", "Slaapt slecht", shareable=True, source_id="epd-1")],
            fhir_in.known_categories(),
        ),
        EHR,
    )
    with pytest.raises(registry.RecordOfAnother):
        registry.push_records(
            node,
            fhir_in.records(
                [d.observation(family.mother, "signals", "Moe", shareable=True, source_id="epd-1")],
                fhir_in.known_categories(),
            ),
            EHR,
        )
    [record] = node.store.records.values()
    assert record.subject_id == family.child
    refused = [e.record for e in node.store.audit if e.record.outcome == events.REFUSED]
    assert sorted(r.subject for r in refused) == sorted([family.child_bsn, family.mother_bsn])


def test_a_withdrawn_record_is_gone_from_the_store_and_the_withdrawal_is_audited(node: Any) -> None:
    family = a_family(node)
    [(stored, _)] = registry.push_records(
        node,
        fhir_in.records(
            [d.observation(family.child, "signals", "Slaapt slecht", shareable=True, source_id="epd-1")],
            fhir_in.known_categories(),
        ),
        EHR,
    )
    registry.delete_record(node, "Observation", EHR, rid=stored["id"])
    assert node.store.records == {}
    assert node.store.audit[-1].record.action == events.RECORD_DELETED
    with pytest.raises(NotFound):
        registry.read_record(node, "Observation", stored["id"], NURSE)
