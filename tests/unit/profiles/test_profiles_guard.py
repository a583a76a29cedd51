"""The guard is the last check before a summary leaves the node: it fails closed (section 5)."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from profiles_builders import HOLDER, MOTHER_BSN, NOW, mother_records

from contract.errors import NotShareable
from profiles import build_summary, check_summary

ICD10 = {"system": "http://hl7.org/fhir/sid/icd-10", "code": "F32.1"}


@pytest.fixture
def good() -> dict[str, Any]:
    """A full summary the builder made; every test below breaks one thing in a copy."""
    return build_summary(
        mother_records(),
        ["signals", "safety-plan", "care-team", "parenting", "care-status"],
        holder_org=HOLDER,
        subject_bsn=MOTHER_BSN,
        exchange_id="x-1",
        request_hash=hashlib.sha256(b"r").hexdigest(),
        now=NOW,
    )


def first(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)


def refused(bundle: dict[str, Any]) -> None:
    with pytest.raises(NotShareable):
        check_summary(bundle)


def test_builder_output_passes(good: dict[str, Any]) -> None:
    check_summary(good)
    assert {e["resource"]["resourceType"] for e in good["entry"]} == {"Observation", "CarePlan", "CareTeam"}


def test_refuses_a_condition(good: dict[str, Any]) -> None:
    observation = first(good, "Observation")
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "meta": observation["meta"],
        "subject": observation["subject"],
        "code": {"coding": [ICD10]},
    }
    good["entry"].append({"fullUrl": "urn:uuid:c1", "resource": condition})
    refused(good)


@pytest.mark.parametrize(
    "kind", ["MedicationStatement", "MedicationRequest", "Medication", "DiagnosticReport", "Procedure"]
)
def test_refuses_medication_results_and_procedures(good: dict[str, Any], kind: str) -> None:
    good["entry"].append({"resource": {"resourceType": kind, "id": "m1"}})
    refused(good)


@pytest.mark.parametrize("where", ["code", "category", "valueCodeableConcept"])
def test_refuses_icd10_hidden_inside_an_allowed_observation(good: dict[str, Any], where: str) -> None:
    observation = first(good, "Observation")
    if where == "category":
        observation["category"][0]["coding"].append(ICD10)
    else:
        observation.setdefault(where, {}).setdefault("coding", []).append(ICD10)
    refused(good)


@pytest.mark.parametrize(
    "system",
    [
        "http://hl7.org/fhir/sid/icd-10-nl",
        "urn:oid:2.16.840.1.113883.6.3",
        "http://hl7.org/fhir/sid/dsm5",
        "http://snomed.info/sct",
        "http://www.whocc.no/atc",
        "urn:oid:2.16.840.1.113883.2.4.4.10",
        "http://loinc.org",
        "http://example.org/some-other-system",
    ],
)
def test_refuses_diagnostic_medication_and_unknown_code_systems(good: dict[str, Any], system: str) -> None:
    first(good, "Observation")["code"]["coding"].append({"system": system, "code": "x"})
    refused(good)


def test_refuses_a_forbidden_system_even_outside_a_coding(good: dict[str, Any]) -> None:
    first(good, "CareTeam")["participant"][0]["member"]["identifier"] = {
        "system": "http://hl7.org/fhir/sid/icd-10",
        "value": "F32",
    }
    refused(good)


def test_refuses_a_float(good: dict[str, Any]) -> None:
    first(good, "Observation")["valueInteger"] = 0.010
    refused(good)


def test_refuses_an_integer_rfc8785_cannot_carry(good: dict[str, Any]) -> None:
    good["total"] = 2**53 + 1
    refused(good)


def test_refuses_a_laboratory_observation(good: dict[str, Any]) -> None:
    first(good, "Observation")["category"].append(
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
    )
    refused(good)


def test_refuses_a_measured_value(good: dict[str, Any]) -> None:
    first(good, "Observation")["valueQuantity"] = {"value": 17, "unit": "PHQ-9"}
    refused(good)


@pytest.mark.parametrize(
    ("kind", "element", "value"),
    [
        ("Observation", "interpretation", [{"text": "ernstig"}]),
        ("CarePlan", "note", [{"text": "Behandelplan"}]),
        ("CarePlan", "addresses", [{"reference": "Condition/1"}]),
        ("CareTeam", "reasonCode", [{"text": "depressie"}]),
        ("Observation", "contained", [{"resourceType": "Condition", "id": "c"}]),
        ("Observation", "_status", {"extension": [{"url": "x", "valueString": "y"}]}),
    ],
)
def test_refuses_any_element_outside_the_profile(good: dict[str, Any], kind: str, element: str, value: Any) -> None:
    first(good, kind)[element] = value
    refused(good)


def test_refuses_a_resource_under_another_profile_or_version(good: dict[str, Any]) -> None:
    variants = []
    for profile in (
        "https://jggz-gateway.nl/fhir/StructureDefinition/jggz-signals|0.9.0",
        "https://jggz-gateway.nl/fhir/StructureDefinition/jggz-care-team|1.0.0",
    ):
        bundle = copy.deepcopy(good)
        first(bundle, "Observation")["meta"]["profile"] = [profile]
        variants.append(bundle)
    for bundle in variants:
        refused(bundle)


def test_refuses_a_category_that_does_not_match_the_profile(good: dict[str, Any]) -> None:
    first(good, "Observation")["category"][0]["coding"][0]["code"] = "parenting"
    refused(good)


def test_refuses_a_subject_named_other_than_by_bsn(good: dict[str, Any]) -> None:
    first(good, "CarePlan")["subject"] = {"reference": "Patient/1", "display": "Anna Jansen"}
    refused(good)


def test_refuses_an_extra_bundle_extension(good: dict[str, Any]) -> None:
    good["meta"]["extension"].append({"url": "https://example.org/x", "valueString": "F32.1"})
    refused(good)


@pytest.mark.parametrize(
    ("element", "value"),
    [
        ("effectiveDateTime", "gisteren"),  # fhir.resources: not a dateTime
        ("status", "entered-in-error"),  # the profile's statuses; fhir.resources checks no value sets
    ],
)
def test_refuses_what_fhir_r4_or_the_profile_refuses(good: dict[str, Any], element: str, value: str) -> None:
    first(good, "Observation")[element] = value
    refused(good)


@pytest.mark.parametrize("bundle", [None, [], {"resourceType": "Bundle", "type": "searchset"}])
def test_refuses_what_is_not_a_summary_bundle(bundle: Any) -> None:
    refused(bundle)
