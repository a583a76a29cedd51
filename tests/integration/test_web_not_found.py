"""A mistyped address in the browser gets a Dutch page; the API keeps its OperationOutcome
(issue 20.14)."""

from __future__ import annotations

from typing import Any

import pytest
from web_builders import PROFESSIONAL, dispose_all, logged_in, web_app


@pytest.fixture
def app(make_home: Any) -> Any:
    application = web_app(make_home("jeugdteam-west", "Jeugdteam West"))
    yield application
    dispose_all()


def test_an_unknown_page_is_a_dutch_page_with_a_way_on(app: Any) -> None:
    client = logged_in(app, PROFESSIONAL)

    resp = client.get("/clienten-zoeken", headers={"Accept": "text/html"})

    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert "Deze pagina bestaat niet" in resp.text and 'lang="nl"' in resp.text
    assert "Een cliënt zoeken" in resp.text  # the menu of a logged-in professional
    assert "script-src 'none'" in resp.headers["Content-Security-Policy"]


def test_an_unknown_page_before_login_is_dutch_too(app: Any) -> None:
    resp = app.test_client().get("/privacy/onbekend")

    assert resp.status_code == 404 and "Deze pagina bestaat niet" in resp.text


@pytest.mark.parametrize("path", ["/fhir/Nonsense", "/fhir/Patient/x/y", "/oauth/nope", "/.well-known/x"])
def test_an_unknown_api_address_stays_an_operation_outcome(app: Any, path: str) -> None:
    resp = app.test_client().get(path)

    assert resp.status_code == 404 and resp.mimetype == "application/fhir+json"
    assert resp.get_json()["issue"][0]["details"]["coding"][0]["code"] == "not-found"
