"""A worker is called away mid-form; the session times out (issue 20.5, WCAG 2.2.1). The form
says so beforehand, and what was typed is waiting after logging in again."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import pytest
from flask import session
from test_web_professional import _relation
from web_builders import PROFESSIONAL, a_family, a_partner, dispose_all, logged_in, post, web_app

from gateway.services import consents
from gateway.web import security


@pytest.fixture
def app(make_home: Any) -> Any:
    application = web_app(make_home("jeugdteam-west", "Jeugdteam West"))
    a_partner(application)
    yield application
    dispose_all()


def idle_for(client: Any, minutes: int) -> None:
    with client.session_transaction() as s:
        s["seen"] = int(time.time()) - minutes * 60


def log_in_again(client: Any) -> None:
    """What the IdP's callback does (security.login), in this browser's session."""
    with client.application.test_request_context():
        with client.session_transaction() as s:
            session.update(s)
            security.login(dict(PROFESSIONAL))
            s.clear()
            s.update(session)
            s["csrf"] = "test-csrf-token"


def test_a_half_filled_consent_form_survives_the_timeout(app: Any) -> None:
    ids = a_family(app)
    client = logged_in(app, PROFESSIONAL)
    url = f"/clienten/{ids['child']}/toestemming"
    assert "na 15 minuten zonder versturen wordt u uitgelogd" in client.get(url).text
    mother = _relation(client, ids, "mother")
    typed = {
        "doel": "joint-safety-planning",
        "categorie": ["signals", "care-team"],
        "van": "ggz-noord",
        "naar": "jeugdteam-west",
        "start": date.today().isoformat(),
        "end": (date.today() + timedelta(days=90)).isoformat(),
        f"antwoord-RelatedPerson/{mother}": "ja",
    }
    idle_for(client, 20)

    late = post(client, url, typed)

    assert late.status_code == 401 and "Wat u had ingevuld is bewaard" in late.text
    assert "csrf" not in late.text and consents.list_for(app.extensions["gateway"], ids["child"]) == []
    log_in_again(client)
    home = client.get("/").text
    assert f'href="{url}"' in home and "Verder met dat formulier" in home
    restored = client.get(url).text
    assert "Hieronder staat weer wat u had ingevuld" in restored
    assert 'value="care-team" checked' in restored and (date.today() + timedelta(days=90)).isoformat() in restored
    assert consents.list_for(app.extensions["gateway"], ids["child"]) == []  # nothing done until sent again
    assert "Hieronder staat weer" not in client.get(url).text  # restored once, then forgotten


def test_a_forged_post_after_the_timeout_is_not_kept(app: Any) -> None:
    ids = a_family(app)
    client = logged_in(app, PROFESSIONAL)
    idle_for(client, 20)

    forged = client.post(f"/clienten/{ids['child']}/toestemming", data={"csrf_token": "guessed", "doel": "x"})

    assert forged.status_code == 400  # the CSRF refusal, as before: nothing stored
    log_in_again(client)
    assert "Verder met dat formulier" not in client.get("/").text
