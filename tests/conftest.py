"""Shared fixtures, stacked as in Flask's tutorial: store -> node home -> app -> client.

Every test that touches a store runs twice: on the embedded SQLite default and on
PostgreSQL (``GATEWAY_TEST_PG``, default the local server at 127.0.0.1:5432, database
``test``). Each PostgreSQL node gets its own schema, dropped afterwards.
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
    def make(org_id: str = "ggz-noord", name: str = "GGZ Noord", url: str = "http://127.0.0.1:8400",
             alg: str = "ES256") -> Path:
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
