"""Fixtures of the services tier: a node on fakes (the units of work on both kinds of store are
``tests/unit/gateway/repositories/conftest.py``'s)."""

from __future__ import annotations

import fakes
import pytest


@pytest.fixture
def node() -> fakes.FakeNode:
    """A node whose store, partners and clock are in memory."""
    return fakes.FakeNode()
