"""What may leave in a string (contract section 5): names as names, telecom as telecom, and
never a diagnostic code or term, whatever element holds it (issue 13, item 1)."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from profiles_builders import HOLDER, MOTHER_BSN, NOW, care_team, mother_records, safety_plan

from contract.errors import NotShareable
from gateway.demo import data as demo_data
from profiles import build_summary, catalog, check_summary, load_codesystems
from profiles.outgoing import diagnostic_finding, is_name, is_telecom

ALL = ["signals", "safety-plan", "care-team", "parenting", "care-status"]


def summary(records: list[dict[str, Any]], categories: list[str] = ALL) -> dict[str, Any]:
    return build_summary(
        records,
        categories,
        holder_org=HOLDER,
        subject_bsn=MOTHER_BSN,
        exchange_id="x-1",
        request_hash=hashlib.sha256(b"r").hexdigest(),
        now=NOW,
    )


def first(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)


@pytest.mark.parametrize(
    "text",
    [
        "behandelaar depressie F32.1",
        "Depressie",
        "ernstig depressief",
        "psychose in 2019",
        "Schizofrenie",
        "bipolaire stoornis",
        "Borderline",
        "PTSS",
        "PTSD-behandelaar",
        "ADHD-coach",
        "autisme",
        "autistisch",
        "angststoornis",
        "personality disorder",
        "major depression",
        "psychotic episode",
        "dementie",
        "sertraline 50 mg",
        "Lithium",
        "diagnose volgt",
        "DSM-5",
        "ICD-10",
        "F33.1",
        "f32.1",
        "F32",
        "N06AB03",
        "N06AB",
        "296.33",
        "code 35489007",
        "SNOMED 268621008",
        "EMDR-therapeut",
    ],
)
def test_diagnostic_terms_and_codes_are_found(text: str) -> None:
    assert diagnostic_finding(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "J. de Vries, SPV",
        "Dr. A. Bakker",
        "Oma (moeders kant)",
        "Wijkcoach jeugdteam",
        "GGZ Noord",
        "Casusregisseur",
        "Psychiater",
        "Behandelteam volwassenen",
        "op deze manier",
        "adres en telefoon",
        "Trekt zich terug, neemt telefoon niet op",
        "Slaapt slecht, belt niet terug",
        "050-1234567",
        "+31 6 12345678",
        "0612345678",
        "111222333",
        "2026-11-02T10:00:00+01:00",
        "ggz-noord",
        "ea477930-c641-49a9-8577-c74dd4514073",
        "urn:uuid:7EEE8BB4-E7E1-4115-BDE4-51B08CC09E69",
        hashlib.sha256(b"x").hexdigest(),  # fixed ids: both xdist workers must collect the same tests
        "https://jggz-gateway.nl/fhir/CodeSystem/summary-category",
        "jggz-care-team|1.0.0",
        "Ass. begeleider",
        "Jeugdteam West 2",
        "in-care-reachable",
    ],
)
def test_ordinary_names_numbers_and_ids_are_not(text: str) -> None:
    assert diagnostic_finding(text) is None, text


def test_no_served_display_or_code_and_no_demo_record_trips_the_check() -> None:
    for codesystem in load_codesystems():
        for concept in codesystem["concept"]:
            assert diagnostic_finding(concept["code"]) is None, concept
            assert diagnostic_finding(concept["display"]) is None, concept
    for record in (demo_data.safety_plan("p", source_id="s"), demo_data.care_team("p", source_id="c")):
        bundle = summary([record], ["safety-plan", "care-team"])
        assert json.dumps(bundle, ensure_ascii=False).count("display") >= 3


@pytest.mark.parametrize(
    "name, ok",
    [
        ("R. Bakker", True),
        ("Anne-Marie van den Berg-O'Neill", True),
        ("Gemeente Groningen & Partners", True),
        ("behandelaar depressie F32.1", False),
        ("R. Bakker\nnotitie", False),
        ("", False),
        ("12345", False),
        ("x" * 201, False),
        ("<script>", False),
        ("Bakker; zie dossier", False),
    ],
)
def test_a_name_is_checked_as_a_name(name: str, ok: bool) -> None:
    assert is_name(name) is ok


@pytest.mark.parametrize(
    "system, value, ok",
    [
        ("phone", "050-1234567", True),
        ("phone", "+31 (0)50 123 45 67", True),
        ("email", "team@ggz-noord.nl", True),
        ("url", "https://ggz-noord.nl/contact", True),
        (None, "team@ggz-noord.nl", True),
        ("phone", "depressie F32.1", False),
        ("phone", "team@ggz-noord.nl", False),
        ("email", "bel oma", False),
        ("email", "depressie@ggz-noord.nl", False),
        ("url", "https://ggz-noord.nl/psychose-team", False),
        ("url", "javascript:alert(1)", False),
        ("other", "Vraag naar Karin", False),
    ],
)
def test_a_telecom_value_is_shaped_as_phone_email_or_url(system: Any, value: str, ok: bool) -> None:
    assert is_telecom(system, value) is ok


def test_the_builder_leaves_out_a_display_or_telecom_holding_a_diagnosis() -> None:
    team, plan = care_team(), safety_plan()
    team["participant"][0]["member"]["display"] = "behandelaar depressie F32.1"
    team["participant"][1]["onBehalfOf"] = {"display": "Afdeling psychosezorg"}
    team["telecom"].append({"system": "phone", "value": "F32.1 spoedlijn", "use": "work"})
    team["telecom"].append({"system": "email", "value": "adhd-poli@ggz-noord.nl", "use": "work"})
    team["managingOrganization"][0]["display"] = "GGZ Noord, team N06AB03"
    plan["author"]["display"] = "R. Bakker (psychiater, ADHD)"
    plan["activity"][0]["detail"]["performer"][0]["display"] = "Oma; 268621008"
    plan["activity"][0]["detail"]["description"] = "Oma belt bij tekenen van psychose."
    bundle = summary([team, plan], ["care-team", "safety-plan"])
    text = json.dumps(bundle, ensure_ascii=False)
    for secret in ("depressie", "F32.1", "psychose", "adhd", "ADHD", "N06AB03", "268621008"):
        assert secret not in text, secret
    out_team = first(bundle, "CareTeam")
    assert [p.get("member", {}).get("display") for p in out_team["participant"]] == [None, "Dr. K. Smit"]
    assert [t["value"] for t in out_team["telecom"] if "value" in t] == ["050-1234567"]
    assert "author" not in first(bundle, "CarePlan")
    check_summary(bundle)  # and what is left passes the recipient's check


@pytest.mark.parametrize(
    "where",
    [
        "member-display",
        "telecom",
        "managing-org",
        "extension",
        "narrative",
        "careplan-author",
        "performer",
        "bundle-identifier",
        "coding-display",
    ],
)
def test_the_guard_refuses_a_diagnosis_in_any_string(where: str) -> None:
    """A holder that does not use our builder (or a bug in it) is still stopped, on both sides."""
    good = summary(mother_records())
    bad = copy.deepcopy(good)
    team, plan, obs = first(bad, "CareTeam"), first(bad, "CarePlan"), first(bad, "Observation")
    if where == "member-display":
        team["participant"][0]["member"]["display"] = "behandelaar depressie F32.1"
    elif where == "telecom":
        team["telecom"][0]["value"] = "050-1234567 (psychosepoli)"
    elif where == "managing-org":
        team["managingOrganization"][0]["display"] = "Team F20.0"
    elif where == "extension":
        team["extension"] = [{"url": "https://example.org/x", "valueString": "schizofrenie"}]
    elif where == "narrative":
        obs["text"] = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">ADHD</div>'}
    elif where == "careplan-author":
        plan["author"] = {"display": "N06AB06"}
    elif where == "performer":
        plan["activity"][0]["detail"]["performer"][0]["display"] = "Oma 35489007"
    elif where == "bundle-identifier":
        bad["identifier"]["value"] = "F32.1"
    elif where == "coding-display":
        obs["category"][0]["coding"][0]["display"] = "Depressie"
    with pytest.raises(NotShareable):
        check_summary(bad)
    check_summary(good)


def test_a_profile_copying_untyped_text_unmarked_does_not_load(monkeypatch: pytest.MonkeyPatch) -> None:
    data = copy.deepcopy(catalog._profiles_file())
    data["categories"]["signals"]["always"].append("note[].text")
    monkeypatch.setattr(catalog, "_profiles_file", lambda: data)
    catalog._profiles.cache_clear()
    try:
        with pytest.raises(ValueError, match="free text belongs in 'shareable'"):
            catalog.load_profiles()
    finally:
        monkeypatch.undo()
        catalog._profiles.cache_clear()
