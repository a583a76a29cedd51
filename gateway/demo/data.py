"""Synthetic families for the demo and the scenario tests (no real person's data).

BSNs are made-up numbers that pass the eleven-test.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from contract import systems
from gateway.fhir.fhir_in import (
    BSN_SYSTEM,
    CATEGORY_SYSTEM,
    DISCLOSURE_SYSTEM,
    EXT,
    PURPOSE_SYSTEM,
    ROLECODE,
)
from gateway.web.forms import consent_actors

ORG_ID_SYSTEM = systems.ORG_ID_SYSTEM
CARE_STATUS_SYSTEM = systems.CARE_STATUS_SYSTEM


def bsn(seed: int) -> str:
    """A made-up BSN passing the eleven-test, derived from ``seed``."""
    n = 100000000 + seed * 97
    while True:
        digits = [int(c) for c in f"{n:09d}"]
        total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - digits[8]
        if total % 11 == 0 and n % 10**9 != 0:
            return f"{n:09d}"
        n += 1


def patient(bsn_: str, birth: date, given: str, family: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": BSN_SYSTEM, "value": bsn_}],
        "name": [{"given": [given], "family": family}],
        "birthDate": birth.isoformat(),
    }


def parent_of(child_id: str, parent_bsn: str, *, mother: bool = True, custody: bool = True) -> dict[str, Any]:
    codes = [{"system": ROLECODE, "code": "MTH" if mother else "FTH"}]
    if custody:
        codes.append({"system": ROLECODE, "code": "GUARD"})
    return {
        "resourceType": "RelatedPerson",
        "patient": {"reference": f"Patient/{child_id}"},
        "identifier": [{"system": BSN_SYSTEM, "value": parent_bsn}],
        "relationship": [{"coding": codes}],
    }


def guardian_institution(child_id: str, org_id: str) -> dict[str, Any]:
    return {
        "resourceType": "RelatedPerson",
        "patient": {"reference": f"Patient/{child_id}"},
        "identifier": [{"system": ORG_ID_SYSTEM, "value": org_id}],
        "relationship": [{"coding": [{"system": ROLECODE, "code": "GUARD"}]}],
    }


def record_meta(shareable: bool) -> dict[str, Any]:
    return {"tag": [{"system": DISCLOSURE_SYSTEM, "code": "shareable"}]} if shareable else {}


def category_of(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": CATEGORY_SYSTEM, "code": code}]}]


def observation(
    patient_id: str,
    category: str,
    text: str,
    *,
    shareable: bool,
    source_id: str,
    extra_codings: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    res = {
        "resourceType": "Observation",
        "status": "final",
        "category": category_of(category),
        "identifier": [{"system": systems.DEMO_EHR_URN, "value": source_id}],
        "code": {**({"coding": extra_codings} if extra_codings else {}), "text": text},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2026-11-02T10:00:00+01:00",
        "valueString": text,
        "note": [{"text": text}],
    }
    if record_meta(shareable):
        res["meta"] = record_meta(shareable)
    return res


def safety_plan(patient_id: str, *, source_id: str) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "category": category_of("safety-plan"),
        "identifier": [{"system": systems.DEMO_EHR_URN, "value": source_id}],
        "meta": record_meta(True),
        "title": "Gezamenlijk veiligheidsplan",
        "subject": {"reference": f"Patient/{patient_id}"},
        "description": "Als moeder signalen van terugval toont, belt zij of oma de wijkcoach; "
        "de kinderen gaan dan naar oma.",
        "period": {"start": "2026-10-01"},
        "activity": [
            {
                "detail": {
                    "status": "in-progress",
                    "description": "Oma vangt de kinderen op bij terugval (tel. 06-12345678).",
                    "performer": [{"display": "Oma (moeders kant)"}],
                }
            },
            {
                "detail": {
                    "status": "in-progress",
                    "description": "Wijkcoach belt binnen een dag na een signaal.",
                    "performer": [{"display": "Wijkcoach jeugdteam"}],
                }
            },
        ],
    }


def care_team(patient_id: str, *, source_id: str) -> dict[str, Any]:
    return {
        "resourceType": "CareTeam",
        "status": "active",
        "category": category_of("care-team"),
        "identifier": [{"system": systems.DEMO_EHR_URN, "value": source_id}],
        "meta": record_meta(True),
        "name": "Behandelteam volwassenen",
        "subject": {"reference": f"Patient/{patient_id}"},
        "participant": [
            {"role": [{"text": "Casusregisseur"}], "member": {"display": "J. de Vries, SPV"}},
            {"role": [{"text": "Behandelaar"}], "member": {"display": "Dr. A. Bakker"}},
        ],
        "telecom": [{"system": "phone", "value": "050-1234567", "use": "work"}],
    }


def diagnosis(patient_id: str) -> dict[str, Any]:
    """A ggz record that must never leave: a diagnosis hidden in an Observation in an allowed category."""
    return observation(
        patient_id,
        "signals",
        "Recidiverende depressieve stoornis, behandeling met sertraline",
        shareable=False,
        source_id="diag-1",
        extra_codings=[
            {"system": systems.ICD10_SYSTEM, "code": "F33.1"},
            {"system": systems.SNOMED_SYSTEM, "code": "268621008"},
        ],
    )


def consent(
    patient_id: str,
    performers: list[str],
    *,
    recipients: list[str],
    holders: list[str],
    purpose: str,
    categories: list[str],
    start: date,
    days: int = 365,
    refused_by: list[str] | None = None,
    decision: str = "permit",
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"system": systems.CONSENT_SCOPE_SYSTEM, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": systems.LOINC_SYSTEM, "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateTime": f"{start.isoformat()}T09:00:00+01:00",
        "performer": [{"reference": r} for r in performers],
        "policyRule": {"coding": [{"system": systems.ACT_CODE_SYSTEM, "code": "OPTIN"}]},
        "provision": {
            "type": decision,
            "period": {"start": start.isoformat(), "end": (start + timedelta(days=days)).isoformat()},
            "actor": consent_actors(recipients, holders),
            "purpose": [{"system": PURPOSE_SYSTEM, "code": purpose}],
            "code": [{"coding": [{"system": CATEGORY_SYSTEM, "code": c}]} for c in categories],
        },
    }
    if refused_by:
        res["extension"] = [{"url": EXT + "refused-by", "valueReference": {"reference": r}} for r in refused_by]
    return res


def own_consent(
    patient_id: str, *, recipients: list[str], holders: list[str], purpose: str, categories: list[str], days: int = 365
) -> dict[str, Any]:
    """A consent the person gives alone, from today (a parent's or a young person's own)."""
    return consent(
        patient_id,
        [f"Patient/{patient_id}"],
        recipients=recipients,
        holders=holders,
        purpose=purpose,
        categories=categories,
        start=date.today(),
        days=days,
    )


def exchange_parameters(
    party: tuple[str, str],
    subject: str,
    purpose: str,
    categories: list[str],
    token: str | None,
    note: tuple[str, str | None],
) -> dict[str, Any]:
    """The Parameters of ``$request-summary`` or ``$send-summary``: ``party`` and ``note`` are
    (parameter name, value), as the two operations name them differently (contract sections 3, 9)."""
    params: list[dict[str, Any]] = [
        {"name": party[0], "valueString": party[1]},
        {"name": "subject", "valueIdentifier": {"system": BSN_SYSTEM, "value": subject}},
        {"name": "purpose", "valueCoding": {"system": PURPOSE_SYSTEM, "code": purpose}},
    ]
    params += [{"name": "category", "valueCoding": {"system": CATEGORY_SYSTEM, "code": c}} for c in categories]
    if token:
        params.append({"name": "consent-token", "valueString": token})
    if note[1]:
        params.append({"name": note[0], "valueString": note[1]})
    return {"resourceType": "Parameters", "parameter": params}


def summary_request(
    partner: str, subject: str, purpose: str, categories: list[str], token: str | None = None, note: str | None = None
) -> dict[str, Any]:
    """``$request-summary`` Parameters (contract section 3)."""
    return exchange_parameters(("partner", partner), subject, purpose, categories, token, ("consent-note", note))
