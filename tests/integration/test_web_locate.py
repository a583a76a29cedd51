"""Pages: a parent agrees to be findable; a professional sees who is involved with a family.

Real node and store. Where a partner must answer, its answer is given at the search's
partner boundary (``locate.ask_all``); a partner that cannot be reached is a real one.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from web_builders import CHILD, FATHER, MOTHER, PROFESSIONAL, a_partner, post
from web_fixtures import app, client, ids  # noqa: F401 - pytest fixtures

from adapters.store.models import ConsentRow
from audit import events
from gateway.federation import directory
from gateway.repositories import audit_log
from gateway.services import locate


def test_the_consent_form_offers_being_findable_in_plain_dutch(client: Any, ids: dict[str, str]) -> None:
    page = client.get(f"/clienten/{ids['mother']}/toestemming").text
    assert "Andere hulpverleners mogen zien dat wij bij u betrokken zijn, en hoe zij ons bereiken" in page
    assert 'value="involvement"' not in page  # never a kind of data one picks or shares


def test_a_mother_agrees_to_be_findable_here_only(app: Any, client: Any, ids: dict[str, str]) -> None:
    answer = f"antwoord-Patient/{ids['mother']}"
    resp = post(
        client,
        f"/clienten/{ids['mother']}/toestemming",
        {
            answer: "ja",
            "doel": "findable",
            "van": "ggz-noord",
            "start": date.today().isoformat(),
            "end": (date.today() + timedelta(days=365)).isoformat(),
        },
    )
    assert resp.status_code == 303, resp.text  # post/redirect/get (issue 20)
    with app.extensions["gateway"].uow(read_only=True) as uow:
        (row,) = uow.session.query(ConsentRow).filter_by(subject_id=ids["mother"]).all()
        assert (row.purpose, json.loads(row.holders), json.loads(row.recipients), json.loads(row.categories)) == (
            "findable",
            ["jeugdteam-west"],
            [],
            ["involvement"],
        )


def test_who_is_involved_names_the_organisation_and_who_did_not_answer(
    app: Any, client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_partner(app, "wijkteam-oost")
    real = locate.ask_all

    def answers(node: Any, subjects: tuple[str, ...]) -> Any:
        assert set(subjects) == {CHILD, MOTHER, FATHER}  # the child and both parents, in one search
        outcomes, partners = real(node, ())  # the real partners; nobody is asked for nothing
        return (
            [locate.Outcome("ggz-noord", found=[MOTHER]), locate.Outcome("wijkteam-oost", reason="partner-timeout")],
            partners,
        )

    monkeypatch.setattr(locate, "ask_all", answers)
    page = post(client, f"/clienten/{ids['child']}/betrokkenen").text
    sanne = page.split("Sanne Jansen")[1].split("<h3>")[0]
    assert "ggz-noord" in sanne and "(Andere organisatie)" in sanne
    assert "Niet bereikt:" in page and "wijkteam-oost (antwoordde niet op tijd)" in page
    with app.extensions["gateway"].uow(read_only=True) as uow:
        seen = [json.loads(e.record_json) for e in audit_log.entries(uow.session, action=events.LOCATE_SEARCHED)]
    assert {(r["subject"], tuple(r["detail"]["found"])) for r in seen} == {
        (MOTHER, ("ggz-noord",)),
        (CHILD, ()),
        (FATHER, ()),
    }
    assert {r["actor_id"] for r in seen} == {PROFESSIONAL["actor_id"]}


def test_the_family_overview_starts_from_who_is_involved(client: Any, ids: dict[str, str]) -> None:
    page = post(client, f"/clienten/{ids['child']}/gezinsoverzicht").text
    assert "Wie is betrokken" in page and page.index("Wie is betrokken") < page.index("Antwoorden")
    # the partner at port 9 cannot be reached: named, not hidden
    assert "ggz-noord (niet bereikbaar)" in page


def test_the_directory_lists_the_trusted_partners(app: Any) -> None:
    node = app.extensions["gateway"]
    assert [e.org_id for e in directory.entries(node)] == ["ggz-noord"]
    assert directory.entry(node, "nobody") is None
