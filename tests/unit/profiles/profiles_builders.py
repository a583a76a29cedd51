"""Builders for the profile tests: a mother in adult mental health care and her records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

BASE = "https://jggz-gateway.nl/fhir/CodeSystem/"
MOTHER_BSN = "111222333"
HOLDER = "ggz-noord"
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def category(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": BASE + "summary-category", "code": code}]}]


def shareable(record: dict[str, Any]) -> dict[str, Any]:
    """Mark a record the way its author does when its free text may leave the node."""
    record.setdefault("meta", {}).setdefault("tag", []).append({"system": BASE + "disclosure", "code": "shareable"})
    return record


def mother_subject() -> dict[str, Any]:
    return {"reference": "Patient/src-pat-1", "display": "Anna Jansen"}


def signals_shareable() -> dict[str, Any]:
    return shareable(
        {
            "resourceType": "Observation",
            "id": "src-obs-signals",
            "status": "final",
            "category": category("signals"),
            "subject": mother_subject(),
            "code": {"text": "Vroegsignalen moeder"},
            "effectiveDateTime": "2025-03-01",
            "valueString": "Trekt zich terug, neemt telefoon niet op",
            "note": [{"text": "Bij terugtrekken: bel de wijkcoach, zij kent het gezin.", "authorString": "R. Bakker"}],
        }
    )


def signals_treatment_note() -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "src-obs-treatment",
        "status": "final",
        "category": category("signals"),
        "subject": mother_subject(),
        "code": {"text": "Behandelverloop"},
        "effectiveDateTime": "2025-03-02",
        "note": [{"text": "Behandelnotitie: EMDR-sessie 4, sertraline opgehoogd."}],
    }


def depression_condition() -> dict[str, Any]:
    # Tagged with a summary category on purpose: a Condition must never pass for one.
    return shareable(
        {
            "resourceType": "Condition",
            "id": "src-cond-1",
            "subject": mother_subject(),
            "category": category("signals"),
            "clinicalStatus": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
            },
            "code": {
                "coding": [
                    {"system": "http://hl7.org/fhir/sid/icd-10", "code": "F32.1", "display": "Depressieve episode"},
                    {"system": "http://hl7.org/fhir/sid/dsm5", "code": "296.22"},
                ],
                "text": "Matige depressieve episode",
            },
        }
    )


def mood_observation_with_codes() -> dict[str, Any]:
    return shareable(
        {
            "resourceType": "Observation",
            "id": "src-obs-mood",
            "status": "final",
            "category": [
                *category("signals"),
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}
                    ]
                },
            ],
            "subject": mother_subject(),
            "code": {
                "coding": [
                    {"system": "http://snomed.info/sct", "code": "35489007", "display": "Depressive disorder"},
                    {"system": "http://www.whocc.no/atc", "code": "N06AB06", "display": "sertraline"},
                ],
                "text": "Stemming",
            },
            "effectiveDateTime": "2025-03-03",
            "valueQuantity": {"value": 17, "unit": "PHQ-9"},
            "interpretation": [{"text": "ernstig"}],
        }
    )


def safety_plan() -> dict[str, Any]:
    return shareable(
        {
            "resourceType": "CarePlan",
            "id": "src-cp-1",
            "status": "active",
            "intent": "plan",
            "category": category("safety-plan"),
            "subject": mother_subject(),
            "title": "Gezamenlijk veiligheidsplan",
            "description": "Wat we doen als moeder in een crisis raakt.",
            "period": {"start": "2025-03-01"},
            "author": {"reference": "Practitioner/src-pr-1", "display": "R. Bakker"},
            "addresses": [{"reference": "Condition/src-cond-1"}],
            "note": [{"text": "Behandelplan: medicatie-evaluatie in april."}],
            "activity": [
                {
                    "detail": {
                        "status": "scheduled",
                        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "225337009"}]},
                        "description": "Oma haalt de kinderen op en belt de wijkcoach.",
                        "performer": [{"reference": "RelatedPerson/src-rp-1", "display": "Oma (moeder van moeder)"}],
                    }
                }
            ],
        }
    )


def care_team() -> dict[str, Any]:
    return shareable(
        {
            "resourceType": "CareTeam",
            "id": "src-ct-1",
            "status": "active",
            "category": category("care-team"),
            "subject": mother_subject(),
            "name": "Zorgteam moeder",
            "participant": [
                {
                    "role": [
                        {
                            "text": "Casusregisseur",
                            "coding": [{"system": "http://snomed.info/sct", "code": "768730001"}],
                        }
                    ],
                    "member": {"reference": "Practitioner/src-pr-1", "display": "R. Bakker"},
                    "onBehalfOf": {"display": "GGZ Noord"},
                },
                {
                    "role": [{"text": "Psychiater"}],
                    "member": {
                        "reference": "Practitioner/src-pr-2",
                        "display": "Dr. K. Smit",
                        "identifier": {"system": "http://fhir.nl/fhir/NamingSystem/uzi-nr-pers", "value": "123"},
                    },
                },
            ],
            "managingOrganization": [{"reference": "Organization/src-org", "display": "GGZ Noord"}],
            "telecom": [{"system": "phone", "value": "050-1234567", "use": "work", "rank": 1}],
        }
    )


def parenting_observation() -> dict[str, Any]:
    return shareable(
        {
            "resourceType": "Observation",
            "id": "src-obs-parenting",
            "status": "final",
            "category": category("parenting"),
            "subject": mother_subject(),
            "code": {"text": "Opvoedgedrag"},
            "valueString": "Kan grenzen stellen, mist structuur.",
        }
    )


def mother_records() -> list[dict[str, Any]]:
    """The ggz record set of a mother whose child is in youth care."""
    return [
        signals_shareable(),
        signals_treatment_note(),
        depression_condition(),
        mood_observation_with_codes(),
        safety_plan(),
        care_team(),
        parenting_observation(),
    ]
