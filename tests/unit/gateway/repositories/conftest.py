"""Fixtures of the repository tests: units of work on both kinds of store.

The fake one is the services tier's (``tests/unit/gateway/services/fakes.py``): these tests
hold it to what the real repositories do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.store import UnitOfWorkFactory, make_engine, migrate
from gateway.repositories.sessions import Lookups
from gateway.repositories.unit import Unit
from tests.unit.gateway.services import fakes


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
