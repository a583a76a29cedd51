"""A privacy officer's pages: the audited timeline, flags, verification, the report, reconciliation."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from web_builders import MOTHER, PRIVACY_OFFICER, a_family, a_partner, dispose_all, logged_in, post, web_app

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


def record(app: Any, **fields: Any) -> None:
    node = app.extensions["gateway"]
    with node.uow() as uow:
        audit_log.append(uow.session, node, events.AuditRecord(**fields))
        uow.commit()


def disclosure(app: Any, *, peer: str = "jeugdteam-west", subject: str = MOTHER) -> None:
    record(
        app,
        action=events.DISCLOSURE_SENT,
        outcome=events.SUCCESS,
        actor_id="uzi:900000303",
        actor_role="partner",
        peer_org=peer,
        subject=subject,
        purpose="joint-safety-planning",
        categories=("signals",),
        consent_id="jeugdteam-west/c1",
        exchange_id="x1",
    )


def refusal(app: Any, code: str, peer: str = "jeugdteam-west") -> None:
    record(
        app,
        action=events.DISCLOSURE_REFUSED,
        outcome=events.REFUSED,
        actor_id=f"org:{peer}",
        actor_role="partner",
        peer_org=peer,
        reason_code=code,
        subject=MOTHER,
    )


def test_the_timeline_filters_by_person_and_partner_and_the_search_is_audited(app: Any, officer: Any) -> None:
    disclosure(app)
    disclosure(app, peer="wijkteam-oost")

    page = post(officer, "/privacy/logboek", {"persoon": MOTHER, "partner": "jeugdteam-west"}).text

    assert page.count("Samenvatting verstrekt aan een partnerorganisatie") == 1
    assert "wijkteam-oost" not in page.split("<table")[1]
    node = app.extensions["gateway"]
    with node.uow() as uow:
        last = audit_log.stored(audit_log.entries(uow.session, limit=1)[0]).record
    assert last.action == events.AUDIT_READ and last.subject == MOTHER and last.actor_id == "oidc:piet"


def test_a_wrong_bsn_filter_is_explained_next_to_its_field(officer: Any) -> None:
    resp = post(officer, "/privacy/logboek", {"persoon": "123456789"})

    assert resp.status_code == 422 and 'href="#persoon"' in resp.text and 'aria-invalid="true"' in resp.text


def test_flags_show_safety_disclosures_forged_tokens_and_bursts(app: Any, officer: Any) -> None:
    record(
        app,
        action=events.SAFETY_DISCLOSURE_SENT,
        outcome=events.SUCCESS,
        actor_id="uzi:900000303",
        peer_org="jeugdteam-west",
        subject=MOTHER,
        legal_ground="meldcode",
        flagged=True,
        detail={"justification": "Acuut gevaar voor het kind."},
    )
    refusal(app, "replay")
    refusal(app, "bad-signature")
    for _ in range(3):
        refusal(app, "consent-revoked")

    page = officer.get("/privacy/signalen").text

    assert "Verstrekkingen zonder toestemming" in page and "Acuut gevaar voor het kind." in page
    assert "Herhaalde of vervalste tokens" in page and "<code>replay</code>" in page
    assert "5 geweigerde verzoeken binnen 10 minuten van jeugdteam-west" in page


def test_the_chain_verification_status_is_shown(app: Any, officer: Any) -> None:
    disclosure(app)

    assert "Het logboek is intact" in officer.get("/privacy/verificatie").text


def test_the_report_is_a_printable_page_of_its_own(app: Any, officer: Any) -> None:
    disclosure(app)

    resp = post(officer, "/privacy/rapport", {"persoon": MOTHER})

    assert "Overzicht van gedeelde gegevens" in resp.text and "jeugdteam-west" in resp.text
    assert "'sha256-" in resp.headers["Content-Security-Policy"]
    assert "script-src 'none'" in resp.headers["Content-Security-Policy"]


def test_reconciliation_reports_an_unreachable_partner_in_dutch(officer: Any) -> None:
    page = post(officer, "/privacy/afstemming", {"partner": "alle", "van": date.today().isoformat()}).text

    assert "jeugdteam-west" in page and "Niet gelukt" in page
