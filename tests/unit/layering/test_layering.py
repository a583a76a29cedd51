"""The house keeps its direction (issue 14; STYLE habit 3): the domain stays free of Flask, HTTP
and SQL so it can be tested alone, adapters never reach up into the gateway, use cases never see
a request, and no module imports one that imports it back.

Read from the source with ``ast``, so a test run imports nothing it checks. The layer rules count
every import, a function-level one too (a lazy import is still a dependency); the cycle rule
counts the imports that run when a module loads (top level, also under ``if``/``try``, including
``TYPE_CHECKING``), where ``from package import name`` counts as importing the module
``package.name`` when there is one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("contract", "consent", "profiles", "audit", "adapters", "ehr", "gateway")
DOMAIN = ("contract", "consent", "profiles", "audit")
#: what the domain never imports: web, HTTP, SQL, servers, and the outer rings of the house
DOMAIN_FORBIDDEN = frozenset(
    {
        "flask",
        "werkzeug",
        "jinja2",
        "sqlalchemy",
        "requests",
        "urllib3",
        "gunicorn",
        "alembic",
        "gateway",
        "adapters",
        "ehr",
    }
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _files(*packages: str) -> dict[str, Path]:
    return {_module_name(p): p for pkg in packages for p in sorted((ROOT / pkg).rglob("*.py"))}


MODULES = _files(*PACKAGES)


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The module a ``from … import`` names, relative imports resolved against ``module``."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _imported(module: str, nodes: Iterator[ast.AST]) -> set[str]:
    """Dotted names imported by these statements; ``from p import m`` gives ``p.m`` for a module m."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, node)
            for alias in node.names:
                names.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return names


def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text("utf-8"), filename=str(MODULES[module]))


def all_imports(module: str) -> set[str]:
    """Every import in the module, wherever it stands."""
    return _imported(module, ast.walk(_tree(module)))


def load_time_imports(module: str) -> set[str]:
    """The imports that run when the module loads: top level, and inside top-level ``if``/``try``."""

    def statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
        for stmt in body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                yield stmt
            elif isinstance(stmt, ast.If):
                yield from statements(stmt.body)
                yield from statements(stmt.orelse)
            elif isinstance(stmt, ast.Try):
                for block in (stmt.body, *(h.body for h in stmt.handlers), stmt.orelse, stmt.finalbody):
                    yield from statements(block)

    return _imported(module, statements(_tree(module).body))


def _top(name: str) -> str:
    return name.split(".")[0]


def _project_module(name: str) -> str | None:
    """The project module a dotted import name loads (``gateway.http.auth.Caller`` → ``gateway.http.auth``)."""
    parts = name.split(".")
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts) if parts else None


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, *DOMAIN)))
def test_the_domain_imports_no_web_http_sql_or_outer_ring(module: str) -> None:
    bad = sorted(n for n in all_imports(module) if _top(n) in DOMAIN_FORBIDDEN)
    assert not bad, f"{module} imports {bad}: the domain takes plain values (STYLE habit 3)"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "contract")))
def test_the_contract_imports_nothing_of_the_project_but_itself(module: str) -> None:
    bad = sorted(n for n in all_imports(module) if _top(n) in PACKAGES and _top(n) != "contract")
    assert not bad, f"{module} imports {bad}: the wire rules stand on their own"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "adapters")))
def test_adapters_never_import_the_gateway_or_the_ehr_adapters(module: str) -> None:
    bad = sorted(n for n in all_imports(module) if _top(n) in ("gateway", "ehr"))
    assert not bad, f"{module} imports {bad}: driven adapters are called by the gateway, not the reverse"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "gateway.services")))
def test_use_cases_never_see_flask_or_werkzeug(module: str) -> None:
    bad = sorted(n for n in all_imports(module) if _top(n) in ("flask", "werkzeug"))
    assert not bad, f"{module} imports {bad}: views parse the request and pass typed values in"


#: the rooms a use case or a repository never reaches into: they are called from there
_OUTER_ROOMS = ("gateway.web", "gateway.http", "gateway.cli", "gateway.demo")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "gateway.services", "gateway.repositories")))
def test_use_cases_and_repositories_never_import_the_pages_the_api_or_the_cli(module: str) -> None:
    """A receipt or a report is rendered by the page that shows it: the use case returns its facts."""
    bad = sorted(n for n in all_imports(module) if _in(n, *_OUTER_ROOMS))
    assert not bad, f"{module} imports {bad}: return values and let the edge present them"


def test_no_use_case_writes_sql_itself() -> None:
    """Every query lives in gateway/repositories on the unit of work; no service imports SQLAlchemy."""
    importing = sorted(
        m for m in MODULES if _in(m, "gateway.services") and any(_top(n) == "sqlalchemy" for n in all_imports(m))
    )
    assert not importing, f"{importing} import SQLAlchemy: put the query in gateway/repositories on the unit of work"


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import one another (Tarjan), as one cycle through the group."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph.get(v, ()):
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_through(graph, set(group)) for group in groups]


def _cycle_through(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """One concrete cycle inside a strongly connected group, first module repeated at the end."""
    start = min(group)
    path, seen = [start], {start}
    while True:
        nxt = sorted(w for w in graph[path[-1]] if w in group)
        back = [w for w in nxt if w in seen]
        if back:
            return [*path[path.index(back[0]) :], back[0]]
        path.append(nxt[0])
        seen.add(nxt[0])


def load_time_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        targets = {_project_module(n) for n in load_time_imports(module)}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def test_no_module_imports_one_that_imports_it_back() -> None:
    cycles = import_cycles(load_time_graph())
    assert not cycles, "import cycles: " + "; ".join(" → ".join(c) for c in cycles)


def test_the_cycle_check_names_the_modules_of_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c", "a"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []
