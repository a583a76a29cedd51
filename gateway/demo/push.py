"""The consented push in the demo (contract section 9): a crisis pre-announcement and a warm handover.

Two extra organisations join the demo federation: *Crisisdienst Noord* (a crisis team) and
*Huisartsenpraktijk De Linde* (a GP practice). Then:

* Lisa (17) is in youth care at Jeugdteam West. Before the weekend her worker sends the
  crisis team a pre-announcement: what to watch for and whom to call. Lisa consented
  herself (at 16 and over a young person decides alone); her mother cannot consent for her.
* Sanne's ggz nurse at GGZ Noord hands her over to the GP practice with her consent: the
  reason in plain words, advice, agreements and who to call, so the practice does not redo
  the intake.

Each step is a separate function taking the running nodes, so the demo (or a larger
federation) can play them in any order. The record builders are shared with the tests.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

from contract import systems
from gateway.demo import data as d
from gateway.demo.loopback import RunningNode, free_port, init_and_start
from gateway.web.present import sections

LISA, LISA_MOTHER = d.bsn(17), d.bsn(18)
LEGAL_MEASURE_SYSTEM = systems.LEGAL_MEASURE_SYSTEM


def turned(age: int, *, days_ago: int = 30) -> date:
    """A birth date making someone ``age`` today, their birthday ``days_ago`` days back."""
    today = date.today() - timedelta(days=days_ago)
    try:
        return today.replace(year=today.year - age)
    except ValueError:  # 29 February
        return (today - timedelta(days=1)).replace(year=today.year - age)


# --- records of the new categories ----------------------------------------------------------


def child_situation(patient_id: str, text: str, *, wish: str, source_id: str) -> dict[str, Any]:
    """How the child is doing, marked shareable; the EHR also holds the father's address."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": d.category_of("child-situation"),
        "identifier": [{"system": systems.DEMO_EHR_URN, "value": source_id}],
        "meta": d.record_meta(True),
        "code": {"text": "Hoe het met het kind gaat"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2026-11-28T15:00:00+01:00",
        "valueString": text,
        "note": [{"text": wish}],
        "performer": [{"display": "Vader, Kerkstraat 12, 9711 AB Groningen"}],
        "extension": [
            {
                "url": "https://example.org/ehr/verblijfadres-vader",
                "valueAddress": {"line": ["Kerkstraat 12"], "postalCode": "9711 AB", "city": "Groningen"},
            }
        ],
    }


def legal_measure(patient_id: str, code: str, start: str, end: str | None, *, source_id: str) -> dict[str, Any]:
    """A measure as the EHR holds it: the code, its period, and grounds that never leave."""
    period = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": d.category_of("legal-measure"),
        "identifier": [{"system": systems.DEMO_EHR_URN, "value": source_id}],
        "meta": d.record_meta(True),
        "code": {"text": "Maatregel jeugdbescherming, gronden: zorgen over opvoedsituatie"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectivePeriod": period,
        "valueCodeableConcept": {"coding": [{"system": LEGAL_MEASURE_SYSTEM, "code": code}]},
        "note": [{"text": "Uitspraak kinderrechter 14-05, zaaknummer C/18/123456"}],
    }


def referral(patient_id: str, *, source_id: str) -> dict[str, Any]:
    """A warm handover from the ggz nurse to the GP practice."""
    return {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "proposal",
        "category": d.category_of("referral"),
        "identifier": [{"system": systems.DEMO_EHR_URN, "value": source_id}],
        "meta": d.record_meta(True),
        "subject": {"reference": f"Patient/{patient_id}"},
        "title": "Overdracht naar de huisartsenpraktijk",
        "description": "Sanne is al een half jaar stabiel en wil de begeleiding dichter bij huis.",
        "author": {"display": "J. de Vries, SPV GGZ Noord"},
        "period": {"start": "2026-12-01"},
        "note": [{"text": "Doe de intake niet opnieuw: zij vertelt haar verhaal liever niet nog eens."}],
        "activity": [
            {
                "detail": {
                    "status": "scheduled",
                    "description": "De POH-GGZ belt haar in de eerste week.",
                    "performer": [{"display": "POH-GGZ De Linde (050-7654321)"}],
                }
            },
            {
                "detail": {
                    "status": "scheduled",
                    "description": "Bij terugval belt de praktijk GGZ Noord, 050-1234567.",
                    "performer": [{"display": "Huisarts"}],
                }
            },
        ],
    }


def crisis_notice(patient_id: str, text: str, *, source_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": d.category_of("crisis-notice"),
        "identifier": [{"system": systems.DEMO_EHR_URN, "value": source_id}],
        "meta": d.record_meta(True),
        "code": {"text": "Vooraankondiging crisisdienst"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2026-12-04T16:00:00+01:00",
        "valueString": text,
    }


def send_request(
    recipient: str,
    subject: str,
    purpose: str,
    categories: list[str],
    *,
    note: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """``$send-summary`` Parameters (contract section 9)."""
    return d.exchange_parameters(("recipient", recipient), subject, purpose, categories, token, ("note", note))


# --- the two extra organisations --------------------------------------------------------------


def start_push_partners(
    root: Path, peers: list[RunningNode], db: dict[str, str | None] | None = None, web: bool = False
) -> tuple[RunningNode, RunningNode]:
    """Start the crisis team and the GP practice, trusted both ways by every node in ``peers``."""
    db = db or {}
    crisis = RunningNode(
        "crisisdienst-noord",
        "Crisisdienst Noord",
        root / "crisisdienst-noord",
        free_port(),
        db.get("crisisdienst-noord"),
        workers=1,
    )
    gp = RunningNode(
        "huisarts-delinde",
        "Huisartsenpraktijk De Linde",
        root / "huisarts-delinde",
        free_port(),
        db.get("huisarts-delinde"),
        workers=1,
    )
    prints = init_and_start((crisis, gp), web=web)
    for n in (crisis, gp):
        n.add_client(f"{n.org_id}-epd", "ehr")
    for peer in peers:
        for n in (crisis, gp):
            peer.trust(n, prints[n.org_id])
            n.trust(peer)
    for peer in peers:
        if f"{peer.org_id}-professional" not in peer.clients:
            peer.add_client(f"{peer.org_id}-professional", "professional")
    return crisis, gp


# --- the two demo steps ---------------------------------------------------------------------------


def play_crisis_notice(youth: RunningNode, crisis: RunningNode, echo: Any = click.echo) -> dict[str, Any]:
    """Lisa (17) consents herself; her worker pre-announces her to the crisis team."""
    ehr = youth.session(
        f"{youth.org_id}-epd" if f"{youth.org_id}-epd" in youth.clients else "jeugd-epd", "uzi:900000202"
    )
    lisa = ehr.post("/fhir/Patient", d.patient(LISA, turned(17), "Lisa", "Bos")).json()
    ehr.post("/fhir/RelatedPerson", d.parent_of(lisa["id"], LISA_MOTHER)).raise_for_status()
    ehr.post(
        "/fhir/Observation",
        crisis_notice(
            lisa["id"],
            "Lisa loopt weg als het thuis escaleert; zij gaat dan naar het station. Bel eerst haar "
            "mentor, daarna moeder.",
            source_id="crisis-1",
        ),
    ).raise_for_status()
    ehr.post(
        "/fhir/Consent",
        d.own_consent(
            lisa["id"],
            recipients=[crisis.org_id],
            holders=[youth.org_id],
            purpose="crisis-response",
            categories=["crisis-notice", "care-team"],
            days=30,
        ),
    ).raise_for_status()
    echo(f"5. Lisa (17) geeft bij {youth.name} zelf toestemming: een crisisbericht mag naar {crisis.name}.")
    worker = youth.session(f"{youth.org_id}-professional", "uzi:900000203")
    sent = worker.post(
        "/fhir/$send-summary",
        send_request(
            crisis.org_id,
            LISA,
            "crisis-response",
            ["crisis-notice"],
            note="Dit weekend is haar mentor niet bereikbaar; bel dan de wijkcoach.",
        ),
    )
    echo(f"   {youth.name} stuurt een vooraankondiging naar {crisis.name}: HTTP {sent.status_code}")
    inbox = _show_inbox(crisis, "uzi:900000301", echo)
    return {"sent": sent, "inbox": inbox}


def play_warm_handover(
    ggz: RunningNode, gp: RunningNode, ids: dict[str, Any], echo: Any = click.echo
) -> dict[str, Any]:
    """Sanne consents at GGZ Noord; her nurse hands her over to the GP practice."""
    ehr = ggz.session("ggz-epd", "uzi:900000101")
    ehr.post("/fhir/CarePlan", referral(ids["mother_ggz"], source_id="ref-1")).raise_for_status()
    ehr.post(
        "/fhir/Consent",
        d.own_consent(
            ids["mother_ggz"],
            recipients=[gp.org_id],
            holders=[ggz.org_id],
            purpose="referral",
            categories=["referral", "care-team"],
            days=60,
        ),
    ).raise_for_status()
    echo(f"6. Sanne geeft bij {ggz.name} toestemming voor een warme overdracht naar {gp.name}.")
    nurse = ggz.session(f"{ggz.org_id}-professional", "uzi:900000111")
    sent = nurse.post("/fhir/$send-summary", send_request(gp.org_id, d.bsn(1), "referral", ["referral", "care-team"]))
    echo(f"   {ggz.name} stuurt de overdracht naar {gp.name}: HTTP {sent.status_code}")
    without = nurse.post("/fhir/$send-summary", send_request(gp.org_id, d.bsn(1), "referral", ["signals"]))
    echo(f"   Signalen vallen buiten haar toestemming en gaan niet mee: HTTP {without.status_code} ({_code(without)})")
    inbox = _show_inbox(gp, "uzi:900000401", echo)
    return {"sent": sent, "without": without, "inbox": inbox}


def _show_inbox(node: RunningNode, practitioner: str, echo: Any) -> dict[str, Any]:
    """Read ``node``'s inbox through its EHR client and tell the newest push in it."""
    inbox: dict[str, Any] = node.session(f"{node.org_id}-epd", practitioner).get("/fhir/Bundle").json()
    for entry in inbox.get("entry", [])[:1]:
        for line in describe_push(entry["resource"]):
            echo("   " + line)
    return inbox


def _code(resp: Any) -> str:
    try:
        return str(resp.json()["issue"][0]["details"]["coding"][0]["code"])
    except (ValueError, KeyError, IndexError, TypeError):
        return "?"


def describe_push(bundle: dict[str, Any]) -> list[str]:
    """Plain Dutch lines for a pushed summary in the inbox."""
    out = [
        f"In de inbox: {bundle['meta']['tag'][0]['display']} van {bundle['signature']['who']['identifier']['value']}"
    ]
    for section in sections(bundle):
        out.append(f"- {section.title}:")
        for item in section.items:
            out.append(f"    {item.text}" + (f" ({item.when})" if item.when else ""))
            out += [f"      {line}" for line in item.lines]
    return out
