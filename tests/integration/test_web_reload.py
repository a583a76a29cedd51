"""A professional presses F5 on every page that did something (issue 20.1): nothing is
done twice. Each state-changing form redirects after success (post/redirect/get) and
carries a one-time token; a resent form is recognised whichever worker gets it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from test_web_professional import _consent, _relation, a_safety_plan, pushes_to_partner
from web_builders import PROFESSIONAL, logged_in, once_token, post
from web_fixtures import app, client, ids, logged  # noqa: F401 - pytest fixtures

from audit import events
from gateway.fhir import fhir_in
from gateway.repositories import audit_log
from gateway.services import consents
from gateway.web import pages_professional, present


def submit_twice(client: Any, url: str, data: dict[str, Any]) -> tuple[Any, Any]:
    """Send a form, then send exactly the same form again (what F5 on the result does)."""
    token = once_token(client)
    return (post(client, url, {**data, "form_once": token}), post(client, url, {**data, "form_once": token}))


def test_reloading_after_a_consent_leaves_one_consent(app: Any, client: Any, ids: dict[str, str]) -> None:
    answers = {f"antwoord-RelatedPerson/{_relation(client, ids, w)}": "ja" for w in ("mother", "father")}
    form = {
        "doel": "joint-safety-planning",
        "categorie": ["signals"],
        "van": "ggz-noord",
        "naar": "jeugdteam-west",
        "start": date.today().isoformat(),
        "end": (date.today() + timedelta(days=30)).isoformat(),
        **answers,
    }

    first, again = submit_twice(client, f"/clienten/{ids['child']}/toestemming", form)

    assert first.status_code == 303 and again.status_code == 303
    assert again.headers["Location"] == first.headers["Location"]  # back to the same result page
    assert len(consents.list_for(app.extensions["gateway"], ids["child"])) == 1
    result = client.get(first.headers["Location"])
    assert result.status_code == 200 and "Toestemming vastgelegd" in result.text


def test_reloading_a_revocation_revokes_once(app: Any, client: Any, ids: dict[str, str]) -> None:
    cid = consents.record(
        app.extensions["gateway"], fhir_in.consent(_consent(ids["mother"], "ggz-noord")), _web_actor()
    )["id"]

    first, again = submit_twice(client, f"/toestemming/{cid}/intrekken", {"wie": "hulpverlener"})

    assert (first.status_code, again.status_code) == (303, 303)
    assert "Toestemming ingetrokken" in client.get(first.headers["Location"]).text
    assert len(logged(app, events.CONSENT_REVOKED)) == 1


def test_reloading_a_safety_disclosure_confirmation_sends_nothing_more(
    app: Any, client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed = pushes_to_partner(app, monkeypatch)
    a_safety_plan(app, ids["child"])
    form = {
        "ontvanger": "ggz-noord",
        "categorie": ["safety-plan"],
        "grond": "meldcode",
        "stap": "bevestigen",
        "bevestiging": "ja",
        "onderbouwing": "Acuut gevaar voor het kind volgens de meldcode.",
    }

    first, again = submit_twice(client, f"/clienten/{ids['child']}/veiligheidsmelding", form)

    assert len(pushed) == 1 and len(logged(app, events.SAFETY_DISCLOSURE_SENT)) == 1
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert "afgeleverd bij ggz-noord" in client.get(first.headers["Location"]).text


def test_another_professional_cannot_open_someone_elses_disclosure_result(
    app: Any, client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pushes_to_partner(app, monkeypatch)
    a_safety_plan(app, ids["child"])
    form = {
        "ontvanger": "ggz-noord",
        "categorie": ["safety-plan"],
        "grond": "meldcode",
        "stap": "bevestigen",
        "bevestiging": "ja",
        "onderbouwing": "Acuut gevaar voor het kind volgens de meldcode.",
    }
    where = post(client, f"/clienten/{ids['child']}/veiligheidsmelding", form).headers["Location"]

    other = logged_in(app, dict(PROFESSIONAL, sub="kees", actor_id="uzi:900000404"))
    assert other.get(where).status_code == 404


def test_reloading_a_summary_asks_the_partner_once(
    app: Any, client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def ask(
        node: Any, who: Any, bsn: str, pid: str, partner: str, purpose: str, cats: list[str], note: str | None = None
    ) -> present.Summary:
        calls.append(partner)
        return present.Summary(partner, "vandaag", "1.0.0", "x", "c", purpose, [])

    monkeypatch.setattr(pages_professional, "ask_partner", ask)
    first, again = submit_twice(
        client,
        f"/clienten/{ids['mother']}/samenvatting",
        {"partner": "ggz-noord", "doel": "joint-safety-planning", "categorie": ["signals"]},
    )

    assert first.status_code == 200 and calls == ["ggz-noord"]
    assert again.status_code == 409 and "al verstuurd" in again.text
    assert f'href="/clienten/{ids["mother"]}/samenvatting"' in again.text


def test_reloading_the_family_overview_asks_nobody_again(
    app: Any, client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    consents.record(app.extensions["gateway"], fhir_in.consent(_consent(ids["mother"], "ggz-noord")), _web_actor())
    calls: list[str] = []
    monkeypatch.setattr(
        pages_professional,
        "ask_partner",
        lambda *a, **k: calls.append(a[4]) or present.Summary(a[4], "", "1", "x", "c", a[5], []),
    )

    first, again = submit_twice(client, f"/clienten/{ids['child']}/gezinsoverzicht", {})

    assert first.status_code == 200 and calls == ["ggz-noord"] and again.status_code == 409


def test_a_form_without_its_one_time_token_is_refused(app: Any, client: Any, ids: dict[str, str]) -> None:
    cid = consents.record(
        app.extensions["gateway"], fhir_in.consent(_consent(ids["mother"], "ggz-noord")), _web_actor()
    )["id"]

    forged = client.post(f"/toestemming/{cid}/intrekken", data={"csrf_token": "test-csrf-token", "wie": "hulpverlener"})
    other_session = logged_in(app, PROFESSIONAL)
    stolen = post(
        other_session, f"/toestemming/{cid}/intrekken", {"form_once": once_token(client), "wie": "hulpverlener"}
    )

    assert forged.status_code == 400 and stolen.status_code == 400
    assert logged(app, events.CONSENT_REVOKED) == []


def _web_actor() -> Any:
    return audit_log.Actor(actor_id="uzi:900000303", role="professional", client_id="web")
