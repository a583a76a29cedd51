"""The behaviour-level summary a ggz holder builds for a youth-care partner (contract section 5)."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from profiles_builders import (
    BASE,
    HOLDER,
    MOTHER_BSN,
    NOW,
    category,
    safety_plan,
    shareable,
    signals_shareable,
)

import profiles
from contract.errors import InvalidRequest
from profiles import build_summary
from profiles.catalog import load_matrix
from profiles.guard import check_summary

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EXCHANGE_ID = "3f2c0a4e-8d1b-4c55-9a7e-0d2b6f1c9e01"
REQUEST_HASH = hashlib.sha256(b"the $behaviour-summary Parameters").hexdigest()


def summarise(records: list[dict[str, Any]], categories: list[str], **overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "holder_org": HOLDER,
        "subject_bsn": MOTHER_BSN,
        "exchange_id": EXCHANGE_ID,
        "request_hash": REQUEST_HASH,
        "now": NOW,
        **overrides,
    }
    return build_summary(records, categories, **arguments)


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle.get("entry", [])]


def categories_of(bundle: dict[str, Any]) -> set[str]:
    return {c["coding"][0]["code"] for r in resources(bundle) for c in r["category"]}


@pytest.fixture
def summary(mother_records: list[dict[str, Any]]) -> dict[str, Any]:
    return summarise(mother_records, ["signals", "safety-plan", "care-team"])


def test_summary_for_the_youth_care_partner_holds_no_diagnosis_medication_or_treatment_note(
    summary: dict[str, Any],
) -> None:
    # Random UUIDs are hex: about one in two hundred holds "f32" by chance, so they are left out of
    # the text searched. The record contents are what must not leak.
    text = _UUID.sub("<uuid>", json.dumps(summary, ensure_ascii=False).lower())
    for leak in (
        "f32",
        "296.22",
        "icd",
        "dsm",
        "snomed",
        "35489007",
        "n06ab06",
        "sertraline",
        "behandelnotitie",
        "emdr",
        "behandelplan",
        "depress",
        "phq",
        "ernstig",
    ):
        assert leak not in text, leak
    assert all(r["resourceType"] in {"Observation", "CarePlan", "CareTeam"} for r in resources(summary))


def test_shareable_note_goes_out_and_unmarked_record_keeps_only_its_structure(
    summary: dict[str, Any],
) -> None:
    observations = [r for r in resources(summary) if r["resourceType"] == "Observation"]
    notes = [n["text"] for r in observations for n in r.get("note", [])]
    assert notes == ["Bij terugtrekken: bel de wijkcoach, zij kent het gezin."]
    unmarked = [r for r in observations if r.get("effectiveDateTime") == "2025-03-02"]
    assert len(unmarked) == 1
    assert "note" not in unmarked[0] and "text" not in unmarked[0]["code"]
    assert unmarked[0]["code"]["coding"][0]["code"] == "signals"


def test_categories_not_requested_stay_home(summary: dict[str, Any]) -> None:
    assert categories_of(summary) == {"signals", "safety-plan", "care-team"}
    assert "grenzen stellen" not in json.dumps(summary, ensure_ascii=False)


def test_safety_plan_says_who_acts_and_how(summary: dict[str, Any]) -> None:
    (plan,) = [r for r in resources(summary) if r["resourceType"] == "CarePlan"]
    assert plan["title"] == "Gezamenlijk veiligheidsplan"
    assert plan["activity"] == [
        {
            "detail": {
                "status": "scheduled",
                "description": "Oma haalt de kinderen op en belt de wijkcoach.",
                "performer": [{"display": "Oma (moeder van moeder)"}],
            }
        }
    ]
    assert "note" not in plan and "addresses" not in plan


def test_care_team_names_the_case_coordinator_and_a_phone_number(summary: dict[str, Any]) -> None:
    (team,) = [r for r in resources(summary) if r["resourceType"] == "CareTeam"]
    assert team["participant"][0] == {
        "role": [{"text": "Casusregisseur"}],
        "member": {"display": "R. Bakker"},
        "onBehalfOf": {"display": "GGZ Noord"},
    }
    assert team["telecom"] == [{"system": "phone", "value": "050-1234567", "use": "work"}]
    assert "identifier" not in team["participant"][1]["member"]


def test_person_is_named_by_bsn_only_and_source_ids_never_leak(summary: dict[str, Any]) -> None:
    text = json.dumps(summary, ensure_ascii=False)
    assert "Anna" not in text and "src-" not in text and "Patient/" not in text
    for resource in resources(summary):
        assert resource["subject"] == {
            "identifier": {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": MOTHER_BSN}
        }
        assert resource["meta"]["source"] == HOLDER
        uuid.UUID(resource["id"])
    ids = [r["id"] for r in resources(summary)]
    assert len(set(ids)) == len(ids)
    assert [e["fullUrl"] for e in summary["entry"]] == [f"urn:uuid:{i}" for i in ids]


def test_bundle_carries_exchange_id_request_hash_and_profile_version(summary: dict[str, Any]) -> None:
    assert summary["type"] == "collection"
    assert summary["id"] == EXCHANGE_ID
    assert summary["identifier"] == {
        "system": "https://jggz-gateway.nl/fhir/NamingSystem/exchange-id",
        "value": EXCHANGE_ID,
    }
    assert summary["meta"]["extension"] == [
        {
            "url": "https://jggz-gateway.nl/fhir/StructureDefinition/request-sha256",
            "valueString": REQUEST_HASH,
        }
    ]
    assert summary["meta"]["profile"] == [
        f"https://jggz-gateway.nl/fhir/StructureDefinition/behaviour-summary|{profiles.PROFILE_VERSION}"
    ]
    assert summary["timestamp"] == "2025-03-14T09:30:00Z"
    for resource in resources(summary):
        assert resource["meta"]["profile"][0].endswith(f"|{profiles.PROFILE_VERSION}")
    Bundle.model_validate(summary)


def test_record_tagged_with_two_categories_shows_only_the_requested_one() -> None:
    record = signals_shareable()
    record["category"] += category("parenting")
    (resource,) = resources(summarise([record], ["parenting"]))
    assert resource["category"] == [
        {"coding": [{"system": BASE + "summary-category", "code": "parenting", "display": "Ouderschap"}]}
    ]


def test_withdrawn_or_draft_record_is_left_out() -> None:
    withdrawn, draft = signals_shareable(), safety_plan()
    withdrawn["status"], draft["status"] = "entered-in-error", "draft"
    assert "entry" not in summarise([withdrawn, draft], ["signals", "safety-plan"])


def test_care_status_keeps_our_code_and_drops_any_other() -> None:
    in_care = shareable(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": category("care-status"),
            "code": {"text": "In behandeling wegens psychose"},
            "valueCodeableConcept": {
                "coding": [
                    {"system": "http://snomed.info/sct", "code": "69322001"},
                    {"system": BASE + "care-status", "code": "in-care-reachable", "display": "eigen tekst"},
                ]
            },
            "effectivePeriod": {"start": "2024-11-01"},
            "performer": [{"reference": "Organization/src-org", "display": "GGZ Noord"}],
        }
    )
    (resource,) = resources(summarise([in_care], ["care-status"]))
    assert resource["valueCodeableConcept"] == {
        "coding": [{"system": BASE + "care-status", "code": "in-care-reachable", "display": "In zorg, bereikbaar"}]
    }
    assert "psychose" not in json.dumps(resource) and resource["code"].get("text") is None
    assert resource["performer"] == [{"display": "GGZ Noord"}]


def test_record_whose_type_does_not_fit_its_category_is_left_out() -> None:
    plan_as_signals = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "category": category("signals"),
        "subject": {"reference": "Patient/1"},
    }
    assert "entry" not in summarise([plan_as_signals], ["signals"])


@pytest.mark.parametrize("categories", [["diagnosis"], [], "signals"])
def test_unknown_or_missing_category_is_an_invalid_request(categories: Any) -> None:
    with pytest.raises(InvalidRequest):
        summarise([], categories)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("exchange_id", "not a fhir id!"),
        ("request_hash", "ABC"),
        ("subject_bsn", "１１１２２２３３３"),
        ("holder_org", "ggz noord"),
    ],
)
def test_malformed_binding_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(InvalidRequest):
        summarise([], ["signals"], **{name: value})


def test_naive_clock_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone"):
        summarise([], ["signals"], now=datetime(2025, 3, 14, 9, 30))  # noqa: DTZ001 - naive on purpose: refused


def test_source_records_are_not_modified(mother_records: list[dict[str, Any]]) -> None:
    before = json.dumps(mother_records, sort_keys=True)
    summarise(mother_records, ["signals", "safety-plan", "care-team", "parenting", "care-status"])
    assert json.dumps(mother_records, sort_keys=True) == before


def test_what_the_builder_emits_for_every_category_is_valid_fhir(mother_records: list[dict[str, Any]]) -> None:
    """The builder's guard leaves FHIR datatype validation to the recipient, so the builder's
    output must pass it: the recipient's full guard accepts every category's summary."""
    everything = sorted({c for cs in load_matrix().values() for c in cs})
    for categories in [[c] for c in everything] + [everything]:
        built = summarise(mother_records, categories)
        Bundle.model_validate(built)
        check_summary(built)  # the recipient's check, schema included
