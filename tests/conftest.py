"""Shared fixtures, stacked as in Flask's tutorial: store -> node home -> app -> client.

Every test that touches a store runs twice: on the embedded SQLite default and on
PostgreSQL (``GATEWAY_TEST_PG``, default the local server at 127.0.0.1:5432, database
``test``). Each PostgreSQL node gets its own schema, dropped afterwards.

``make test`` runs the suite on two pytest-xdist workers (``--dist loadscope``); the hooks at
the end of this file say which tests one worker must run together, and in which order.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from gateway import config
from gateway.app import create_app
from gateway.demo import runner as demo
from gateway.demo.loopback import run_cli

PG = os.environ.get("GATEWAY_TEST_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")
STORES = [s for s in os.environ.get("GATEWAY_TEST_STORES", "sqlite,postgresql").split(",") if s]


class StoreFactory:
    """Make store URLs for nodes: None (SQLite in the node home) or a fresh PG schema."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.schemas: list[str] = []

    def url(self) -> str | None:
        if self.kind == "sqlite":
            return None
        schema = "t_" + uuid.uuid4().hex[:12]
        engine = create_engine(PG)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        self.schemas.append(schema)
        return f"{PG}?options=-csearch_path%3D{schema}"

    def cleanup(self) -> None:
        if not self.schemas:
            return
        engine = create_engine(PG)
        with engine.begin() as conn:
            for schema in self.schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=STORES)
def stores(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    factory = StoreFactory(request.param)
    yield factory
    factory.cleanup()


@pytest.fixture
def make_home(tmp_path: Path, stores: StoreFactory) -> Any:
    """``make_home(org_id)`` -> an initialised node home (via the real CLI)."""

    def make(
        org_id: str = "ggz-noord", name: str = "GGZ Noord", url: str = "http://127.0.0.1:8400", alg: str = "ES256"
    ) -> Path:
        home = tmp_path / org_id
        args = ["init", str(home), "--org-id", org_id, "--name", name, "--url", url, "--alg", alg]
        db = stores.url()
        if db:
            args += ["--db", db]
        run_cli(*args)
        return home

    return make


@pytest.fixture
def home(make_home: Any) -> Path:
    return make_home()  # type: ignore[no-any-return]


@pytest.fixture
def app(home: Path) -> Any:
    application = create_app(config.load(home))
    yield application
    application.extensions["gateway"].uow.engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def federation(tmp_path: Path, stores: StoreFactory) -> Iterator[Any]:
    """Two real nodes (gunicorn) that trust each other, with the demo family loaded."""
    ggz, jeugd = demo.build_federation(tmp_path, {"ggz-noord": stores.url(), "jeugdteam-west": stores.url()})
    try:
        ids = demo.load_families(ggz, jeugd)
        yield ggz, jeugd, ids
    finally:
        ggz.stop()
        jeugd.stop()


# --- two workers (pytest-xdist, ``make test``) ------------------------------------------------

# Most expensive tier first, so that no worker starts a federation while the other has only
# unit tests left (longest work first); within a tier the collection order stays.
TIER_ORDER = ["faults", "browser", "scenarios", "operations", "fuzz", "integration", "unit"]
PACKAGE_SCOPED = {"faults"}  # tiers whose expensive fixture (``fed``) is package-scoped
PER_TEST = {"fuzz"}  # tiers with function-scoped fixtures only: each test builds its own node
STORE_IDS = {"sqlite", "postgresql"}


def _tier(nodeid: str) -> str:
    parts = nodeid.split("::", 1)[0].split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "tests" else ""


def work_unit(nodeid: str) -> str:
    """What one worker runs whole: a test module (a package for ``PACKAGE_SCOPED``) on one store.

    Module- and package-scoped fixtures (a federation of gunicorn nodes, an IdP, a FHIR
    server) are built by each worker that runs one of their tests, so those tests stay on
    one worker, classes included. Such a fixture is parametrised by store (the ``STORES``
    id in the test id), and the SQLite instance shares nothing with the PostgreSQL one, so
    the two stores of a module are two units that may run side by side. A ``PER_TEST`` tier
    has no such fixture: its tests (schemathesis' operations, the longest module) are units
    of their own, so both workers share them.
    """
    path, _, name = nodeid.partition("::")
    tier = _tier(nodeid)
    if tier in PER_TEST:
        return nodeid
    scope = f"tests/{tier}" if tier in PACKAGE_SCOPED else path
    ids = name.partition("[")[2].removesuffix("]").split("-")
    store = next((i for i in ids if i in STORE_IDS), "")
    return f"{scope}[{store}]" if store else scope


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` with our work units instead of xdist's modules and classes.

    (xdist's ``loadgroup`` cannot carry this: under pytest 9 it can no longer rename the
    test ids it groups by.) Other ``--dist`` modes keep xdist's own schedulers.
    """
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling  # noqa: PLC0415 - only a distributed run loads xdist

    class WorkUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnitScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tiers in cost order (a stable sort: pytest's order within a tier stays).

    With ``--no-loadscope-reorder`` (``make test``) the workers take the work units in this
    order, the longest first.
    """
    rank = {tier: i for i, tier in enumerate(TIER_ORDER)}
    items.sort(key=lambda item: rank.get(_tier(item.nodeid), len(TIER_ORDER)))
