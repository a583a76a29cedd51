"""Fixtures of the services tier: a node on fakes, and units of work on both kinds of store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakes
import pytest

from adapters.store import UnitOfWorkFactory, make_engine, migrate
from gateway.repositories.sessions import Lookups
from gateway.repositories.unit import Unit


@pytest.fixture
def node() -> fakes.FakeNode:
    """A node whose store, partners and clock are in memory."""
    return fakes.FakeNode()


@pytest.fixture(params=["fake", "sqlite"])
def uow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A unit-of-work factory: the fake one, and the real one on a migrated SQLite file."""
    if request.param == "fake":
        yield fakes.FakeUnitOfWorkFactory()
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    yield UnitOfWorkFactory(engine, unit=Unit, lookups=Lookups)
    engine.dispose()
