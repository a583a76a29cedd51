"""``gateway demo``: a small federation on loopback playing one family's story end to end.

Four organisations (adult mental health, youth care, child protection, Veilig Thuis) trust
each other through one operator-signed member list (issue 15), with no pairwise pinning.
``build_federation`` (two nodes pinned bilaterally) stays for the tests that need it.
A mother in adult mental health care (GGZ Noord) consents, at her child's youth-care team
(Jeugdteam West), that her early-warning signs, the safety plan and her care team may be
shared for joint safety planning. The youth-care node asks, verifies and shows the
summary; the consent is revoked and the next request is refused.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import click

from gateway import config
from gateway.demo import data as d
from gateway.demo import push as demo_push
from gateway.demo.loopback import Operator, RunningNode, free_port, init_and_start, run_cli
from gateway.federation import directory
from gateway.node import build

MOTHER, CHILD = d.bsn(1), d.bsn(2)
CATEGORIES = ["signals", "safety-plan", "care-team"]


def build_federation(
    root: Path, db: dict[str, str | None] | None = None, web: bool = False
) -> tuple[RunningNode, RunningNode]:
    """Initialise, start and cross-trust the two demo nodes."""
    db = db or {}
    ggz = RunningNode("ggz-noord", "GGZ Noord", root / "ggz-noord", free_port(), db.get("ggz-noord"))
    jeugd = RunningNode(
        "jeugdteam-west", "Jeugdteam West", root / "jeugdteam-west", free_port(), db.get("jeugdteam-west")
    )
    prints = init_and_start((ggz, jeugd), web=web)
    ggz.trust(jeugd, prints[jeugd.org_id])
    jeugd.trust(ggz, prints[ggz.org_id])
    ggz.add_client("ggz-epd", "ehr")
    jeugd.add_client("jeugd-epd", "ehr")
    jeugd.add_client("privacy-west", "privacy-officer")
    ggz.add_client("privacy-noord", "privacy-officer")
    return ggz, jeugd


#: the demo region (issue 15): one operator list, no pairwise pinning
REGION = (
    ("ggz-noord", "GGZ Noord", "adult-mental-health", ("+31 50 123 4567", "crisisdienst@ggz-noord.example")),
    ("jeugdteam-west", "Jeugdteam West", "youth-care", ("+31 20 765 4321", "team@jeugdteam-west.example")),
    ("jeugdbescherming-noord", "Jeugdbescherming Noord", "child-protection", ("+31 50 222 3344",)),
    ("veilig-thuis-west", "Veilig Thuis West", "safe-at-home", ("0800 2000", "advies@veiligthuis-west.example")),
)


def build_region(
    root: Path, db: dict[str, str | None] | None = None, web: bool = False, refresh_seconds: int = 300, workers: int = 1
) -> tuple[dict[str, RunningNode], Operator]:
    """Start the four demo nodes and let them trust each other through one signed operator list."""
    db = db or {}
    operator = Operator(root / "operator")
    nodes: dict[str, RunningNode] = {}
    for org_id, name, _type, _contact in REGION:
        node = RunningNode(org_id, name, root / org_id, free_port(), db.get(org_id), workers=workers)
        node.init()
        node.follow(operator.list_url, operator.thumbprint, refresh_seconds=refresh_seconds)
        if web:
            with open(node.home / "node.toml", "a", encoding="utf-8") as fh:
                fh.write("\n[web]\nenabled = true\ndemo_login = true\n")
        nodes[org_id] = node
    for node in nodes.values():
        node.start()
    for org_id, _name, org_type, contact in REGION:
        operator.add(nodes[org_id], org_type, *contact)  # the operator reads each member's JWKS
    operator.publish()
    for node in nodes.values():
        node.refresh_list()  # at once, not at the next refresh round
    ggz, jeugd = nodes["ggz-noord"], nodes["jeugdteam-west"]
    ggz.add_client("ggz-epd", "ehr")
    jeugd.add_client("jeugd-epd", "ehr")
    jeugd.add_client("privacy-west", "privacy-officer")
    ggz.add_client("privacy-noord", "privacy-officer")
    return nodes, operator


def show_directory(node: RunningNode, echo: Any = click.echo) -> None:
    """The directory as Jeugdteam West sees it: names, kinds and whom to call."""
    built = build(config.load(node.home))
    try:
        echo(f"0. Smoelenboek van {node.name} (uit de federatielijst, geen losse afspraken per paar):")
        for label, items in directory.by_type(directory.entries(built)):
            for item in items:
                echo(f"   {label:<20} {item.name:<24} {', '.join(item.contact) or '-'}")
    finally:
        built.uow.engine.dispose()


def load_families(ggz: RunningNode, jeugd: RunningNode) -> dict[str, Any]:
    """Register the synthetic family on both nodes: the ggz record and the youth-care file."""
    g = ggz.session("ggz-epd", "uzi:900000101")
    mother = g.post("/fhir/Patient", d.patient(MOTHER, date(1991, 4, 12), "Sanne", "Jansen")).json()
    for rec in (
        d.observation(
            mother["id"],
            "signals",
            "Slaapt slecht en trekt zich terug; belt dan de SPV.",
            shareable=True,
            source_id="sig-1",
        ),
        d.diagnosis(mother["id"]),
        d.safety_plan(mother["id"], source_id="plan-1"),
        d.care_team(mother["id"], source_id="team-1"),
        d.observation(
            mother["id"], "parenting", "Brengt de kinderen minder vaak naar school.", shareable=True, source_id="par-1"
        ),
    ):
        r = g.post(f"/fhir/{rec['resourceType']}", rec)
        r.raise_for_status()
    j = jeugd.session("jeugd-epd", "uzi:900000202")
    child = j.post("/fhir/Patient", d.patient(CHILD, date(2017, 6, 3), "Noor", "Jansen")).json()
    j.post("/fhir/RelatedPerson", d.parent_of(child["id"], MOTHER)).raise_for_status()
    mother_here = j.post("/fhir/Patient", d.patient(MOTHER, date(1991, 4, 12), "Sanne", "Jansen")).json()
    return {"mother_ggz": mother["id"], "child": child["id"], "mother_jeugd": mother_here["id"]}


def play(ggz: RunningNode, jeugd: RunningNode, ids: dict[str, Any], echo: Any = click.echo) -> dict[str, Any]:
    """Consent, request, show, revoke, request again; return what happened."""
    j = jeugd.session("jeugd-epd", "uzi:900000202")
    consent = j.post(
        "/fhir/Consent",
        d.own_consent(
            ids["mother_jeugd"],
            recipients=[jeugd.org_id],
            holders=[ggz.org_id],
            purpose="joint-safety-planning",
            categories=CATEGORIES,
        ),
    )
    consent.raise_for_status()
    cid = consent.json()["id"]
    echo(
        f"1. Sanne geeft bij Jeugdteam West toestemming (Consent/{cid}): signalen, veiligheidsplan en "
        "zorgteam mogen van GGZ Noord naar Jeugdteam West, voor gezamenlijke veiligheidsplanning."
    )
    tok = j.post(f"/fhir/Consent/{cid}/$issue-token").json()["parameter"][0]["valueString"]
    echo(f"   Jeugdteam West ondertekent een toestemmingstoken (typ consent+jwt, {len(tok)} tekens).")
    ask = d.summary_request(
        ggz.org_id,
        MOTHER,
        "joint-safety-planning",
        CATEGORIES,
        token=tok,
        note="Met moeder besproken op 20-11; zij wil dat de wijkcoach het plan kent.",
    )
    first = j.post("/fhir/$request-summary", ask)
    echo(f"2. Jeugdteam West vraagt de samenvatting op bij GGZ Noord: HTTP {first.status_code}")
    if first.status_code == 200:
        for line in describe(first.json()):
            echo("   " + line)
    revoked = j.post(f"/fhir/Consent/{cid}/$revoke")
    echo(f"3. Sanne trekt haar toestemming in: HTTP {revoked.status_code}")
    second = j.post("/fhir/$request-summary", ask)
    reason = _reason(second.json())
    echo(f"4. Een nieuwe vraag wordt geweigerd: HTTP {second.status_code} ({reason})")
    return {"consent": cid, "first": first, "second": second}


def _reason(body: Any) -> str:
    try:
        return f"{body['issue'][0]['details']['coding'][0]['code']}: {body['issue'][0]['details']['text']}"
    except (KeyError, IndexError, TypeError):
        return "?"


def describe(bundle: dict[str, Any]) -> list[str]:
    """Plain Dutch lines for a summary Bundle (what a professional would read)."""
    out = [
        f"Samenvatting {bundle.get('id')} van {bundle['signature']['who']['identifier']['value']}, "
        f"ondertekend, profielversie {bundle['meta']['profile'][0].split('|')[-1]}:"
    ]
    for entry in bundle.get("entry", []):
        r = entry["resource"]
        if r["resourceType"] == "Observation":
            out.append(f"- Signaal: {r.get('valueString') or (r.get('code') or {}).get('text') or '(niet deelbaar)'}")
        elif r["resourceType"] == "CarePlan":
            out.append(f"- Veiligheidsplan: {r.get('description', '')}")
            for act in r.get("activity", []):
                out.append(f"    * {act['detail'].get('description', '')}")
        elif r["resourceType"] == "CareTeam":
            people = ", ".join(
                f"{(p.get('role') or [{}])[0].get('text', 'betrokkene')}: {p['member']['display']}"
                for p in r.get("participant", [])
            )
            tel = ", ".join(t["value"] for t in r.get("telecom", []))
            out.append(f"- Zorgteam: {people} (tel. {tel})")
    return out


def play_pushes(base: Path, ggz: RunningNode, jeugd: RunningNode, ids: dict[str, Any]) -> list[RunningNode]:
    """The consented push (contract section 9): a crisis pre-announcement and a warm handover."""
    crisis, gp = demo_push.start_push_partners(base, [ggz, jeugd], web=True)
    demo_push.play_crisis_notice(jeugd, crisis)
    demo_push.play_warm_handover(ggz, gp, ids)
    return [crisis, gp]


def run(keep_serving: bool = True, root: Path | None = None) -> None:
    tmp = tempfile.TemporaryDirectory(prefix="gateway-demo-") if root is None else None
    base = Path(tmp.name) if tmp else root
    assert base is not None
    nodes: list[RunningNode] = []
    operator: Operator | None = None
    try:
        click.echo("Federatie starten (vier nodes, eigen sleutels, SQLite, één ondertekende ledenlijst)...")
        region, operator = build_region(base, web=True)
        nodes = list(region.values())
        ggz, jeugd = region["ggz-noord"], region["jeugdteam-west"]
        for n in nodes:
            click.echo(f"  {n.name:<24} {n.url}  (home {n.home})")
        click.echo(f"  Federatielijst: {operator.list_url} (beheerder-sleutel {operator.thumbprint})")
        show_directory(jeugd)
        ids = load_families(ggz, jeugd)
        play(ggz, jeugd, ids)
        nodes += play_pushes(base, ggz, jeugd, ids)
        click.echo("Audit: beide logboeken zijn gekoppeld en verifieerbaar:")

        for n in nodes:
            click.echo(f"  gateway audit verify {n.home}: " + run_cli("audit", "verify", str(n.home)).strip())
        click.echo(f"Privacy officer-client: privacy-west / {jeugd.clients['privacy-west']}")
        click.echo("Webpagina's (demo-aanmelding, alleen op loopback):")
        for n in nodes:
            click.echo(f"  {n.name:<24} {n.url}/")
        if keep_serving:
            click.echo("De nodes blijven draaien; stop met Ctrl-C.")
            signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
            while all(n.process and n.process.poll() is None for n in nodes):
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        with _signals_held():
            for n in nodes:
                n.stop()
            if operator is not None:
                operator.stop()
        if tmp:
            tmp.cleanup()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Let every node stop: a second Ctrl-C or SIGTERM (``make`` and ``timeout`` each pass one on)
    would otherwise cut the clean-up short and leave nodes running. Each stop ends within 15 s,
    by SIGKILL at the latest."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
