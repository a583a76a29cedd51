"""A privacy officer reviews (issue 20.12): seconds in the timeline, one entry in detail,
flags marked handled (who, when, a note; itself audited), no empty person column."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from test_web_privacy import disclosure, record
from web_builders import (
    MOTHER,
    PRIVACY_OFFICER,
    a_family,
    a_partner,
    dispose_all,
    logged_in,
    once_token,
    post,
    web_app,
)

from audit import events
from gateway.repositories import audit_log


@pytest.fixture
def app(make_home: Any) -> Any:
    application = web_app(make_home("ggz-noord", "GGZ Noord"))
    a_partner(application, "jeugdteam-west")
    a_family(application)
    yield application
    dispose_all()


@pytest.fixture
def officer(app: Any) -> Any:
    return logged_in(app, PRIVACY_OFFICER)


def safety(app: Any, subject: str = MOTHER, known: bool = True) -> None:
    record(
        app,
        action=events.SAFETY_DISCLOSURE_RECEIVED,
        outcome=events.SUCCESS,
        actor_id="uzi:900000111",
        actor_role="partner",
        peer_org="jeugdteam-west",
        subject=subject,
        legal_ground="meldcode",
        flagged=True,
        exchange_id="s1",
        detail={"justification": "Meldcode stap 5.", "subject_known": known},
    )


def logged(app: Any, action: str) -> list[dict[str, Any]]:
    with app.extensions["gateway"].uow(read_only=True) as uow:
        return [json.loads(e.record_json) for e in audit_log.entries(uow.session, action=action)]


def test_the_timeline_shows_seconds_and_opens_one_entry(app: Any, officer: Any) -> None:
    disclosure(app)

    page = post(officer, "/privacy/logboek", {"persoon": MOTHER}).text
    link = re.search(r'href="(/privacy/logboek/[0-9a-f]+)">[^<]*, (\d{2}:\d{2}:\d{2})', page)

    assert link, "a time to the second, linking to the entry"
    detail = officer.get(link.group(1)).text
    assert "Verzoek-hash" in detail and "jeugdteam-west/c1" in detail and "eigen hash" in detail
    assert logged(app, events.AUDIT_READ)[0]["detail"]["view"] == "entry"


def test_a_flag_is_marked_handled_once_with_who_and_when(app: Any, officer: Any) -> None:
    safety(app)
    page = officer.get("/privacy/signalen").text
    event_id = re.search(r"/privacy/signalen/([0-9a-f]+)/afgehandeld", page).group(1)
    token = once_token(officer)

    first = post(
        officer, f"/privacy/signalen/{event_id}/afgehandeld", {"notitie": "Besproken in MDO.", "form_once": token}
    )
    again = post(
        officer, f"/privacy/signalen/{event_id}/afgehandeld", {"notitie": "Besproken in MDO.", "form_once": token}
    )

    assert first.status_code == 303 and again.status_code == 303  # a reload lands on the flags again
    after = officer.get("/privacy/signalen").text
    assert "Afgehandeld door oidc:piet op" in after and "Besproken in MDO." in after
    [handled] = logged(app, events.FLAG_HANDLED)
    assert handled["detail"]["event_id"] == event_id and handled["actor_id"] == "oidc:piet"
    twice = post(officer, f"/privacy/signalen/{event_id}/afgehandeld", {"notitie": ""})
    assert twice.status_code == 409 and len(logged(app, events.FLAG_HANDLED)) == 1


def test_the_flags_page_never_shows_an_empty_person_cell(app: Any, officer: Any) -> None:
    record(
        app,
        action=events.DISCLOSURE_REFUSED,
        outcome=events.REFUSED,
        actor_id="org:jeugdteam-west",
        actor_role="partner",
        peer_org="jeugdteam-west",
        reason_code="replay",
    )
    safety(app, known=False)

    page = officer.get("/privacy/signalen").text

    assert "<td></td>" not in page
    assert "geen persoon" in page and "niet bekend bij ons" in page
