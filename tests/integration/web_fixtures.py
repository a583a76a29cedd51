"""The fixtures the web-page tests share: Jeugdteam West's pages with one partner, a family,
and a professional logged in. A test module takes them with
``from web_fixtures import app, client, ids``; pytest finds fixtures a module imports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from web_builders import PROFESSIONAL, a_family, a_partner, dispose_all, logged_in, web_app

from gateway.repositories import audit_log


@pytest.fixture
def app(make_home: Any) -> Iterator[Any]:
    application = web_app(make_home("jeugdteam-west", "Jeugdteam West"))
    a_partner(application)
    yield application
    dispose_all()


@pytest.fixture
def ids(app: Any) -> dict[str, str]:
    return a_family(app)


@pytest.fixture
def client(app: Any) -> Any:
    return logged_in(app, PROFESSIONAL)


def logged(app: Any, action: str) -> list[dict[str, Any]]:
    """The audit entries of ``action`` on the node behind ``app``, newest first."""
    with app.extensions["gateway"].uow(read_only=True) as uow:
        return [json.loads(e.record_json) for e in audit_log.entries(uow.session, action=action)]
