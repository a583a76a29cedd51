"""One source of Dutch labels (issue 14): the CodeSystems' designations, read through
``profiles.catalog.label``; no module keeps a table of its own that words a code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from jinja2 import Environment, nodes

from profiles import catalog

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("contract", "consent", "profiles", "audit", "adapters", "ehr", "gateway")
SHOWN_ON_PAGES = {  # system: the designation uses the pages, receipt, report and CLI read
    catalog.SUMMARY_CATEGORY_SYSTEM: ("display", "explanation"),
    catalog.PURPOSE_SYSTEM: ("display", "explanation"),
    catalog.LEGAL_GROUND_SYSTEM: ("display", "explanation"),
    catalog.REFUSAL_REASON_SYSTEM: ("display", "explanation", "next-step"),
    catalog.LEGAL_MEASURE_SYSTEM: ("display",),
    catalog.CARE_STATUS_SYSTEM: ("display",),
    catalog.ORGANISATION_TYPE_SYSTEM: ("display",),
    catalog.DISCLOSURE_SYSTEM: ("display",),
    catalog.AUDIT_ACTION_SYSTEM: ("display",),
    catalog.AUDIT_OUTCOME_SYSTEM: ("display",),
    catalog.CONTACT_POINT_SYSTEM: ("display",),
    catalog.PARTY_KIND_SYSTEM: ("display",),
    catalog.ROLE_SYSTEM: ("display",),
}
OUR_CODES = frozenset(c["code"] for cs in catalog.load_codesystems() for c in cs["concept"])


@pytest.mark.parametrize("system", sorted(SHOWN_ON_PAGES), ids=lambda s: s.rsplit("/", 1)[-1])
def test_every_code_a_page_shows_has_its_own_dutch_designation(system: str) -> None:
    (codesystem,) = [
        cs for cs in catalog.load_codesystems() if system in (cs["url"], cs.get("supplements", "").split("|")[0])
    ]
    for concept in codesystem["concept"]:
        for use in SHOWN_ON_PAGES[system]:
            assert catalog.has_label(system, concept["code"], use=use), (concept["code"], use)
            assert catalog.label(system, concept["code"], use=use).strip()


def test_the_cli_has_english_for_every_refusal_reason() -> None:
    for code in catalog.codes(catalog.REFUSAL_REASON_SYSTEM):
        assert catalog.has_label(catalog.REFUSAL_REASON_SYSTEM, code, language="en"), code


def test_a_label_falls_back_to_the_display_and_an_unknown_code_stays_itself() -> None:
    assert catalog.label(catalog.SUMMARY_CATEGORY_SYSTEM, "referral", use="author-role") == "Verwijzer"
    assert catalog.label(catalog.SUMMARY_CATEGORY_SYSTEM, "signals", use="author-role") == "Signalen"
    assert catalog.label(catalog.CONTACT_POINT_SYSTEM, "phone") == "Telefoon"  # from the supplement
    assert catalog.label(catalog.PURPOSE_SYSTEM, "no-such-purpose") == "no-such-purpose"
    with pytest.raises(ValueError, match="designation use"):
        catalog.label(catalog.PURPOSE_SYSTEM, "referral", use="tooltip")


def _word_tables(path: Path) -> list[str]:
    """Dict literals keyed by two or more of our codes (as strings, or as constants named after
    them, like ``DISCLOSURE_SENT``) whose values are words rather than other codes."""
    named = {code.upper().replace("-", "_") for code in OUR_CODES}
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if not isinstance(node, ast.Dict) or len(node.keys) < 2:
            continue
        keyed = 0
        for key in node.keys:
            if (isinstance(key, ast.Constant) and key.value in OUR_CODES) or (
                isinstance(key, ast.Name | ast.Attribute)
                and (key.id if isinstance(key, ast.Name) else key.attr) in named
            ):
                keyed += 1
        strings = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
        texts = len(strings) + sum(isinstance(v, ast.JoinedStr) for v in node.values) == len(node.values)
        worded = any(any(c.isalpha() for c in text) and text not in OUR_CODES for text in strings)  # not "0", "R"
        if keyed >= 2 and texts and worded:
            found.append(f"line {node.lineno}")
    return found


@pytest.mark.parametrize("module", sorted(str(p.relative_to(ROOT)) for d in PACKAGES for p in (ROOT / d).rglob("*.py")))
def test_no_module_keeps_its_own_label_table(module: str) -> None:
    tables = _word_tables(ROOT / module)
    assert not tables, f"{module} words codes itself at {tables}: use profiles.catalog.label"


def test_the_table_finder_finds_the_tables_this_issue_removed(tmp_path: Path) -> None:
    old = tmp_path / "old.py"
    old.write_text(
        'REASONS_NL = {"consent-revoked": "de toestemming was ingetrokken",\n'
        '              "replay": "hetzelfde verzoek werd nog eens gedaan"}\n'
        'ACTIONS = MappingProxyType({DISCLOSURE_SENT: "Samenvatting verstrekt", LOGIN: "Aangemeld"})\n'
        'STATUS = {"active": 200, "inactive": 410}\n'
        'OUTCOME_CODES = {SUCCESS: "0", REFUSED: "4", ERROR: "8"}\n',
        "utf-8",
    )
    assert _word_tables(old) == ["line 1", "line 3"]


def _template_tables(source: str) -> list[int]:
    """Jinja dict literals keyed by two or more of our codes: a label table inside a template."""

    found = []
    for table in Environment(autoescape=True).parse(source).find_all(nodes.Dict):
        keys = [pair.key.value for pair in table.items if isinstance(pair.key, nodes.Const)]
        if sum(key in OUR_CODES for key in keys) >= 2:
            found.append(table.lineno)
    return found


@pytest.mark.parametrize("template", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "gateway").rglob("*.html")))
def test_no_template_keeps_its_own_label_table(template: str) -> None:
    tables = _template_tables((ROOT / template).read_text("utf-8"))
    assert not tables, f"{template} words codes itself on lines {tables}: pass a catalog lookup in"


def test_the_template_table_finder_finds_the_one_this_issue_removed() -> None:
    old = "<td>{{ {'parent': 'ouder', 'guardian': 'voogd', 'institution': 'gecertificeerde instelling'}[r.kind] }}</td>"
    assert _template_tables(old) == [1]
