"""The domain stays free of Flask, HTTP and SQL (STYLE habit 3), so it can be tested alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOMAIN = ["consent", "profiles", "audit"]
FORBIDDEN = ("flask", "werkzeug", "sqlalchemy", "requests", "gunicorn", "alembic", "gateway.app",
             "gateway.services", "adapters")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", sorted(str(p.relative_to(ROOT)) for d in DOMAIN
                                          for p in (ROOT / d).rglob("*.py")))
def test_domain_module_imports_no_web_http_or_sql(module: str) -> None:
    bad = sorted(n for n in _imports(ROOT / module) if n.split(".")[0] in FORBIDDEN or n.startswith(FORBIDDEN))
    assert not bad, f"{module} imports {bad}"
