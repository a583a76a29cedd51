"""The declarative data in profiles/: CodeSystems, the purpose matrix, the category profiles."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest
from fhir.resources.R4B.codesystem import CodeSystem

from consent.errors import REFUSAL_CODES
from profiles import PROFILE_VERSION, load_codesystems, load_matrix
from profiles.catalog import load_profiles

BASE = "https://jggz-gateway.nl/fhir/CodeSystem/"
PROFILES_DIR = pathlib.Path(__file__).resolve().parents[3] / "profiles"
CATEGORIES = {"signals", "safety-plan", "care-team", "parenting", "care-status"}
PURPOSES = {"joint-safety-planning", "care-coordination", "referral", "assessment", "crisis-response"}
HTTP_STATUS = {  # contract section 4, plus grantors-insufficient from section 3
    "unknown-partner": 401, "bad-signature": 401, "token-expired": 401, "replay": 401,
    "wrong-audience": 403, "consent-revoked": 403, "purpose-mismatch": 403,
    "category-not-consented": 403, "not-shareable": 403, "subject-unknown": 404,
    "consent-status-unavailable": 503, "invalid-request": 400, "grantee-mismatch": 403,
    "subject-mismatch": 403, "partner-unavailable": 502, "partner-timeout": 504,
    "bad-partner-signature": 502, "store-unavailable": 503, "grantors-insufficient": 422,
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
    assert (resource["status"], resource["content"]) == ("active", "complete")
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
    assert codes("disclosure") == {"shareable"}


def test_every_refusal_reason_carries_its_http_status() -> None:
    from gateway.outcomes import EDGE_CODES, TABLE

    # every code an answer of this node can carry, the HTTP layer's own (405, 413, 415...) too
    assert codes("refusal-reason") == set(REFUSAL_CODES) | set(TABLE) | set(EDGE_CODES)
    for concept in codesystem("refusal-reason")["concept"]:
        status = TABLE[concept["code"]][0] if concept["code"] in TABLE else EDGE_CODES[concept["code"]]
        if status is None:
            assert "property" not in concept
        else:
            assert concept["property"] == [{"code": "http-status", "valueInteger": status}]


def test_loaded_codesystems_are_fresh_copies() -> None:
    load_codesystems()[0]["concept"].clear()
    assert all(cs["concept"] for cs in load_codesystems())


def test_matrix_covers_every_purpose_with_known_categories_only() -> None:
    matrix = load_matrix()
    assert set(matrix) == PURPOSES
    assert all(categories and categories <= CATEGORIES for categories in matrix.values())
    assert matrix["joint-safety-planning"] == CATEGORIES
    assert "signals" not in matrix["referral"]


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
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not {n.split(".")[0] for n in names} & banned, source.name
