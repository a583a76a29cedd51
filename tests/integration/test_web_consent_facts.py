"""What a worker records and reads about consent (issue 20.4, 20.10, 20.11): a parent's
refusal is kept as a fact, who withdrew is kept, refusals say what to do next, and forms
name people by name and fill in what is known."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from test_web_professional import _consent, _relation
from web_builders import MOTHER, PROFESSIONAL, WEB, a_family, a_partner, dispose_all, logged_in, post, web_app
from web_fixtures import app, client, ids, logged  # noqa: F401 - pytest fixtures

from audit import events
from audit.events import AuditRecord
from contract.errors import ConsentRevoked, PartnerRefusal
from gateway.fhir import fhir_in
from gateway.repositories import audit_log
from gateway.services import auditing, consents
from gateway.web import disclosure_report, oidc, pages_professional


def form(**answers: str) -> dict[str, Any]:
    return {
        "doel": "joint-safety-planning",
        "categorie": ["signals"],
        "van": "ggz-noord",
        "naar": "jeugdteam-west",
        "start": date.today().isoformat(),
        "end": (date.today() + timedelta(days=30)).isoformat(),
        **answers,
    }


def actor() -> audit_log.Actor:
    return audit_log.Actor(actor_id="uzi:900000303", role="professional", client_id="web")


def test_a_fathers_refusal_is_recorded_shown_and_shares_nothing(app: Any, client: Any, ids: dict[str, str]) -> None:
    mother, father = _relation(client, ids, "mother"), _relation(client, ids, "father")

    done = post(
        client,
        f"/clienten/{ids['child']}/toestemming",
        form(**{f"antwoord-RelatedPerson/{mother}": "ja", f"antwoord-RelatedPerson/{father}": "nee"}),
        follow_redirects=True,
    )

    assert done.status_code == 200 and "Weigering vastgelegd" in done.text and "Bram Jansen" in done.text
    assert "BSN" not in done.text
    page = client.get(f"/clienten/{ids['child']}").text
    assert "geweigerd</strong> door Bram Jansen" in page
    [declined] = logged(app, events.CONSENT_DECLINED)
    assert declined["detail"] == {"refused_by": [f"RelatedPerson/{father}"]}
    assert logged(app, events.CONSENT_RECORDED) == []
    [line] = consents.list_for(app.extensions["gateway"], ids["child"])
    assert line["status"] == "rejected"
    with pytest.raises(ConsentRevoked):  # a refusal never yields a token
        consents.issue_token(app.extensions["gateway"], line["id"], "jeugdteam-west", actor())


def test_not_asked_is_not_a_refusal(client: Any, ids: dict[str, str]) -> None:
    mother = _relation(client, ids, "mother")

    resp = post(client, f"/clienten/{ids['child']}/toestemming", form(**{f"antwoord-RelatedPerson/{mother}": "ja"}))

    assert resp.status_code == 422 and "Toestemming ontbreekt van" in resp.text
    assert "Bram Jansen" in resp.text  # named by name, not by the end of his BSN alone


def test_who_withdrew_a_consent_is_kept(app: Any, client: Any, ids: dict[str, str]) -> None:
    node = app.extensions["gateway"]
    cid = consents.record(node, fhir_in.consent(_consent(ids["mother"], "ggz-noord")), actor())["id"]
    page = client.get(f"/toestemming/{cid}/intrekken").text
    assert "Wie trekt de toestemming in?" in page and "Sanne Jansen (de persoon zelf)" in page

    unchosen = post(client, f"/toestemming/{cid}/intrekken", {})
    done = post(client, f"/toestemming/{cid}/intrekken", {"wie": f"Patient/{ids['mother']}"}, follow_redirects=True)

    assert unchosen.status_code == 422 and "Kies wie de toestemming intrekt" in unchosen.text
    assert "Ingetrokken door Sanne Jansen" in done.text
    [revoked] = logged(app, events.CONSENT_REVOKED)
    assert revoked["detail"] == {"withdrawn_by": f"Patient/{ids['mother']}"}
    assert "ingetrokken door Sanne Jansen" in client.get(f"/clienten/{ids['mother']}").text


def test_a_refusal_says_what_the_worker_can_do(
    client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "not-found",
                "details": {
                    "coding": [{"code": "subject-unknown"}],
                    "text": "Over deze persoon kan geen samenvatting worden gegeven.",
                },
            }
        ],
    }

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise PartnerRefusal(404, body, "subject-unknown")

    monkeypatch.setattr(pages_professional.exchange, "request_summary", refuse)
    resp = post(
        client,
        f"/clienten/{ids['mother']}/samenvatting",
        {"partner": "ggz-noord", "doel": "joint-safety-planning", "categorie": ["signals"]},
    )

    assert "Wat u kunt doen:" in resp.text and "controleer het BSN" in resp.text
    assert "Code voor de servicedesk: <code>subject-unknown</code>" in resp.text


def test_a_request_without_a_covering_consent_is_refused_in_dutch_and_audited(
    app: Any, client: Any, ids: dict[str, str]
) -> None:
    resp = post(
        client,
        f"/clienten/{ids['mother']}/samenvatting",
        {"partner": "ggz-noord", "doel": "joint-safety-planning", "categorie": ["signals"]},
    )

    assert "geen geldige toestemming die deze vraag dekt" in resp.text
    [failed] = logged(app, events.SUMMARY_REQUEST_FAILED)  # issue 20.3: the requester audits it too
    assert failed["subject"] and failed["peer_org"] == "ggz-noord" and failed["reason_code"] == "invalid-request"
    assert failed["actor_id"] == PROFESSIONAL["actor_id"]


def test_the_summary_form_is_filled_in_from_the_one_valid_consent(app: Any, client: Any, ids: dict[str, str]) -> None:
    consents.record(app.extensions["gateway"], fhir_in.consent(_consent(ids["mother"], "ggz-noord")), actor())

    page = client.get(f"/clienten/{ids['mother']}/samenvatting").text

    assert '<option value="ggz-noord" selected>' in page
    assert 'value="joint-safety-planning" checked' in page and 'value="signals" checked' in page


def test_the_overview_names_who_it_leaves_out(app: Any, client: Any, ids: dict[str, str]) -> None:
    consents.record(app.extensions["gateway"], fhir_in.consent(_consent(ids["mother"], "ggz-noord")), actor())

    page = client.get(f"/clienten/{ids['child']}/gezinsoverzicht").text

    assert "Er wordt 1 vraag gesteld" in page and "1 seconde." in page
    assert "Bram Jansen (" in page and "niet gevraagd</strong>, want er is hier geen geldige toestemming" in page


# --- the receipt and the AVG report (issue 20.8, 20.9) ----------------------------------


@pytest.fixture
def phoned(make_home: Any) -> Any:
    application = web_app(
        make_home("jeugdteam-west", "Jeugdteam West"), WEB, env={"GATEWAY_NODE_PHONE": "020 555 0100"}
    )
    a_partner(application)
    yield application
    dispose_all()


def test_the_receipt_tells_a_parent_about_whom_who_agreed_and_whom_to_call(phoned: Any) -> None:
    ids = a_family(phoned)
    client = logged_in(phoned, PROFESSIONAL)
    mother, father = _relation(client, ids, "mother"), _relation(client, ids, "father")
    where = post(
        client,
        f"/clienten/{ids['child']}/toestemming",
        form(**{f"antwoord-RelatedPerson/{mother}": "ja", f"antwoord-RelatedPerson/{father}": "ja"}),
    ).headers["Location"]
    cid = where.split("/")[2]

    page = client.get(f"/toestemming/{cid}/bewijs").text

    assert "<strong>Over wie:</strong> Noor Jansen, geboren 15 januari" in page
    assert "<li>Sanne Jansen (ouder met gezag)</li>" in page and "<li>Bram Jansen (ouder met gezag)</li>" in page
    assert "door Pien de Wit (Jeugdteam West)" in page  # who recorded it, and when
    assert "<strong>Vastgelegd op</strong>" in page
    assert "<strong>020 555 0100</strong>" in page
    short = f"{cid[:4].upper()}-{cid[4:8].upper()}"
    assert f"<strong>Kenmerk:</strong> {short}" in page
    assert "ggz-noord" in page  # partners are named as the directory knows them


def test_the_receipt_of_a_refusal_reads_as_a_refusal(app: Any, client: Any, ids: dict[str, str]) -> None:
    mother, father = _relation(client, ids, "mother"), _relation(client, ids, "father")
    where = post(
        client,
        f"/clienten/{ids['child']}/toestemming",
        form(**{f"antwoord-RelatedPerson/{mother}": "ja", f"antwoord-RelatedPerson/{father}": "nee"}),
    ).headers["Location"]

    page = client.get(f"/toestemming/{where.split('/')[2]}/bewijs").text

    assert "Bewijs van een weigering" in page and "<strong>geen toestemming</strong>" in page
    assert "Geweigerd door:</strong></p><ul><li>Bram Jansen (ouder met gezag)</li>" in page
    assert "U heeft toestemming gegeven" not in page


def test_the_avg_report_names_the_consent_a_disclosure_was_made_under(app: Any, ids: dict[str, str]) -> None:
    node = app.extensions["gateway"]
    cid = consents.record(node, fhir_in.consent(_consent(ids["mother"], "ggz-noord")), actor())["id"]

    with node.uow() as uow:  # the requester's receipt of a summary under that consent
        audit_log.append(
            uow.session,
            node,
            AuditRecord(
                action=events.SUMMARY_RECEIVED,
                outcome=events.SUCCESS,
                subject=MOTHER,
                peer_org="ggz-noord",
                purpose="joint-safety-planning",
                categories=("signals",),
                consent_id=f"jeugdteam-west/{cid}",
                exchange_id="x1",
                actor_id="uzi:900000303",
                actor_role="professional",
            ),
        )
        uow.commit()

    oidc.audit_login(node, PROFESSIONAL, "127.0.0.1")  # her login tells the node her name

    html = disclosure_report.render(auditing.disclosure_report(node, MOTHER, audit_log.SYSTEM))

    assert "niet vermeld" not in html
    assert "Pien de Wit (hulpverlener, UZI-nummer 900000303)" in html
    assert "toestemming van uzelf op" in html and f"(kenmerk {cid[:8].upper()})" in html


def test_a_consent_for_data_this_node_does_not_hold_says_so(app: Any, client: Any, ids: dict[str, str]) -> None:
    """Jeugdteam West is named as source of the teen's signals but holds none: the worker is told."""
    teen = {
        "doel": "joint-safety-planning",
        "categorie": ["signals"],
        "van": "jeugdteam-west",
        "naar": "ggz-noord",
        "start": date.today().isoformat(),
        "end": (date.today() + timedelta(days=30)).isoformat(),
    }
    page = client.get(f"/clienten/{ids['teen']}/toestemming").text
    refs = sorted(set(re.findall(r'name="antwoord-([^"]+)"', page)))
    done = post(
        client,
        f"/clienten/{ids['teen']}/toestemming",
        {**teen, **{f"antwoord-{r}": "ja" for r in refs}},
        follow_redirects=True,
    )

    assert "Toestemming vastgelegd" in done.text
    assert "heeft over Sem Jansen" in done.text and "nu niets deelbaars in: signalen" in done.text
