"""The declarative data in profiles/: CodeSystems, the purpose matrix, the category profiles."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest
from fhir.resources.R4B.codesystem import CodeSystem

from contract.errors import REFUSAL_CODES
from gateway.http.outcomes import answerable
from profiles import PROFILE_VERSION, explanation, load_codesystems, load_matrix
from profiles.catalog import load_profiles

BASE = "https://jggz-gateway.nl/fhir/CodeSystem/"
PROFILES_DIR = pathlib.Path(__file__).resolve().parents[3] / "profiles"
FIRST_FIVE = {"signals", "safety-plan", "care-team", "parenting", "care-status"}
SUMMARY_CATEGORIES = FIRST_FIVE | {
    "child-situation",
    "legal-measure",
    "referral",
    "crisis-notice",
    "shared-analysis",
    "family-plan",
    "future-plan",
}  # contract v2, section 5
CATEGORIES = SUMMARY_CATEGORIES | {"involvement"}  # contract section 8: found, never sent as a summary
PURPOSES = {
    "joint-safety-planning",
    "care-coordination",
    "referral",
    "assessment",
    "crisis-response",
    "transition-18",
    "findable",
}
HTTP_STATUS = {  # contract section 4, plus grantors-insufficient from section 3
    "unknown-partner": 401,
    "bad-signature": 401,
    "token-expired": 401,
    "replay": 401,
    "wrong-audience": 403,
    "consent-revoked": 403,
    "purpose-mismatch": 403,
    "category-not-consented": 403,
    "not-shareable": 403,
    "subject-unknown": 404,
    "consent-status-unavailable": 503,
    "invalid-request": 400,
    "grantee-mismatch": 403,
    "subject-mismatch": 403,
    "partner-unavailable": 502,
    "partner-timeout": 504,
    "bad-partner-signature": 502,
    "store-unavailable": 503,
    "grantors-insufficient": 422,
}


def codesystem(name: str) -> dict:
    (found,) = [cs for cs in load_codesystems() if cs["url"] == BASE + name]
    return found


def codes(name: str) -> set[str]:
    return {c["code"] for c in codesystem(name)["concept"]}


@pytest.mark.parametrize("resource", load_codesystems(), ids=lambda cs: cs["id"])
def test_every_codesystem_is_valid_fhir_and_complete(resource: dict) -> None:
    CodeSystem.model_validate(resource)
    assert resource["url"] == BASE + resource["id"]
    assert resource["status"] == "active"
    # complete, or a supplement that only adds Dutch designations to a standard CodeSystem
    assert resource["content"] == "complete" or (
        resource["content"] == "supplement" and resource["supplements"].startswith("http://hl7.org/fhir/")
    )
    assert resource["count"] == len(resource["concept"])
    for concept in resource["concept"]:
        assert concept["display"].strip() and concept["definition"].strip()


def test_every_codesystem_file_is_served() -> None:
    files = {p.stem for p in (PROFILES_DIR / "codesystems").glob("*.json")}
    assert files == {cs["id"] for cs in load_codesystems()}
    assert {"summary-category", "purpose", "disclosure", "refusal-reason"} <= files


def test_contract_codes_are_all_there() -> None:
    assert codes("summary-category") == CATEGORIES
    assert codes("purpose") == PURPOSES
    assert codes("disclosure") == {"shareable", "consented-push", "safety-disclosure"}
    assert codes("legal-measure") == {
        "ondertoezichtstelling",
        "voogdij",
        "uithuisplaatsing",
        "wvggz-crisismaatregel",
        "wvggz-zorgmachtiging",
        "contactverbod",
        "tijdelijk-huisverbod",
        "jeugdreclassering",
    }


@pytest.mark.parametrize("name", ["summary-category", "purpose", "legal-measure", "disclosure"])
def test_every_code_professionals_see_has_a_dutch_designation(name: str) -> None:
    for concept in codesystem(name)["concept"]:
        dutch = [
            d["value"]
            for d in concept.get("designation", [])
            if d.get("language") == "nl" and d["use"]["code"] == "display"
        ]
        assert len(dutch) == 1 and dutch[0].strip(), concept["code"]
    if name in ("summary-category", "purpose"):  # what a parent reads on a receipt, in plain words
        for concept in codesystem(name)["concept"]:
            assert explanation(BASE + name, concept["code"]) != concept["display"], concept["code"]


def test_every_refusal_reason_carries_its_http_status() -> None:
    assert codes("refusal-reason") == set(REFUSAL_CODES) | set(answerable())
    for concept in codesystem("refusal-reason")["concept"]:
        status = answerable()[concept["code"]]
        expected = [{"code": "http-status", "valueInteger": status}] if status is not None else None
        assert concept.get("property") == expected, concept


def test_the_readme_code_table_lists_every_code_the_node_can_answer() -> None:
    """Issue 13 item 13: 413 too-large (and others) answered but missing from the table."""
    readme = (PROFILES_DIR.parent / "README.md").read_text("utf-8")
    table = readme.split("### Refusal reason codes", 1)[1].split("\n### ", 1)[0]
    rows: dict[str, str] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            names, statuses = re.findall(r"`([a-z-]+)`", cells[0]), cells[1].split(" / ")
            for i, name in enumerate(names):
                rows[name] = statuses[i] if len(statuses) == len(names) else cells[1]
    for code, status in answerable().items():
        assert code in rows, f"README's code table lacks {code}"
        if status is not None:
            assert rows[code] == str(status), (code, rows[code], status)


def test_loaded_codesystems_are_fresh_copies() -> None:
    load_codesystems()[0]["concept"].clear()
    assert all(cs["concept"] for cs in load_codesystems())


def test_matrix_covers_every_purpose_with_known_categories_only() -> None:
    matrix = load_matrix()
    assert set(matrix) == PURPOSES
    assert all(categories and categories <= CATEGORIES for categories in matrix.values())
    assert matrix["joint-safety-planning"] >= FIRST_FIVE
    assert matrix["findable"] == {"involvement"}  # being findable shows no summary at all
    assert "signals" not in matrix["referral"]
    assert "future-plan" in matrix["transition-18"] and "crisis-notice" in matrix["crisis-response"]
    # a diagnosis-shaped analysis never serves a crisis team; a crisis notice never plans a safety plan
    assert "shared-analysis" not in matrix["crisis-response"]
    assert "crisis-notice" not in matrix["joint-safety-planning"]


def test_every_category_has_one_profile_in_the_current_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", PROFILE_VERSION)
    profiles = load_profiles()
    assert set(profiles) == CATEGORIES
    for profile in profiles.values():
        assert profile.resource_type in {"Observation", "CarePlan", "CareTeam"}
        assert profile.canonical.endswith("|" + PROFILE_VERSION)
        assert not set(profile.always) & set(profile.shareable)


def test_free_text_is_never_in_the_always_list() -> None:
    free_text = re.compile(r"(^|\.)(text|valueString|description|title|name|scheduledString)$")
    for profile in load_profiles().values():
        assert not [p for p in profile.always if free_text.search(p)], profile.category


def test_the_domain_imports_no_web_or_database_library() -> None:
    banned = {"flask", "sqlalchemy", "requests", "gateway", "adapters"}
    for source in PROFILES_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            assert not {n.split(".")[0] for n in names} & banned, source.name
