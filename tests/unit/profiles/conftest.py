"""Fixtures for the profile tests; the builders live in ``profiles_builders``."""

from __future__ import annotations

from typing import Any

import profiles_builders
import pytest


@pytest.fixture
def mother_records() -> list[dict[str, Any]]:
    return profiles_builders.mother_records()
