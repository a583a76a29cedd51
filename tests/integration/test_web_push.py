"""The pages for the consented push: send from the client's page, read the inbox, Dutch labels.

Real node and store. Sending is stubbed at the use-case boundary (``services.push.send``),
as the other page tests stub their partners; the inbox reads rows as ``$receive-summary``
and ``$receive-disclosure`` store them. The push itself runs on real nodes in
``tests/scenarios/test_consented_push.py``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from web_builders import CHILD, MOTHER, PROFESSIONAL, TEEN, a_family, a_partner, dispose_all, logged_in, post, web_app

from adapters.store.models import ConsentRow, Inbox
from audit import events
from contract.errors import PartnerRefusal
from gateway.demo import data as d
from gateway.demo import push as dp
from gateway.federation import directory
from gateway.fhir import fhir_in
from gateway.repositories import audit_log
from gateway.services import push, registry
from gateway.services.exchange import Sent
from gateway.web import pages_push
from profiles import build_summary


@pytest.fixture
def app(make_home: Any) -> Any:
    application = web_app(make_home("jeugdteam-west", "Jeugdteam West"))
    a_partner(application)
    a_partner(application, "crisisdienst-noord")
    yield application
    dispose_all()


@pytest.fixture
def ids(app: Any) -> dict[str, str]:
    return a_family(app)


@pytest.fixture
def client(app: Any) -> Any:
    return logged_in(app, PROFESSIONAL)


def _received(
    app: Any, kind: str, bsn: str, records: list[dict[str, Any]], categories: list[str], at: datetime, **extra: Any
) -> None:
    bundle = build_summary(
        records,
        categories,
        holder_org="ggz-noord",
        subject_bsn=bsn,
        exchange_id=uuid.uuid4().hex,
        request_hash="0" * 64,
        now=at,
        tag=kind,
    )
    node = app.extensions["gateway"]
    with node.uow() as uow:
        uow.session.add(
            Inbox(
                id=uuid.uuid4().hex,
                exchange_id=bundle["id"],
                from_org="ggz-noord",
                subject=bsn,
                received_at=at,
                bundle=json.dumps(bundle),
                kind=kind,
                legal_ground=extra.get("legal_ground", ""),
                purpose=extra.get("purpose", ""),
                consent_id="",
            )
        )
        uow.commit()


def test_the_inbox_shows_pushes_and_safety_disclosures_apart_as_readable_sections(
    app: Any, client: Any, ids: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    measure = dp.legal_measure("x", "ondertoezichtstelling", "2026-06-01", "2027-06-01", source_id="lm")
    situation = dp.child_situation("x", "Noor slaapt weer door.", wish="Noor wil naar voetbal.", source_id="cs")
    _received(
        app,
        "consented-push",
        CHILD,
        [measure, situation],
        ["child-situation", "legal-measure"],
        now - timedelta(hours=1),
        purpose="care-coordination",
    )
    signal = d.observation("x", "signals", "Moeder trekt zich terug.", shareable=True, source_id="s")
    _received(app, "safety-disclosure", MOTHER, [signal], ["signals"], now, legal_ground="meldcode")

    page = client.get("/inbox")
    assert page.status_code == 200
    html = page.text
    pushes, safety = html.split('id="zonder-toestemming"')
    assert "Toegestuurd met toestemming" in pushes and "Afstemming van zorg" in pushes
    assert (
        "Situatie van het kind" in pushes and "Noor slaapt weer door." in pushes and "Noor wil naar voetbal." in pushes
    )
    assert "Maatregel" in pushes and "Ondertoezichtstelling (OTS)" in pushes and "sinds 1 juni 2026" in pushes
    assert "Tot en met 1 juni 2027" in pushes and "Kerkstraat" not in html and "kinderrechter" not in html
    assert "Moeder trekt zich terug." in safety and "meldcode" in safety and "Noor slaapt" not in safety
    assert "ondertoezichtstelling" not in safety.lower()
    # the professional looked at two people's data: both looks are logged, with who looked
    node = app.extensions["gateway"]

    with node.uow() as uow:
        viewed = [json.loads(e.record_json) for e in audit_log.entries(uow.session, action=events.RECORD_VIEWED)]
    assert {(v["subject"], v["detail"]["view"], v["actor_id"]) for v in viewed} >= {
        (CHILD, "web-inbox", PROFESSIONAL["actor_id"]),
        (MOTHER, "web-inbox", PROFESSIONAL["actor_id"]),
    }


def test_an_empty_inbox_says_so_in_both_parts(client: Any, ids: dict[str, str]) -> None:
    html = client.get("/inbox").text
    assert "Er is niets toegestuurd met toestemming." in html and "Er is niets gedeeld zonder toestemming." in html


def test_the_clients_page_offers_to_send_and_the_form_sends_what_was_chosen(
    client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    page = client.get(f"/clienten/{ids['teen']}")
    assert f"/clienten/{ids['teen']}/toesturen" in page.text and "Samenvatting toesturen" in page.text
    sent: list[push.SendRequest] = []
    monkeypatch.setattr(pages_push.push, "send", lambda node, req, actor: sent.append(req) or Sent("x17"))
    form = client.get(f"/clienten/{ids['teen']}/toesturen").text
    assert "Crisisbericht" in form and "Overgang naar 18 jaar" in form and "Situatie van het kind" in form
    done = post(
        client,
        f"/clienten/{ids['teen']}/toesturen",
        {
            "ontvanger": "crisisdienst-noord",
            "doel": "crisis-response",
            "categorie": ["crisis-notice"],
            "notitie": "Bel dit weekend de wijkcoach.",
        },
    )
    assert done.status_code == 200 and "x17" in done.text and "Samenvatting verstuurd" in done.text
    [req] = sent
    assert req.recipient == "crisisdienst-noord" and req.subject == TEEN and req.note.startswith("Bel")
    assert (req.purpose, req.categories, req.consent_token) == ("crisis-response", ("crisis-notice",), None)


def test_a_refused_push_shows_the_refusals_own_dutch_text(
    client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "forbidden",
                "details": {
                    "coding": [{"code": "category-not-consented"}],
                    "text": "Buiten de toestemming gevraagd: crisis-notice.",
                },
            }
        ],
    }

    def refuse(node: Any, body_: Any, actor: Any) -> Any:
        raise PartnerRefusal(403, body, "category-not-consented")

    monkeypatch.setattr(pages_push.push, "send", refuse)
    page = post(
        client,
        f"/clienten/{ids['teen']}/toesturen",
        {"ontvanger": "crisisdienst-noord", "doel": "crisis-response", "categorie": ["crisis-notice"]},
    )
    assert "De samenvatting is niet verstuurd" in page.text and "Buiten de toestemming gevraagd" in page.text
    assert "category-not-consented" in page.text


def test_a_send_without_recipient_purpose_or_category_is_explained(client: Any, ids: dict[str, str]) -> None:
    page = post(client, f"/clienten/{ids['teen']}/toesturen", {})
    assert page.status_code == 422
    for text in ("Kies de organisatie", "Kies het doel", "Kies minstens één soort gegevens"):
        assert text in page.text


def test_consent_form_labels_categories_in_dutch(client: Any, ids: dict[str, str]) -> None:
    html = client.get(f"/clienten/{ids['child']}/toestemming").text
    assert "Signals:" not in html and "Safety plan:" not in html
    assert "Signalen: signalen dat" in html and "Veiligheidsplan: het gezamenlijke veiligheidsplan" in html
    assert "Toekomstplan (18 jaar):" in html


def test_the_clients_page_says_what_a_16_year_old_must_confirm_themselves(
    app: Any, client: Any, ids: dict[str, str]
) -> None:
    """Sem's mother and Sem consented together when he was 14; now he is 16 and decides alone."""
    node = app.extensions["gateway"]

    birth = date.today().replace(year=date.today().year - 16) - timedelta(days=10)
    pid = registry.register_person(node, fhir_in.patient(d.patient(d.bsn(41), birth, "Lotte", "Bos")))[0]["id"]
    with node.uow() as uow:
        uow.session.add(
            ConsentRow(
                id="c-lotte",
                subject_id=pid,
                status="active",
                decision="permit",
                purpose="transition-18",
                categories=json.dumps(["future-plan"]),
                recipients=json.dumps(["ggz-noord"]),
                holders=json.dumps(["jeugdteam-west"]),
                grantors=json.dumps([f"bsn:{d.bsn(41)}", f"bsn:{MOTHER}"]),
                refusals="[]",
                consulted="[]",
                period_start=birth.replace(year=birth.year + 14),
                period_end=None,
                resource="{}",
                created_at=datetime.now(UTC),
            )
        )
        uow.commit()
    html = client.get(f"/clienten/{pid}").text
    assert "Nu 16 jaar: de jongere beslist voortaan alleen" in html


def test_the_inbox_names_the_sender_and_whom_to_call_from_the_directory(
    app: Any, client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        pages_push.directory,
        "entry",
        lambda node, org: directory.DirectoryEntry(
            org, "GGZ Noord", "adult-mental-health", ["050-1234567", "crisis@ggz-noord.example"], "", "federation"
        ),
    )
    signal = d.observation("x", "signals", "Moeder trekt zich terug.", shareable=True, source_id="s")
    _received(app, "consented-push", MOTHER, [signal], ["signals"], datetime.now(UTC), purpose="care-coordination")
    html = client.get("/inbox").text
    assert "van GGZ Noord" in html and "Vragen? Bel of mail GGZ Noord: 050-1234567, crisis@ggz-noord.example" in html


def test_the_send_form_names_the_organisations_by_their_listed_names(
    app: Any, client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A professional picks "Crisisdienst Noord (...)", not the org id the list knows it by."""
    listed = directory.DirectoryEntry(
        "crisisdienst-noord", "Crisisdienst Noord", "crisis-service", ["050-7654321"], "", "federation"
    )
    monkeypatch.setattr(directory, "entries", lambda node: [listed])
    form = client.get(f"/clienten/{ids['teen']}/toesturen").text
    kind = directory.type_label("crisis-service")
    assert kind and f'<option value="crisisdienst-noord">Crisisdienst Noord ({kind})</option>' in form
