"""The seven categories of contract v2 section 5: what a worker reads, and what never leaves.

A youth-care worker tells the parent's therapist how the child is doing; child protection
names a supervision order and its period; a ggz nurse hands a client over with advice and
agreements; a crisis team is told what to watch for; the family plan and a 17-year-old's
plan for turning 18 go to the people who carry them out. For every one of these profiles
a record stuffed with a diagnosis, a score, medication and unmarked text in every element
lets none of it through.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from profiles_builders import BASE, HOLDER, NOW, category, shareable

from contract.errors import InvalidRequest, NotShareable
from profiles import build_summary, check_summary, label, note_record
from profiles.catalog import LEGAL_MEASURE_SYSTEM, PURPOSE_SYSTEM, SUMMARY_CATEGORY_SYSTEM, load_profiles

CHILD_BSN = "111222333"
EXCHANGE_ID = "b0c3a1d2-0000-4000-8000-000000000017"
REQUEST_HASH = "a" * 64
NEW = ("child-situation", "legal-measure", "referral", "crisis-notice", "shared-analysis", "family-plan", "future-plan")

# Strings that must never be in a summary, whatever element of the source held them.
DIAGNOSIS = ("F43.1", "309.81", "PTSS", "47505003")
SCORE = ("SDQ", "totaalscore 23", "23")
MEDICATION = ("methylfenidaat", "N06BA04", "Ritalin")
UNMARKED = "NIET-GEMARKEERDE-TEKST"
ADDRESS = ("Kerkstraat 12", "9711 AB", "Groningen")


def summarise(records: list[dict[str, Any]], categories: list[str], **kw: Any) -> dict[str, Any]:
    return build_summary(
        records,
        categories,
        holder_org=HOLDER,
        subject_bsn=CHILD_BSN,
        exchange_id=EXCHANGE_ID,
        request_hash=REQUEST_HASH,
        now=NOW,
        **kw,
    )


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", [])]


def _other_adult() -> dict[str, Any]:
    return {
        "resourceType": "RelatedPerson",
        "id": "vader",
        "patient": {"reference": "Patient/kind"},
        "name": [{"text": "Peter de Vries"}],
        "address": [{"line": [ADDRESS[0]], "postalCode": ADDRESS[1], "city": ADDRESS[2]}],
    }


def stuffed(cat: str, *, marked: bool) -> dict[str, Any]:
    """A record of ``cat`` carrying every smuggling route we know, in every element.

    With ``marked`` the author marked the record shareable, so its free-text elements
    go out; they then hold harmless words and the smuggled content sits everywhere else.
    Unmarked, every element holds the unmarked sentinel as well.
    """
    rtype = load_profiles()[cat].resource_type
    text = "Gaat weer naar school." if marked else UNMARKED
    diagnosis = {
        "coding": [
            {"system": "http://hl7.org/fhir/sid/icd-10", "code": "F43.1", "display": "PTSS"},
            {"system": "http://hl7.org/fhir/sid/dsm5", "code": "309.81"},
            {"system": "http://snomed.info/sct", "code": "47505003"},
        ],
        "text": text,
    }
    medication = {
        "url": "https://example.org/medication",
        "valueCodeableConcept": {
            "coding": [{"system": "http://www.whocc.no/atc", "code": "N06BA04", "display": "methylfenidaat"}],
            "text": "Ritalin",
        },
    }
    record: dict[str, Any] = {
        "resourceType": rtype,
        "id": "src-1",
        "category": category(cat),
        "subject": {"reference": "Patient/kind", "display": f"Kind, {ADDRESS[0]} {ADDRESS[2]}"},
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": "src-ident"}],
        "contained": [
            _other_adult(),
            {
                "resourceType": "MedicationStatement",
                "id": "med",
                "status": "active",
                "subject": {"reference": "Patient/kind"},
                "medicationCodeableConcept": {"text": "methylfenidaat 10 mg"},
            },
        ],
        "extension": [
            medication,
            {"url": "https://example.org/adres-vader", "valueAddress": {"line": [ADDRESS[0]], "city": ADDRESS[2]}},
        ],
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{UNMARKED} SDQ totaalscore 23</div>',
        },
        "note": [{"text": text, "authorString": "PTSS-behandelaar"}],
    }
    if rtype == "Observation":
        record.update(
            {
                "status": "final",
                "code": diagnosis,
                "effectiveDateTime": "2026-11-30",
                "valueString": text,
                "interpretation": [{"text": "SDQ totaalscore 23: afwijkend"}],
                "component": [{"code": {"text": "SDQ"}, "valueInteger": 23}],
                "method": {"text": "SDQ"},
                "performer": [{"reference": "RelatedPerson/vader", "display": f"Vader, {ADDRESS[0]}"}],
                "derivedFrom": [{"reference": "Observation/sdq", "display": "SDQ totaalscore 23"}],
            }
        )
        if cat == "legal-measure":
            record["valueCodeableConcept"] = {
                "coding": [
                    {"system": LEGAL_MEASURE_SYSTEM, "code": "ondertoezichtstelling"},
                    {"system": "http://hl7.org/fhir/sid/icd-10", "code": "F43.1"},
                ],
                "text": text,
            }
            del record["valueString"]
            record["effectivePeriod"] = {"start": "2026-06-01", "end": "2027-06-01"}
            del record["effectiveDateTime"]
    else:  # CarePlan
        record.update(
            {
                "status": "active",
                "intent": "plan",
                "title": text,
                "description": text,
                "period": {"start": "2026-11-01"},
                "author": {"reference": "Practitioner/1", "display": "M. de Boer"},
                "addresses": [{"reference": "Condition/ptss", "display": "PTSS"}],
                "supportingInfo": [{"display": "SDQ totaalscore 23"}],
                "activity": [
                    {
                        "detail": {
                            "status": "scheduled",
                            "description": text,
                            "scheduledString": text,
                            "code": diagnosis,
                            "productCodeableConcept": {"text": "methylfenidaat"},
                            "dailyAmount": {"value": 10, "unit": "mg"},
                            "performer": [{"reference": "RelatedPerson/vader", "display": "Vader"}],
                            "reasonCode": [diagnosis],
                        },
                        "outcomeCodeableConcept": [{"text": "SDQ totaalscore 23"}],
                    }
                ],
            }
        )
    return shareable(record) if marked else record


def _out(bundle: dict[str, Any]) -> str:
    return json.dumps(bundle, ensure_ascii=False)


@pytest.mark.parametrize("cat", NEW)
@pytest.mark.parametrize("marked", [True, False], ids=["marked-shareable", "unmarked"])
def test_nothing_diagnostic_scored_medicinal_or_unmarked_passes(cat: str, marked: bool) -> None:
    bundle = summarise([stuffed(cat, marked=marked)], [cat])
    (resource,) = resources(bundle)
    out = _out(bundle)
    for forbidden in (
        *DIAGNOSIS,
        *MEDICATION,
        UNMARKED,
        *ADDRESS,
        "SDQ",
        "src-",
        "Patient/",
        "contained",
        "valueAddress",
        "Ritalin",
    ):
        assert forbidden not in out, (cat, forbidden)
    assert not {"component", "interpretation", "contained", "extension", "text", "identifier"} & set(resource)
    check_summary(bundle)  # the recipient's full check, schema included
    Bundle.model_validate(bundle)


@pytest.mark.parametrize("cat", NEW)
def test_every_free_text_element_leaves_only_when_marked(cat: str) -> None:
    """Each element the profile lists as shareable, filled on its own, stays home unmarked."""
    profile = load_profiles()[cat]
    for path in profile.shareable:
        record = _with_leaf(stuffed(cat, marked=False), path, UNMARKED + path)
        assert UNMARKED not in _out(summarise([record], [cat])), path
        assert UNMARKED + path in _out(summarise([shareable(record)], [cat])), path


def _with_leaf(record: dict[str, Any], path: str, value: str) -> dict[str, Any]:
    node: Any = record
    parts = path.split(".")
    for i, part in enumerate(parts):
        name, many, last = part.removesuffix("[]"), part.endswith("[]"), i == len(parts) - 1
        if last:
            node[name] = [value] if many else value
            return record
        if many:
            node.setdefault(name, [{}])
            node = node[name][0]
        else:
            node = node.setdefault(name, {})
    return record


def test_a_legal_measure_leaves_as_a_code_with_its_period_only() -> None:
    (measure,) = resources(summarise([stuffed("legal-measure", marked=True)], ["legal-measure"]))
    assert {k for k in measure if k not in ("resourceType", "id", "meta", "category", "subject", "code")} == {
        "status",
        "effectivePeriod",
        "valueCodeableConcept",
    }
    assert measure["valueCodeableConcept"] == {
        "coding": [
            {"system": LEGAL_MEASURE_SYSTEM, "code": "ondertoezichtstelling", "display": "Ondertoezichtstelling (OTS)"}
        ]
    }
    assert measure["effectivePeriod"] == {"start": "2026-06-01", "end": "2027-06-01"}
    assert "text" not in measure["code"]  # even marked shareable: no words, no grounds


def test_a_measure_coded_outside_the_served_codesystem_keeps_no_code() -> None:
    record = stuffed("legal-measure", marked=True)
    record["valueCodeableConcept"] = {"coding": [{"system": LEGAL_MEASURE_SYSTEM, "code": "gedwongen-opname"}]}
    (measure,) = resources(summarise([record], ["legal-measure"]))
    assert "valueCodeableConcept" not in measure


def test_the_guard_refuses_a_measure_whose_value_is_a_diagnosis_whoever_built_it() -> None:
    bundle = summarise([stuffed("legal-measure", marked=True)], ["legal-measure"])
    bundle["entry"][0]["resource"]["valueCodeableConcept"]["coding"][0]["system"] = "http://hl7.org/fhir/sid/icd-10"
    with pytest.raises(NotShareable):
        check_summary(bundle)


def test_the_childs_situation_never_shows_another_adults_address() -> None:
    record = shareable(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": category("child-situation"),
            "subject": {"reference": "Patient/kind"},
            "code": {"text": "Hoe gaat het met Noor"},
            "effectiveDateTime": "2026-11-28",
            "valueString": "Slaapt beter, gaat elke dag naar school.",
            "note": [{"text": "Noor wil graag bij oma logeren in het weekend."}],
            "contained": [_other_adult()],
            "performer": [{"reference": "#vader", "display": f"Peter de Vries, {ADDRESS[0]}, {ADDRESS[2]}"}],
            "focus": [{"reference": "#vader", "display": f"{ADDRESS[0]} {ADDRESS[1]}"}],
            "extension": [
                {
                    "url": "https://example.org/verblijfadres",
                    "valueAddress": {"line": [ADDRESS[0]], "postalCode": ADDRESS[1], "city": ADDRESS[2]},
                }
            ],
        }
    )
    (situation,) = resources(summarise([record], ["child-situation"]))
    out = json.dumps(situation, ensure_ascii=False)
    assert situation["valueString"] == "Slaapt beter, gaat elke dag naar school."
    assert situation["note"] == [{"text": "Noor wil graag bij oma logeren in het weekend."}]
    assert not any(part in out for part in (*ADDRESS, "Peter", "vader"))


def test_a_referral_reads_as_a_warm_handover() -> None:
    record = shareable(
        {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "proposal",
            "category": category("referral"),
            "subject": {"reference": "Patient/1"},
            "title": "Overdracht naar de huisartsenpraktijk",
            "description": "Stabiel sinds de zomer; heeft weinig steun van haar netwerk.",
            "author": {"display": "J. Visser, SPV"},
            "period": {"start": "2026-12-01"},
            "note": [{"text": "Doe de intake niet opnieuw: zij wil haar verhaal niet nog eens vertellen."}],
            "activity": [
                {
                    "detail": {
                        "status": "scheduled",
                        "description": "POH-GGZ belt haar in de eerste week.",
                        "performer": [{"display": "POH-GGZ De Linde"}],
                    }
                }
            ],
        }
    )
    (referral,) = resources(summarise([record], ["referral"]))
    assert referral["description"].startswith("Stabiel")
    assert referral["note"][0]["text"].startswith("Doe de intake")
    assert referral["activity"][0]["detail"]["performer"] == [{"display": "POH-GGZ De Linde"}]
    assert referral["author"] == {"display": "J. Visser, SPV"}


def test_a_push_note_goes_out_under_the_first_category_that_takes_text() -> None:
    note = "Zij wil dat de huisarts haar zelf belt."
    bundle = summarise(
        [note_record(note, ["legal-measure", "referral"], now=NOW)], ["legal-measure", "referral"], tag="consented-push"
    )
    (entry,) = resources(bundle)
    assert entry["resourceType"] == "CarePlan" and entry["note"] == [{"text": note}]
    assert entry["category"][0]["coding"][0]["code"] == "referral"
    assert bundle["meta"]["tag"] == [
        {"system": BASE + "disclosure", "code": "consented-push", "display": "Toegestuurd met toestemming"}
    ]
    check_summary(bundle)


def test_a_note_with_only_a_measure_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        note_record("Let op.", ["legal-measure"], now=NOW)


def test_the_guard_refuses_a_tag_it_does_not_serve() -> None:
    bundle = summarise([], ["signals"], tag="consented-push")
    bundle["meta"]["tag"][0]["code"] = "shareable"
    with pytest.raises(NotShareable):
        check_summary(bundle)
    with pytest.raises(InvalidRequest):
        summarise([], ["signals"], tag="urgent")


def test_dutch_labels_come_from_the_codesystems() -> None:
    assert label(SUMMARY_CATEGORY_SYSTEM, "signals") == "Signalen"
    assert label(SUMMARY_CATEGORY_SYSTEM, "child-situation") == "Situatie van het kind"
    assert label(PURPOSE_SYSTEM, "transition-18") == "Overgang naar 18 jaar"
    assert label(LEGAL_MEASURE_SYSTEM, "tijdelijk-huisverbod") == "Tijdelijk huisverbod"
    assert label(PURPOSE_SYSTEM, "unknown") == "unknown"
