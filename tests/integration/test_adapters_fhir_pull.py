"""A GGZ node pulls its people's records from the EHR's FHIR API (issue 6, FHIR pull).

The EHR is a real FHIR R4 server started here: Medplum's FHIR REST engine (npm
``@medplum/fhir-router``: search, paging offsets, ``_lastUpdated``, versioning) behind a
thin HTTP wrapper, ``tests/fhir_server/server.mjs`` (see ``adapters/README.md`` for what
the wrapper adds and why no complete FHIR server package was available). Node.js and npm
are required; the first run installs the locked packages into ``tests/fhir_server``.

``gateway sync`` reads Observations, CarePlans, CareTeams and EpisodesOfCare of the people
the node knows, page by page, then only what changed; records outside the mapping (lab
results, a diagnosis) never enter. Real SQLite and PostgreSQL stores.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import select
import shutil
import stat
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select as sql_select
from werkzeug.serving import make_server

from adapters.store.models import AuditEntry, Record
from gateway import config
from gateway.app import create_app
from gateway.cli.main import main as gateway_main
from gateway.demo import data as d
from gateway.fhir import fhir_in
from gateway.fhir.fhir_in import BSN_SYSTEM, DISCLOSURE_SYSTEM
from gateway.node import build
from gateway.repositories import audit_log
from gateway.services import registry

ROOT = Path(__file__).resolve().parents[2]
SERVER_DIR = ROOT / "tests" / "fhir_server"
MAPPING = ROOT / "config" / "mappings" / "ggz-epd.json"
EPD = "https://epd.ggz-noord.example/fhir/CodeSystem/dossieronderdeel"
MARK = {"system": "https://epd.ggz-noord.example/fhir/CodeSystem/vrijgave", "code": "deelbaar"}
LINK = "urn:gateway:source:epd"


# --- the EHR: a real FHIR server -----------------------------------------------------------


def install_server() -> None:
    """``npm ci`` the locked packages once per lock file (serialised between test runs)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.fail("Node.js and npm are needed for the FHIR server of the adapter tests")
    lock = SERVER_DIR / "package-lock.json"
    stamp = SERVER_DIR / "node_modules" / ".installed-lock-sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    with open(SERVER_DIR / ".install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == digest:
            return
        npm = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]  # the committed lock file
        subprocess.run(npm, cwd=SERVER_DIR, check=True, timeout=600, stdout=subprocess.DEVNULL)
        stamp.write_text(digest)


class FhirServer:
    """``node server.mjs`` on a free loopback port; ``client`` writes to it as the EHR does."""

    def __init__(self, *args: str) -> None:
        command = ["node", "server.mjs", "--port", "0", *args]
        self.proc = subprocess.Popen(command, cwd=SERVER_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready and self.proc.stdout else ""
        if not line:
            self.stop()
            raise RuntimeError(f"FHIR server did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
        self.url = f"http://127.0.0.1:{json.loads(line)['port']}/fhir"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


class Ehr:
    """The EHR's own writes (its users at work), through the server's FHIR API."""

    def __init__(self, server: FhirServer, token: str) -> None:
        self.url, self.headers = (
            server.url,
            {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
        )

    def patient(self, bsn: str) -> str:
        resp = requests.post(
            f"{self.url}/Patient",
            json={"resourceType": "Patient", "identifier": [{"system": BSN_SYSTEM, "value": bsn}]},
            headers=self.headers,
            timeout=30,
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    def transaction(self, resources: list[dict[str, Any]]) -> list[str]:
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": r, "request": {"method": "POST", "url": r["resourceType"]}} for r in resources],
        }
        resp = requests.post(self.url, json=bundle, headers=self.headers, timeout=60)
        assert resp.status_code == 200, resp.text
        return [e["response"]["location"].split("/_history")[0] for e in resp.json()["entry"]]

    def read(self, ref: str) -> dict[str, Any]:
        return requests.get(f"{self.url}/{ref}", headers=self.headers, timeout=30).json()  # type: ignore[no-any-return]

    def delete(self, ref: str) -> None:
        resp = requests.delete(f"{self.url}/{ref}", headers=self.headers, timeout=30)
        assert resp.status_code in (200, 204), resp.text

    def update(self, ref: str, change: dict[str, Any]) -> None:
        resource = {**self.read(ref), **change}
        resp = requests.put(f"{self.url}/{ref}", json=resource, headers=self.headers, timeout=30)
        assert resp.status_code == 200, resp.text


def part(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": EPD, "code": code}]}]


def observation(pid: str, code: str, text: str, *, marked: bool = False) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": part(code),
        "code": {"text": text},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2026-11-02T10:00:00+01:00",
        "valueString": text,
        "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{text}</div>'},
    }
    if marked:
        res["meta"] = {"tag": [MARK]}
    return res


def an_ehr_file(pid: str, *, signals: int = 60) -> list[dict[str, Any]]:
    """One client's file at the EHR: 90 records the mapping takes, 20 it does not."""
    file = [
        observation(pid, "signaleringsplan", f"Signaal {i}: slaapt slecht", marked=i % 2 == 0) for i in range(signals)
    ]
    file += [observation(pid, "ouderschap", f"Opvoeding {i}", marked=False) for i in range(20)]
    file += [
        {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "category": part("crisiskaart"),
            "title": f"Crisiskaart {i}",
            "description": "Bel oma; de kinderen gaan naar oma.",
            "subject": {"reference": f"Patient/{pid}"},
        }
        for i in range(5)
    ]
    file += [
        {
            "resourceType": "CareTeam",
            "status": "active",
            "category": part("betrokken-hulpverleners"),
            "name": f"Behandelteam {i}",
            "subject": {"reference": f"Patient/{pid}"},
            "participant": [{"role": [{"text": "Casusregisseur"}], "member": {"display": "J. de Vries"}}],
        }
        for i in range(3)
    ]
    file += [
        {
            "resourceType": "EpisodeOfCare",
            "status": "active",
            "type": part("behandeltraject"),
            "patient": {"reference": f"Patient/{pid}"},
        }
        for _ in range(2)
    ]
    file += [
        {
            "resourceType": "Observation",
            "status": "final",
            "category": [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}
                    ]
                }
            ],
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
            "subject": {"reference": f"Patient/{pid}"},
            "valueString": "lithium 0.8",
        }
        for _ in range(15)
    ]
    file += [
        {
            **observation(pid, "diagnose", "F33.1 recidiverende depressie"),
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "F33.1"}]},
        }
        for _ in range(5)
    ]
    return file


MAPPED_PER_FILE = 90  # 60 signals, 20 parenting, 5 crisis cards, 3 teams, 2 episodes


@pytest.fixture(scope="module")
def ehr_token() -> str:
    return uuid.uuid4().hex


@pytest.fixture(scope="module")
def fhir_server(ehr_token: str) -> Iterator[FhirServer]:
    install_server()
    server = FhirServer("--token", ehr_token)
    yield server
    server.stop()


# --- the node -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def gateway(*args: Any) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = gateway_main([str(a) for a in args])
    return Run(code, out.getvalue(), err.getvalue())


def add_source(home: Path, text: str) -> None:
    toml = home / "node.toml"
    toml.write_text(toml.read_text("utf-8") + "\n" + text, "utf-8")


@pytest.fixture
def node(home: Path) -> Iterator[Any]:
    n = build(config.load(home))
    yield n
    n.uow.engine.dispose()


def register(node: Any, bsn: str) -> str:
    person, _ = registry.register_person(node, fhir_in.patient(d.patient(bsn, date(1990, 1, 1), "Test", "Persoon")))
    return str(person["id"])


@dataclass(frozen=True)
class Stored:
    source_system: str
    source_id: str
    subject_id: str
    category: str
    shareable: bool
    resource: str


def stored(node: Any) -> dict[str, Stored]:
    with node.uow() as uow:
        return {
            r.source_id: Stored(r.source_system, r.source_id, r.subject_id, r.category, r.shareable, r.resource)
            for r in uow.session.scalars(sql_select(Record))
        }


def fresh_bsns(n: int) -> list[str]:
    return [d.bsn(int(uuid.uuid4().int % 10**6) + 20000 + i) for i in range(n)]


# --- tests ------------------------------------------------------------------------------------


def test_a_sync_pulls_a_few_hundred_records_page_by_page_then_only_what_changed(
    node: Any, home: Path, fhir_server: FhirServer, ehr_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ehr = Ehr(fhir_server, ehr_token)
    known, later = fresh_bsns(3), fresh_bsns(1)[0]
    people = {bsn: ehr.patient(bsn) for bsn in [*known, later]}
    refs = {bsn: ehr.transaction(an_ehr_file(pid)) for bsn, pid in people.items()}
    ids = {bsn: register(node, bsn) for bsn in known}
    add_source(
        home, f'[sources.epd]\nbase_url = "{fhir_server.url}"\nauth = "bearer"\nmapping = "{MAPPING}"\npage_size = 25\n'
    )
    monkeypatch.setenv("GATEWAY_SOURCE_EPD_SECRET", ehr_token)

    first = gateway("sync", home)

    assert first.code == 0, first
    # per person: 1 Patient page + signals 3 pages + 1 each for the other types' pages
    assert first.out.strip() == (
        "epd: 3 people, 330 resources in 24 pages: 270 created, 0 updated, 0 unchanged, 60 not mapped, 0 refused"
    )
    records = stored(node)
    assert len(records) == 3 * MAPPED_PER_FILE
    assert {r.source_system for r in records.values()} == {LINK}
    assert set(records) == {ref for bsn in known for ref in refs[bsn][:MAPPED_PER_FILE]}
    by_category: dict[str, int] = {}
    for r in records.values():
        by_category[r.category] = by_category.get(r.category, 0) + 1
    assert by_category == {"signals": 180, "parenting": 60, "safety-plan": 15, "care-team": 9, "care-status": 6}
    subject = {r.subject_id for r in records.values() if r.source_id in refs[known[0]]}
    assert subject == {ids[known[0]]}
    signal = json.loads(records[refs[known[0]][0]].resource)
    assert signal["identifier"][0] == {"system": LINK, "value": refs[known[0]][0]}
    assert signal["subject"] == {"identifier": {"system": BSN_SYSTEM, "value": known[0]}}
    assert signal["meta"]["tag"] == [{"system": DISCLOSURE_SYSTEM, "code": "shareable"}]  # marked at the EHR
    assert signal["meta"]["versionId"] == "1"  # this node's own version of it
    assert "text" not in signal  # the narrative stays at the source
    assert records[refs[known[0]][1]].shareable is False  # not marked
    assert all(r.shareable for r in records.values() if r.category in ("safety-plan", "care-team"))
    state = home / "sync-state.json"
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert not any(bsn in state.read_text() for bsn in known)
    with node.uow() as uow:
        audited = [
            (e.action, e.subject)
            for e in uow.session.scalars(sql_select(AuditEntry).where(AuditEntry.action == "record-written"))
        ]
    assert sorted(audited) == sorted(("record-written", bsn) for bsn in known)

    again = gateway("sync", home)

    assert again.code == 0, again
    assert " 0 resources" in again.out and "0 created, 0 updated" in again.out
    assert len(stored(node)) == 3 * MAPPED_PER_FILE

    for ref in refs[known[1]][:4]:
        ehr.update(ref, {"valueString": "Signaal bijgewerkt: belt niet meer terug"})
    new = ehr.transaction([observation(people[known[2]], "signaleringsplan", f"Nieuw {i}") for i in range(3)])
    ids[later] = register(node, later)  # known from today: their older records come along too

    third = gateway("sync", home)

    assert third.code == 0, third
    assert f"{3 + MAPPED_PER_FILE} created, 4 updated, 0 unchanged" in third.out
    records = stored(node)
    assert len(records) == 4 * MAPPED_PER_FILE + 3
    assert set(new) <= set(records)
    assert json.loads(records[refs[known[1]][0]].resource)["valueString"].startswith("Signaal bijgewerkt")


def test_a_full_sync_withdraws_what_the_ehr_deleted_and_only_that(
    node: Any, home: Path, fhir_server: FhirServer, ehr_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GGZ professional deletes a signal written in the wrong client's file. The hourly
    sync cannot see a deletion; the nightly ``sync --full`` withdraws it, and nothing else:
    not her other records, not another client's, not what an EHR pushed to the node itself."""
    ehr = Ehr(fhir_server, ehr_token)
    mother, other = fresh_bsns(2)
    at_ehr = ehr.patient(mother)
    refs = ehr.transaction([observation(at_ehr, "signaleringsplan", f"Signaal {i}", marked=True) for i in range(3)])
    [others] = ehr.transaction([observation(ehr.patient(other), "signaleringsplan", "Ander gezin")])
    mother_id = register(node, mother)
    register(node, other)
    pushed = d.observation(mother_id, "signals", "Via de koppeling", shareable=True, source_id="push-1")
    registry.push_records(node, fhir_in.records([pushed], fhir_in.known_categories()), audit_log.SYSTEM)
    add_source(home, f'[sources.epd]\nbase_url = "{fhir_server.url}"\nauth = "bearer"\nmapping = "{MAPPING}"\n')
    monkeypatch.setenv("GATEWAY_SOURCE_EPD_SECRET", ehr_token)
    assert gateway("sync", home).code == 0
    assert {refs[0], others, "push-1"} <= set(stored(node))

    ehr.delete(refs[0])
    hourly = gateway("sync", home)

    assert hourly.code == 0 and "withdrawn" not in hourly.out
    assert refs[0] in stored(node)  # an incremental search does not return what is gone

    nightly = gateway("sync", home, "--full")

    assert nightly.code == 0, nightly
    assert nightly.out.strip().endswith("0 refused, 1 withdrawn"), nightly.out
    assert set(stored(node)) == {refs[1], refs[2], others, "push-1"}
    with node.uow() as uow:
        [entry] = uow.session.scalars(sql_select(AuditEntry).where(AuditEntry.action == "record-deleted"))
        record = json.loads(entry.record_json)
    assert (record["subject"], record["actor_id"], record["count"]) == (mother, "system:sync:epd", 1)
    assert record["categories"] == ["signals"] and record["detail"]["source_system"] == LINK
    again = gateway("sync", home, "--full")
    assert again.code == 0 and again.out.strip().endswith("0 refused, 0 withdrawn"), again.out


def test_client_credentials_come_from_the_ehrs_oauth_server(
    make_home: Any, fhir_oauth: tuple[FhirServer, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, token_url, secret = fhir_oauth
    home = make_home("ggz-noord")
    n = build(config.load(home))
    try:
        bsn = fresh_bsns(1)[0]
        ehr = Ehr(server, oauth_token(token_url, secret))
        ehr.transaction(an_ehr_file(ehr.patient(bsn), signals=3))
        register(n, bsn)
        add_source(
            home,
            f'[sources.epd]\nbase_url = "{server.url}"\nauth = "client_credentials"\n'
            f'token_url = "{token_url}"\nclient_id = "gateway-sync"\nmapping = "{MAPPING}"\n',
        )
        monkeypatch.setenv("GATEWAY_SOURCE_EPD_SECRET", secret)

        run = gateway("sync", home, "--source", "epd")

        assert run.code == 0, run
        assert "1 people" in run.out and "33 created" in run.out
        monkeypatch.setenv("GATEWAY_SOURCE_EPD_SECRET", "not-the-secret")
        refused = gateway("sync", home)
        assert refused.code == 1 and refused.err.count("\n") == 1
        assert "token request refused (HTTP 401, invalid_client)" in refused.err
    finally:
        n.uow.engine.dispose()


@pytest.fixture
def fhir_oauth(make_home: Any) -> Iterator[tuple[FhirServer, str, str]]:
    """An EHR whose FHIR API accepts the tokens of a real OAuth server (a gateway node's)."""
    home = make_home("epd-oauth", "EPD OAuth")
    secret = gateway("client", "add", home, "--client-id", "gateway-sync", "--role", "ehr").out.strip().splitlines()[-1]
    app = create_app(config.load(home))
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{http.server_port}"
    install_server()
    server = FhirServer("--jwks", base + "/.well-known/jwks.json")
    try:
        yield server, base + "/oauth/token", secret
    finally:
        server.stop()
        http.shutdown()
        app.extensions["gateway"].uow.engine.dispose()


def oauth_token(token_url: str, secret: str) -> str:
    resp = requests.post(
        token_url, data={"grant_type": "client_credentials"}, auth=("gateway-sync", secret), timeout=30
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


@pytest.mark.parametrize(
    ("source", "env", "code", "reason"),
    [
        ("", {}, 2, "no [sources.NAME] in node.toml"),
        (
            '[sources.epd]\nbase_url = "{url}"\nauth = "bearer"\nmapping = "{mapping}"\n',
            {},
            2,
            "set GATEWAY_SOURCE_EPD_SECRET to the bearer token",
        ),
        (
            '[sources.epd]\nbase_url = "{url}"\nauth = "bearer"\nmapping = "{mapping}"\n',
            {"GATEWAY_SOURCE_EPD_SECRET": "wrong"},
            1,
            "source epd refused our credentials (HTTP 401)",
        ),
        (
            '[sources.epd]\nbase_url = "http://epd.example/fhir"\nauth = "bearer"\nmapping = "{mapping}"\n',
            {},
            2,
            "use https (http only on loopback)",
        ),
        (
            '[sources.epd]\nbase_url = "{url}"\nauth = "bearer"\nmapping = "{mapping}"\nsecret = "x"\n',
            {},
            2,
            "secrets come from the environment only",
        ),
        (
            '[sources.epd]\nbase_url = "{url}"\nauth = "bearer"\nmapping = "nowhere.json"\n',
            {"GATEWAY_SOURCE_EPD_SECRET": "x"},
            2,
            "mapping file nowhere.json not found",
        ),
    ],
)
def test_an_operators_mistake_is_one_line_and_changes_nothing(
    node: Any,
    home: Path,
    fhir_server: FhirServer,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    env: dict[str, str],
    code: int,
    reason: str,
) -> None:
    register(node, fresh_bsns(1)[0])
    add_source(home, source.format(url=fhir_server.url, mapping=MAPPING))
    monkeypatch.delenv("GATEWAY_SOURCE_EPD_SECRET", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    run = gateway("sync", home)

    assert run.code == code, run
    assert run.err.count("\n") == 1 and reason in run.err and "Traceback" not in run.err, run.err
    assert stored(node) == {}
    assert not (home / "sync-state.json").exists()
