"""Every namespace URL is spelled once, in contract/systems.py.

A system spelled twice drifts apart one day (a trailing slash, ``http`` for ``https``) and a
code then stops matching its system without any error. Docstrings may name URLs; code
imports them.
"""

from __future__ import annotations

import ast
import itertools
import pathlib
import re

import pytest

from contract import systems

ROOT = pathlib.Path(__file__).resolve().parents[3]
PACKAGES = ("contract", "consent", "profiles", "audit", "adapters", "ehr", "gateway")
HOME = ROOT / "contract" / "systems.py"

NAMESPACE = re.compile(
    r"https?://[^\s\"'|]*(?:/fhir/|NamingSystem|CodeSystem|StructureDefinition|OperationDefinition"
    r"|ValueSet|snomed\.info|loinc\.org|hl7\.org|dicom\.nema\.org|ihe\.net|smarthealthit\.org|fhir\.nl)"
    r"|urn:(?:oid|iso|iso-astm|jggz|gateway|ietf|ehr):"
)


def production_modules() -> list[pathlib.Path]:
    return sorted(
        p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if p != HOME and "migrations" not in p.parts
    )


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string constants that are docstrings (they may name a URL)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
        # an attribute docstring: a bare string right after an assignment
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for first, second in itertools.pairwise(block):
                if (
                    isinstance(first, (ast.Assign, ast.AnnAssign))
                    and isinstance(second, ast.Expr)
                    and isinstance(second.value, ast.Constant)
                ):
                    found.add(id(second.value))
    return found


def spelled_urls(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    skip = docstrings(tree)
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and NAMESPACE.search(node.value)
    ]


def test_no_production_module_but_systems_spells_a_namespace_url() -> None:
    found = [hit for path in production_modules() for hit in spelled_urls(path)]
    assert not found, "import these from contract.systems:\n" + "\n".join(found)


def test_the_scan_would_see_a_url_spelled_in_code(tmp_path: pathlib.Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        '"""Doc naming http://fhir.nl/fhir/NamingSystem/bsn."""\n'
        'BSN = "http://fhir.nl/fhir/NamingSystem/bsn"\n'
        'URN = f"urn:oid:{1}"\n',
        "utf-8",
    )
    tree = ast.parse(module.read_text("utf-8"))
    skip = docstrings(tree)
    hits = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip and NAMESPACE.search(n.value)
    ]
    assert hits == ["http://fhir.nl/fhir/NamingSystem/bsn", "urn:oid:"]


@pytest.mark.parametrize("name", sorted(n for n in vars(systems) if n.isupper()))
def test_each_system_is_an_absolute_uri_spelled_once(name: str) -> None:
    value = getattr(systems, name)
    assert re.fullmatch(r"(https?://|urn:)[^\s]+", value), name
    same = [n for n in vars(systems) if n.isupper() and getattr(systems, n) == value]
    assert same == [name], f"{value} is named {same}"


def test_the_project_systems_live_under_its_base() -> None:
    ours = [v for n, v in vars(systems).items() if n.endswith(("_SYSTEM", "_EXTENSION")) and "jggz" in v]
    assert ours and all(v.startswith(systems.BASE) for v in ours)
