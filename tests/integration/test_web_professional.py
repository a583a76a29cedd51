"""A professional's pages as practice meets them: who must consent, refusals, the overview.

Real node and store; partner calls are stubbed at the use-case boundary where a test
needs a partner that refuses, is slow or answers.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from web_builders import (
    CHILD,
    MOTHER,
    PROFESSIONAL,
    TEEN,
    a_partner,
    post,
)
from web_fixtures import app, client, ids  # noqa: F401 - pytest fixtures

from adapters.store.models import Person
from audit import events
from contract.errors import PartnerRefusal
from gateway.demo import data as d
from gateway.fhir import fhir_in
from gateway.repositories import audit_log
from gateway.repositories.audit_log import Actor
from gateway.services import consents, lookup, registry
from gateway.web import pages_professional, present


def consent_form(**overrides: Any) -> dict[str, Any]:
    data = {
        "doel": "joint-safety-planning",
        "categorie": ["signals", "safety-plan"],
        "van": "ggz-noord",
        "naar": "jeugdteam-west",
        "start": date.today().isoformat(),
        "end": (date.today() + timedelta(days=365)).isoformat(),
    }
    data.update(overrides)
    return data


def test_search_by_name_finds_the_family_and_the_page_shows_custody(client: Any, ids: dict[str, str]) -> None:
    found = post(client, "/clienten/zoeken", {"naam": "noor jans"}).text
    page = client.get(f"/clienten/{ids['child']}").text

    assert f"/clienten/{ids['child']}" in found and "Sanne" not in found
    assert "Sanne Jansen" in page and "Bram Jansen" in page and page.count("<td>ja</td>") == 2
    assert page.count("<td>ouder</td>") == 2  # the party-kind CodeSystem's word


def test_every_person_a_professional_is_shown_is_audited(app: Any, client: Any, ids: dict[str, str]) -> None:
    """NEN 7513: the search result and the client's page each leave a record-viewed entry."""
    post(client, "/clienten/zoeken", {"bsn": CHILD})
    client.get(f"/clienten/{ids['child']}")

    with app.extensions["gateway"].uow(read_only=True) as uow:
        seen = [
            (e.subject, e.actor_id, json.loads(e.record_json)["detail"]["view"])
            for e in reversed(audit_log.entries(uow.session, action=events.RECORD_VIEWED))
        ]
    actor = PROFESSIONAL["actor_id"]
    assert seen == [(CHILD, actor, "web-search"), (CHILD, actor, "client-page")]


def test_for_a_child_under_12_the_form_asks_both_custody_holders(client: Any, ids: dict[str, str]) -> None:
    page = client.get(f"/clienten/{ids['child']}/toestemming").text

    assert "Sanne Jansen (ouder met gezag)" in page and "Bram Jansen (ouder met gezag)" in page
    assert "Noor Jansen (de persoon zelf)" not in page
    assert "geven alle gezaghebbenden toestemming" in page


def test_at_14_the_young_person_and_the_custody_holder_both_consent(client: Any, ids: dict[str, str]) -> None:
    page = client.get(f"/clienten/{ids['teen']}/toestemming").text

    assert "Sem Jansen (de persoon zelf)" in page and "Sanne Jansen (ouder met gezag)" in page


def test_one_parent_missing_is_explained_and_nothing_is_recorded(client: Any, ids: dict[str, str]) -> None:
    resp = post(
        client,
        f"/clienten/{ids['child']}/toestemming",
        consent_form(**{f"antwoord-RelatedPerson/{_relation(client, ids, 'mother')}": "ja"}),
    )

    assert resp.status_code == 422
    assert "Er is een probleem" in resp.text and "Toestemming ontbreekt van" in resp.text
    assert "Nog geen toestemming vastgelegd" in client.get(f"/clienten/{ids['child']}").text


def _relation(client: Any, ids: dict[str, str], who: str) -> str:

    node = client.application.extensions["gateway"]
    name = {"mother": "Sanne Jansen", "father": "Bram Jansen"}[who]
    return next(r.relation_id for r in lookup.parents(node, ids["child"]) if r.name == name)


def test_both_parents_agree_then_receipt_then_revoke(client: Any, ids: dict[str, str]) -> None:
    answers = {f"antwoord-RelatedPerson/{_relation(client, ids, w)}": "ja" for w in ("mother", "father")}
    done = post(client, f"/clienten/{ids['child']}/toestemming", consent_form(**answers), follow_redirects=True)
    assert done.status_code == 200 and "Toestemming vastgelegd" in done.text
    cid = next(c["id"] for c in consents.list_for(client.application.extensions["gateway"], ids["child"]))

    receipt = client.get(f"/toestemming/{cid}/bewijs")
    assert "Bewijs van uw toestemming" in receipt.text
    assert "style-src 'self' 'sha256-" in receipt.headers["Content-Security-Policy"]

    assert "Weet u zeker" in client.get(f"/toestemming/{cid}/intrekken").text
    revoked = post(client, f"/toestemming/{cid}/intrekken", {"wie": "hulpverlener"}, follow_redirects=True)
    assert "Toestemming ingetrokken" in revoked.text
    assert "ingetrokken" in client.get(f"/toestemming/{cid}/bewijs").text


def test_a_partner_refusal_is_shown_with_its_own_dutch_text(
    client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "forbidden",
                "details": {
                    "coding": [{"code": "consent-revoked"}],
                    "text": "De toestemming is ingetrokken bij de uitgever.",
                },
            }
        ],
    }

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise PartnerRefusal(403, body, "consent-revoked")

    monkeypatch.setattr(pages_professional.exchange, "request_summary", refuse)
    resp = post(
        client,
        f"/clienten/{ids['mother']}/samenvatting",
        {"partner": "ggz-noord", "doel": "joint-safety-planning", "categorie": ["signals"]},
    )

    assert "De toestemming is ingetrokken bij de uitgever." in resp.text and "consent-revoked" in resp.text


def test_a_summary_is_read_as_dutch_sections_with_its_provenance() -> None:
    bundle = {
        "resourceType": "Bundle",
        "identifier": {"value": "x1"},
        "meta": {"profile": ["https://jggz-gateway.nl/fhir/StructureDefinition/behaviour-summary|1.0.0"]},
        "signature": {"when": "2026-11-20T09:00:00Z", "who": {"identifier": {"value": "ggz-noord"}}},
        "entry": [
            {
                "resource": {
                    "resourceType": "CareTeam",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "https://jggz-gateway.nl/fhir/CodeSystem/summary-category",
                                    "code": "care-team",
                                }
                            ]
                        }
                    ],
                    "participant": [{"role": [{"text": "Casusregisseur"}], "member": {"display": "J. de Vries"}}],
                    "telecom": [{"system": "phone", "value": "050-1234567"}],
                }
            }
        ],
    }

    s = present.read_summary(bundle, consent_id="c1", purpose="joint-safety-planning")

    assert (s.source, s.profile_version, s.signed_at) == ("ggz-noord", "1.0.0", "20 november 2026, 10:00")
    assert s.sections[0].title == "Zorgteam"
    assert s.sections[0].items[0].lines == ["Casusregisseur: J. de Vries", "Contact (telefoon): 050-1234567"]


def test_the_family_overview_asks_in_parallel_within_one_deadline(
    client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two partners: one answers at once, one hangs; the page comes after one deadline (1 s)."""
    app = client.application
    a_partner(app, "wijkteam-oost")
    node = app.extensions["gateway"]
    mother_rel = _relation(client, ids, "mother")
    for holder in ("ggz-noord", "wijkteam-oost"):
        consents.record(node, fhir_in.consent(_consent(ids["mother"], holder)), _actor())
    release = threading.Event()
    calls: list[str] = []

    def ask(
        node: Any, who: Any, bsn: str, pid: str, partner: str, purpose: str, cats: list[str], note: str | None = None
    ) -> present.Summary:
        calls.append(partner)
        if partner == "wijkteam-oost":
            release.wait(5)
        return present.Summary(partner, "vandaag", "1.0.0", "x", "c", purpose, [])

    monkeypatch.setattr(pages_professional, "ask_partner", ask)
    started = time.monotonic()
    resp = post(client, f"/clienten/{ids['child']}/gezinsoverzicht")
    elapsed = time.monotonic() - started
    release.set()

    assert 0.9 < elapsed < 5, elapsed  # one 1 s deadline; the upper bound leaves room for a loaded machine
    assert sorted(calls) == ["ggz-noord", "wijkteam-oost"]
    assert "ggz-noord over Sanne Jansen" in resp.text
    assert "wijkteam-oost antwoordde niet binnen 1 seconde." in resp.text
    assert mother_rel  # the overview followed the child's relation to her mother


def _actor() -> Any:
    return Actor(actor_id="uzi:900000303", role="professional", client_id="web")


def _consent(pid: str, holder: str) -> dict[str, Any]:
    return d.consent(
        pid,
        [f"Patient/{pid}"],
        recipients=["jeugdteam-west"],
        holders=[holder],
        purpose="joint-safety-planning",
        categories=["signals"],
        start=date.today(),
    )


class _Delivered:
    status, body = 200, {"resourceType": "Parameters", "parameter": [{"name": "status", "valueCode": "received"}]}


def pushes_to_partner(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Stub the partner at the wire: every push it receives is kept, and it answers 'received'."""
    pushed: list[dict[str, Any]] = []
    node = app.extensions["gateway"]
    monkeypatch.setattr(node.peer, "call", lambda org, op, params: pushed.append(params) or _Delivered())
    return pushed


def a_safety_plan(app: Any, pid: str) -> None:
    registry.push_records(
        app.extensions["gateway"],
        fhir_in.records([d.safety_plan(pid, source_id=f"plan-{pid}")], fhir_in.known_categories()),
        audit_log.Actor(actor_id="client:epd", role="ehr", client_id="epd"),
    )


def test_a_safety_disclosure_needs_the_confirmation_step(
    app: Any, client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed = pushes_to_partner(app, monkeypatch)
    a_safety_plan(app, ids["child"])
    form = {
        "ontvanger": "ggz-noord",
        "categorie": ["safety-plan"],
        "grond": "meldcode",
        "onderbouwing": "Acuut gevaar voor het kind volgens de meldcode.",
    }

    check = post(client, f"/clienten/{ids['child']}/veiligheidsmelding", {**form, "stap": "controleren"})
    unconfirmed = post(client, f"/clienten/{ids['child']}/veiligheidsmelding", {**form, "stap": "bevestigen"})
    assert "Controleer voordat u deelt" in check.text and unconfirmed.status_code == 422 and not pushed
    assert "Dit wordt verstuurd" in check.text and "Gezamenlijk veiligheidsplan" in check.text

    done = post(
        client,
        f"/clienten/{ids['child']}/veiligheidsmelding",
        {**form, "stap": "bevestigen", "bevestiging": "ja"},
        follow_redirects=True,
    )
    assert "afgeleverd bij ggz-noord" in done.text and len(pushed) == 1
    assert {p["name"] for p in pushed[0]["parameter"]} == {"summary", "legal-ground", "justification", "practitioner"}
    assert CHILD in str(pushed[0]) and MOTHER not in str(pushed[0]) and TEEN not in str(pushed[0])


def test_a_disclosure_with_nothing_to_send_is_not_offered_and_not_sent(
    app: Any, client: Any, ids: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed = pushes_to_partner(app, monkeypatch)
    form = {
        "ontvanger": "ggz-noord",
        "categorie": ["signals"],
        "grond": "meldcode",
        "onderbouwing": "Acuut gevaar voor het kind volgens de meldcode.",
    }

    check = post(client, f"/clienten/{ids['child']}/veiligheidsmelding", {**form, "stap": "controleren"})
    forced = post(
        client, f"/clienten/{ids['child']}/veiligheidsmelding", {**form, "stap": "bevestigen", "bevestiging": "ja"}
    )

    assert "Er is niets om te versturen" in check.text and "Nu delen" not in check.text
    assert "niets verstuurd" in forced.text and "afgeleverd" not in forced.text and not pushed


def test_the_name_search_covers_the_whole_register(app: Any, client: Any, ids: dict[str, str]) -> None:
    """A large institution's register: the newest client is found by name, not only the
    first twenty thousand (the search used to read that many and stop)."""
    node = app.extensions["gateway"]
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    with node.uow() as uow:
        uow.session.execute(
            insert(Person),
            [
                {
                    "id": f"old-{i}",
                    "bsn": f"{i:09d}",
                    "birth_date": date(1980, 1, 1),
                    "resource": "{}",
                    "created_at": long_ago,
                    "search_name": f"cliënt {i}",
                }
                for i in range(20_001)
            ],
        )
        uow.commit()

    registry.register_person(node, fhir_in.patient(d.patient(d.bsn(40), date(2001, 5, 6), "Fleur", "de Nieuwe-Laatst")))

    found = post(client, "/clienten/zoeken", {"naam": "NIEUWE fleur"}).text
    assert "Fleur de Nieuwe-Laatst" in found
    nothing = post(client, "/clienten/zoeken", {"naam": "% _"}).text  # plain characters, not wildcards
    assert "Fleur" not in nothing and "(naam onbekend)" not in nothing
