"""Elkaar vinden: a youth-care worker finds who else is involved with a family (contract section 8).

Four real nodes on loopback. Sanne (the mother) is in care at GGZ Noord and agreed to be
findable there; Noor (9) is known at the child-protection board, where both parents agreed
she may be found. Erik (the father) is known at GGZ Noord too, but never agreed. Wijkteam
Oost knows none of them. A hanging partner accepts connections and never answers.
Jeugdteam West asks about the whole family at once; every answering node's logs are read
afterwards for any trace of who was sought.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from joserfc.jwk import ECKey
from sqlalchemy import create_engine, text

from gateway import config
from gateway.app import create_app
from gateway.demo import data as d
from gateway.demo.loopback import Operator, RunningNode, free_port, run_cli
from gateway.federation import directory
from gateway.fhir.fhir_in import BSN_SYSTEM, PURPOSE_SYSTEM
from tests.conftest import STORES, StoreFactory

pytestmark = pytest.mark.scenario

MOTHER, FATHER, CHILD, STRANGER = d.bsn(7101), d.bsn(7102), d.bsn(7103), d.bsn(7104)
DEADLINE = 3.0
#: org id -> (organisation type, contact points) as the operator lists them
LISTED = {
    "jeugdteam-west": ("youth-care", "+31 20 555 0101"),
    "ggz-noord": ("adult-mental-health", "+31 50 123 4567", "crisisdienst@ggz-noord.example"),
    "raad-kinderbescherming": ("child-protection", "+31 88 555 0200"),
    "wijkteam-oost": ("neighbourhood-team", "wijkteam@oost.example"),
}


class HangingPartner:
    """A partner that publishes a JWKS (so it can be trusted) and then never answers a call."""

    def __init__(self) -> None:
        key = ECKey.generate_key("P-256", private=True)
        self.jwks = json.dumps({"keys": [dict(key.as_dict(private=False), kid=key.thumbprint(), alg="ES256")]})
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = outer.jwks.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                outer.release.wait(30)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class World:
    def __init__(self, root: Path, store: Any) -> None:
        self.store = store
        self.jeugd = RunningNode("jeugdteam-west", "Jeugdteam West", root / "jeugd", free_port(), store.url())
        self.ggz = RunningNode("ggz-noord", "GGZ Noord", root / "ggz", free_port(), store.url())
        self.raad = RunningNode(
            "raad-kinderbescherming", "Raad voor de Kinderbescherming", root / "raad", free_port(), store.url()
        )
        self.oost = RunningNode("wijkteam-oost", "Wijkteam Oost", root / "oost", free_port(), store.url())
        self.answering = (self.ggz, self.raad, self.oost)
        self.hanging = HangingPartner()
        # the four organisations trust each other through one signed member list (issue 15),
        # which is also the directory that names them and their contact points
        self.operator = Operator(root / "operator")
        for n in (self.jeugd, *self.answering):
            n.init()
            n.follow(self.operator.list_url, self.operator.thumbprint)
        self.jeugd.start({"GATEWAY_LOCATOR_DEADLINE": str(DEADLINE)})
        for n in self.answering:
            n.start({"GATEWAY_LOCATOR_REFRESH_SECONDS": "1"})
        for n in (self.jeugd, *self.answering):
            self.operator.add(n, *LISTED[n.org_id])
        self.operator.publish()
        for n in (self.jeugd, *self.answering):
            n.refresh_list()

        run_cli(
            "partner",
            "add",
            str(self.jeugd.home),
            "--org-id",
            "traag-team",
            "--url",
            self.hanging.url,
            "--trust-on-first-use",
        )
        self.jeugd.add_client("jeugd-epd", "professional")
        for n in (self.ggz, self.raad):
            n.add_client("epd", "ehr")

    def stop(self) -> None:
        self.hanging.stop()
        for n in (self.jeugd, *self.answering):
            n.stop()
        self.operator.stop()

    def locate(self, *bsns: str, practitioner: str = "uzi:900000303") -> tuple[Any, float]:
        api = self.jeugd.session("jeugd-epd", practitioner)
        started = time.monotonic()
        resp = api.post(
            "/fhir/$locate",
            {
                "resourceType": "Parameters",
                "parameter": [
                    *({"name": "subject", "valueIdentifier": {"system": BSN_SYSTEM, "value": b}} for b in bsns),
                    {"name": "purpose", "valueCoding": {"system": PURPOSE_SYSTEM, "code": "care-coordination"}},
                ],
            },
        )
        return resp, time.monotonic() - started

    def audit(self, node: RunningNode) -> list[dict[str, Any]]:
        engine = create_engine(config.load(node.home).store.url)
        try:
            with engine.connect() as conn:
                return [
                    json.loads(r[0]) for r in conn.execute(text("SELECT record_json FROM audit_entries ORDER BY seq"))
                ]
        finally:
            engine.dispose()


def findable(pid: str, performers: list[str], holder: str) -> dict[str, Any]:
    return d.consent(
        pid,
        performers,
        recipients=[],
        holders=[holder],
        purpose="findable",
        categories=["involvement"],
        start=date.today() - timedelta(days=1),
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if request.param not in STORES:
        pytest.skip(f"store {request.param} not selected")
    store = StoreFactory(request.param)
    w = World(tmp_path_factory.mktemp(f"locate-{request.param}"), store)
    try:
        ggz = w.ggz.session("epd", "uzi:900000101")
        mum = ggz.post("/fhir/Patient", d.patient(MOTHER, date(1990, 3, 2), "Sanne", "Jansen")).json()["id"]
        dad = ggz.post("/fhir/Patient", d.patient(FATHER, date(1988, 7, 9), "Erik", "de Boer")).json()["id"]
        w.mother_consent = ggz.post("/fhir/Consent", findable(mum, [f"Patient/{mum}"], "ggz-noord")).json()["id"]
        # Erik is known here too, but agreed to nothing
        assert dad
        raad = w.raad.session("epd", "uzi:900000404")
        noor = raad.post(
            "/fhir/Patient", d.patient(CHILD, date.today() - timedelta(days=9 * 365 + 100), "Noor", "Jansen")
        ).json()["id"]
        m = raad.post("/fhir/RelatedPerson", d.parent_of(noor, MOTHER, mother=True)).json()["id"]
        f = raad.post("/fhir/RelatedPerson", d.parent_of(noor, FATHER, mother=False)).json()["id"]
        resp = raad.post(
            "/fhir/Consent", findable(noor, [f"RelatedPerson/{m}", f"RelatedPerson/{f}"], "raad-kinderbescherming")
        )
        assert resp.status_code == 201, resp.text
        yield w
    finally:
        w.stop()
        store.cleanup()


def parts(resp: Any, name: str) -> list[dict[str, Any]]:
    out = []
    for p in resp.json().get("parameter", []):
        if p["name"] == name:
            values: dict[str, Any] = {}
            for sub in p["part"]:
                value = next(v for k, v in sub.items() if k.startswith("value"))
                values.setdefault(sub["name"], []).append(value)
            out.append(values)
    return out


def found(resp: Any) -> set[tuple[str, str]]:
    return {(m["subject"][0]["value"], m["organisation"][0]) for m in parts(resp, "match")}


def test_the_mother_and_the_child_are_found_with_whom_to_call(world: World) -> None:
    resp, took = world.locate(CHILD, MOTHER, FATHER)
    assert resp.status_code == 200, resp.text
    assert found(resp) == {(MOTHER, "ggz-noord"), (CHILD, "raad-kinderbescherming")}
    # who is involved is named from this node's directory: name, type and contact point

    node = create_app(config.load(world.jeugd.home)).extensions["gateway"]
    for m in parts(resp, "match"):
        entry = directory.entry(node, m["organisation"][0])
        assert entry is not None
        assert m["name"] == [entry.name] and m["type"][0]["code"] == entry.type
        assert [c["value"] for c in m.get("contact", [])] == entry.contact
    node.uow.engine.dispose()
    by_org = {m["organisation"][0]: m for m in parts(resp, "match")}
    ggz = by_org["ggz-noord"]
    assert ggz["name"] == ["GGZ Noord"] and ggz["type"][0]["code"] == "adult-mental-health"
    assert [c["value"] for c in ggz["contact"]] == ["+31 50 123 4567", "crisisdienst@ggz-noord.example"]
    raad = by_org["raad-kinderbescherming"]
    assert raad["name"] == ["Raad voor de Kinderbescherming"] and raad["type"][0]["code"] == "child-protection"
    assert [c["value"] for c in raad["contact"]] == ["+31 88 555 0200"]
    # the hanging partner is named as not answering, and the deadline held
    assert [(u["organisation"][0], u["reason"][0]) for u in parts(resp, "unavailable")] == [
        ("traag-team", "partner-timeout")
    ]
    assert took < DEADLINE + 2


def test_the_asking_side_audits_who_searched_whom_and_what_was_found(world: World) -> None:
    world.locate(CHILD, MOTHER, practitioner="uzi:900000505")
    mine = [
        r for r in world.audit(world.jeugd) if r["action"] == "locate-searched" and r["actor_id"] == "uzi:900000505"
    ]
    assert {(r["subject"], tuple(r["detail"]["found"])) for r in mine} == {
        (CHILD, ("raad-kinderbescherming",)),
        (MOTHER, ("ggz-noord",)),
    }
    assert all(r["purpose"] == "care-coordination" and r["detail"]["unavailable"] == ["traag-team"] for r in mine)


def test_an_unknown_person_is_not_found_and_no_node_learns_it_was_asked(world: World) -> None:
    before = {n.org_id: len(world.audit(n)) for n in world.answering}
    resp, _ = world.locate(STRANGER)
    assert resp.status_code == 200 and found(resp) == set()
    for n in world.answering:
        new = world.audit(n)[before[n.org_id] :]
        matches = [r for r in new if r["action"] == "locator-match-answered"]
        # one blinded request of max-items, like any other search: nothing says who, or how many
        assert [(r["outcome"], r["count"], r["subject"]) for r in matches] == [("success", 8, "")]
        assert STRANGER not in json.dumps(new)
    resp, _ = world.locate(MOTHER)  # a search that does find someone looks the same to ggz
    last = [r for r in world.audit(world.ggz) if r["action"] == "locator-match-answered"][-1]
    assert (last["outcome"], last["count"], last["subject"]) == ("success", 8, "")


def test_the_answering_nodes_logs_hold_no_bsn_of_the_search(world: World) -> None:
    world.locate(CHILD, MOTHER, FATHER, STRANGER)
    for n in world.answering:
        locator_lines = [r for r in world.audit(n) if r["action"].startswith("locator-")]
        assert locator_lines
        assert not re.search(r"\b\d{9}\b", json.dumps(locator_lines))
        served = (n.home / "serve.log").read_text(errors="replace")
        assert not any(b in served for b in (CHILD, MOTHER, FATHER, STRANGER))
    oost = json.dumps(world.audit(world.oost))  # knows nobody: no BSN at all, anywhere
    assert not re.search(r"\b\d{9}\b", oost)


def test_a_person_without_a_findable_consent_or_after_revoking_is_not_found(world: World) -> None:
    resp, _ = world.locate(FATHER)  # known at ggz, never agreed
    assert found(resp) == set()
    ggz = world.ggz.session("epd", "uzi:900000101")
    try:
        assert ggz.post(f"/fhir/Consent/{world.mother_consent}/$revoke").status_code == 200
        deadline = time.monotonic() + 10
        resp, _ = world.locate(MOTHER, CHILD)
        while (MOTHER, "ggz-noord") in found(resp) and time.monotonic() < deadline:
            time.sleep(0.3)
            resp, _ = world.locate(MOTHER, CHILD)
        assert found(resp) == {(CHILD, "raad-kinderbescherming")}
    finally:  # findable again for the tests that follow in this module
        pid = ggz.get("/fhir/Patient", identifier=f"{BSN_SYSTEM}|{MOTHER}").json()["entry"][0]["resource"]["id"]
        world.mother_consent = ggz.post("/fhir/Consent", findable(pid, [f"Patient/{pid}"], "ggz-noord")).json()["id"]


def test_an_invalid_bsn_is_refused_like_any_bad_input(world: World) -> None:
    resp, _ = world.locate("123456789")
    assert resp.status_code == 400
    assert resp.json()["issue"][0]["details"]["coding"][0]["code"] == "invalid-request"


def test_only_trusted_partners_get_the_setup(world: World) -> None:
    api = world.ggz.session("epd", "uzi:900000101")  # a local client is no partner
    resp = requests.post(world.ggz.url + "/fhir/$locator-setup", headers=api.headers(), timeout=10)
    assert resp.status_code == 401
    assert resp.json()["issue"][0]["details"]["coding"][0]["code"] == "unknown-partner"
    assert "parameter" not in resp.json()
