"""Scenario fixtures: one three-node federation per test module and store, and stand-ins.

``fed`` starts the demo federation (GGZ Noord holds the mother's records, Jeugdteam West
records her consent and asks) plus a third trusted node, Wijkteam Oost, whose partner read
timeout is low so that a hanging partner is a quick test. It is module-scoped and
parametrised over the stores of the root conftest (SQLite, PostgreSQL), so a module pays
for its nodes twice, not once per test. Tests therefore never rely on state another test
made: each records its own consent, and a test that breaks something (a stopped node, a
removed partner, a hidden table) restores it in ``finally``.

``FakePartner`` is a partner node in a thread, for what a real node never does: answer
with a corrupted or foreign signature, or accept a connection and never answer.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import rfc8785
from joserfc.jwk import ECKey
from sqlalchemy import delete, select

from adapters.store.models import ConsentRow, Partner, PartnerKey, Person
from audit import events
from contract import jwt
from gateway import config
from gateway.demo import data as d
from gateway.demo import data as demo_data
from gateway.demo import runner as demo
from gateway.demo.loopback import RunningNode, free_port
from gateway.keys import public_jwk
from gateway.node import build
from gateway.repositories import audit_log
from gateway.services import consents
from gateway.trust import signing
from profiles.summary import build_summary

_root = importlib.util.spec_from_file_location("tests_root_conftest", Path(__file__).parents[1] / "conftest.py")
assert _root is not None and _root.loader is not None
_root_conftest = importlib.util.module_from_spec(_root)
_root.loader.exec_module(_root_conftest)
STORES: list[str] = _root_conftest.STORES
StoreFactory = _root_conftest.StoreFactory

MOTHER = demo.MOTHER
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
READ_TIMEOUT = "2"  # seconds Wijkteam Oost waits for a partner; only the hanging partner reaches it


def reason(resp: requests.Response) -> str | None:
    """The contract reason code of an OperationOutcome answer."""
    try:
        return resp.json()["issue"][0]["details"]["coding"][0]["code"]  # type: ignore[no-any-return]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def refused(resp: requests.Response, status: int, code: str) -> None:
    """Assert an OperationOutcome refusal with ``status`` and reason ``code``."""
    body = resp.json()
    assert resp.status_code == status, (resp.status_code, body)
    assert body["resourceType"] == "OperationOutcome", body
    assert body["issue"][0]["details"]["coding"][0]["code"] == code, body


class PartnerSession:
    """The test acting as a partner node: ``private_key_jwt`` with that node's own key."""

    def __init__(self, fed: Fed, caller: RunningNode, holder: RunningNode) -> None:
        self.fed, self.caller, self.holder = fed, caller, holder
        resp = fed.token_request(holder, fed.assertion(caller, holder))
        assert resp.status_code == 200, resp.text
        self.token = resp.json()["access_token"]

    def post(self, operation: str, params: dict[str, Any]) -> requests.Response:
        return requests.post(
            f"{self.holder.url}/fhir/${operation}",
            json=params,
            timeout=30,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/fhir+json"},
        )

    def summary(
        self,
        token: str | None,
        *,
        subject: str = MOTHER,
        purpose: str = "joint-safety-planning",
        categories: tuple[str, ...] = ("signals",),
        exchange_id: str | None = None,
        **extra: tuple[str, Any],
    ) -> requests.Response:
        return self.post(
            "behaviour-summary",
            holder_params(
                token, subject=subject, purpose=purpose, categories=categories, exchange_id=exchange_id, **extra
            ),
        )


def holder_params(
    token: str | None,
    *,
    subject: str = MOTHER,
    purpose: str = "joint-safety-planning",
    categories: tuple[str, ...] = ("signals",),
    exchange_id: str | None = None,
    practitioner: str = "uzi:900000202",
    **extra: tuple[str, Any],
) -> dict[str, Any]:
    """``$behaviour-summary`` Parameters as a requesting node sends them (contract section 4)."""
    body = d.summary_request("unused", subject, purpose, list(categories), token=token)
    params = [p for p in body["parameter"] if p["name"] != "partner"]
    params.append({"name": "practitioner", "valueIdentifier": {"value": practitioner}})
    params.append({"name": "exchange-id", "valueString": exchange_id or uuid.uuid4().hex})
    for name, (kind, value) in extra.items():
        params.append({"name": name.replace("_", "-"), kind: value})
    return {"resourceType": "Parameters", "parameter": params}


@dataclass
class Fed:
    """The running federation of one module and store, with the errands tests share."""

    store: str
    ggz: RunningNode
    jeugd: RunningNode
    oost: RunningNode
    ids: dict[str, Any]
    _nodes: dict[str, Any] = field(default_factory=dict)

    # helpers for test modules, which cannot import a conftest
    reason = staticmethod(reason)
    refused = staticmethod(refused)
    holder_params = staticmethod(holder_params)

    # -- the nodes' own stores, read as an operator would ---------------------------------
    def node(self, running: RunningNode) -> Any:
        """A ``gateway.node.Node`` on ``running``'s home and store (config.load + node.build)."""
        if running.org_id not in self._nodes:
            self._nodes[running.org_id] = build(config.load(running.home))
        return self._nodes[running.org_id]

    def audit(
        self, running: RunningNode, *, action: str | None = None, exchange_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Audit records on ``running``, newest first, as dicts (``record_json`` plus seq)."""
        with self.node(running).uow() as uow:
            found = audit_log.entries(uow.session, action=action, limit=2000)
            rows = [dict(json.loads(e.record_json), seq=e.seq) for e in found]
        return [r for r in rows if exchange_id is None or r["exchange_id"] == exchange_id]

    def last_failure(self, requester: RunningNode) -> dict[str, Any]:
        return self.audit(requester, action=events.SUMMARY_REQUEST_FAILED)[0]

    def assert_refusal_audited(
        self, code: str, *, requester: RunningNode | None = None, holder: RunningNode | None = None
    ) -> dict[str, Any]:
        """Both logs hold the refusal with ``code`` under one exchange id; return the holder's."""
        requester = requester or self.jeugd
        failed = self.last_failure(requester)
        assert failed["reason_code"] == code and failed["outcome"] == events.REFUSED, failed
        if holder is None:
            return failed
        seen = self.audit(holder, action=events.DISCLOSURE_REFUSED, exchange_id=failed["exchange_id"])
        assert len(seen) == 1, seen
        assert seen[0]["reason_code"] == code and seen[0]["peer_org"] == requester.org_id, seen[0]
        assert seen[0]["request_hash"] == failed["request_hash"]
        return seen[0]

    # -- consents and tokens at Jeugdteam West ---------------------------------------------
    def consent(
        self,
        *,
        purpose: str = "joint-safety-planning",
        categories: tuple[str, ...] = demo.CATEGORIES,
        holders: tuple[str, ...] = ("ggz-noord",),
        recipients: tuple[str, ...] = ("jeugdteam-west",),
        patient: str | None = None,
        at: RunningNode | None = None,
    ) -> str:
        """Record the mother's consent (she is an adult and consents alone); return its id."""
        at = at or self.jeugd
        patient = patient or self.ids["mother_jeugd"]
        resp = at.session("jeugd-epd" if at is self.jeugd else "oost-epd").post(
            "/fhir/Consent",
            d.consent(
                patient,
                [f"Patient/{patient}"],
                recipients=list(recipients),
                holders=list(holders),
                purpose=purpose,
                categories=list(categories),
                start=date.today() - timedelta(days=1),
            ),
        )
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]  # type: ignore[no-any-return]

    def token(self, cid: str, grantee: str | None = None) -> str:
        body = None
        if grantee:
            body = {"resourceType": "Parameters", "parameter": [{"name": "grantee", "valueString": grantee}]}
        resp = self.jeugd.session("jeugd-epd").post(f"/fhir/Consent/{cid}/$issue-token", body)
        assert resp.status_code == 200, resp.text
        return resp.json()["parameter"][0]["valueString"]  # type: ignore[no-any-return]

    def consent_token(self, **kwargs: Any) -> str:
        return self.token(self.consent(**kwargs))

    def grant(self, cid: str) -> Any:
        """The stored consent at Jeugdteam West as the domain ``Grant`` (to sign odd tokens)."""
        with self.node(self.jeugd).uow() as uow:
            row = uow.session.get(ConsentRow, cid)
            return consents.grant_of(row, uow.session.get(Person, row.subject_id), self.jeugd.org_id)

    def register(self, at: RunningNode, client: str, bsn: str, born: date = date(1988, 1, 5)) -> str:
        resp = at.session(client).post("/fhir/Patient", d.patient(bsn, born, "Test", "Persoon"))
        assert resp.status_code in (200, 201), resp.text
        return resp.json()["id"]  # type: ignore[no-any-return]

    # -- asking ------------------------------------------------------------------------------
    def ask(
        self,
        token: str | None,
        *,
        partner: str = "ggz-noord",
        subject: str = MOTHER,
        purpose: str = "joint-safety-planning",
        categories: tuple[str, ...] = demo.CATEGORIES,
        via: RunningNode | None = None,
        note: str | None = None,
    ) -> requests.Response:
        """``$request-summary`` at the requesting node's local API, as its EHR does."""
        via = via or self.jeugd
        client = {"jeugdteam-west": "jeugd-epd", "wijkteam-oost": "oost-epd"}[via.org_id]
        return via.session(client, "uzi:900000202").post(
            "/fhir/$request-summary",
            d.summary_request(partner, subject, purpose, list(categories), token=token, note=note),
        )

    # -- acting as a partner node --------------------------------------------------------------
    def assertion(
        self, caller: RunningNode, holder: RunningNode, *, key: Any = None, kid: str | None = None, **claims: Any
    ) -> str:
        """An RFC 7523 client assertion from ``caller`` for ``holder``'s token endpoint."""

        own_kid, alg, own_key = self.node(caller).keys.active
        now = int(time.time())
        body = {
            "iss": caller.org_id,
            "sub": caller.org_id,
            "aud": holder.url + "/oauth/token",
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
        }
        body.update(claims)
        return jwt.sign(body, key or own_key, kid=kid or own_kid, alg=alg, typ="JWT")

    @staticmethod
    def token_request(holder: RunningNode, assertion: str) -> requests.Response:
        return requests.post(
            holder.url + "/oauth/token",
            timeout=10,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )

    def as_partner(self, caller: RunningNode, holder: RunningNode | None = None) -> PartnerSession:
        return PartnerSession(self, caller, holder or self.ggz)

    # -- breaking and mending ------------------------------------------------------------------
    def forget_partner(self, at: RunningNode, org_id: str) -> None:
        """Remove a partner row and its pinned keys, as a retired partnership would."""
        with self.node(at).uow() as uow:
            uow.session.execute(delete(PartnerKey).where(PartnerKey.org_id == org_id))
            uow.session.execute(delete(Partner).where(Partner.org_id == org_id))
            uow.commit()
        with self.node(at).uow() as uow:
            assert uow.session.scalars(select(Partner).where(Partner.org_id == org_id)).first() is None

    def execute(self, running: RunningNode, sql: str) -> None:
        with self.node(running).uow.engine.begin() as conn:
            conn.exec_driver_sql(sql)

    def close(self) -> None:
        for node in self._nodes.values():
            node.uow.engine.dispose()
        self._nodes.clear()


@pytest.fixture(scope="module", params=STORES)
def fed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fed]:
    stores = StoreFactory(request.param)
    root = tmp_path_factory.mktemp(f"fed-{request.param}")
    started: list[RunningNode] = []
    federation: Fed | None = None
    try:
        ggz, jeugd = demo.build_federation(root, {"ggz-noord": stores.url(), "jeugdteam-west": stores.url()})
        started += [ggz, jeugd]
        oost = RunningNode(
            "wijkteam-oost", "Wijkteam Oost", root / "wijkteam-oost", free_port(), stores.url(), workers=1
        )
        oost_print = oost.init()
        oost.start(env={"GATEWAY_PARTNERS_READ_TIMEOUT": READ_TIMEOUT})
        started.append(oost)
        ggz.trust(oost, oost_print)
        oost.trust(ggz)
        oost.add_client("oost-epd", "ehr")
        ids = demo.load_families(ggz, jeugd)
        federation = Fed(request.param, ggz, jeugd, oost, ids)
        yield federation
    finally:
        if federation is not None:
            federation.close()
        for node in started:
            node.stop()
        stores.cleanup()


# --- a partner that misbehaves on purpose --------------------------------------------------


class FakePartner:
    """A partner node in a thread: its JWKS, ``/oauth/token`` and ``$behaviour-summary``.

    ``mode`` says how it answers a summary request: ``corrupt`` (its own signature with one
    byte changed), ``foreign-key`` (signed by a key it never published), ``rebound`` (a
    valid signature over another exchange id), ``diagnosis`` (validly signed and bound, but
    carrying a Condition), ``bad-display`` (validly signed, every element allowed, a
    diagnosis in a care team member's name), ``unsigned``; or how it hangs: ``hang-token`` accepts the
    connection to ``/oauth/token`` and never answers, ``hang-summary`` does that on the
    summary only.
    """

    def __init__(self, org_id: str, mode: str) -> None:
        self.org_id, self.mode = org_id, mode
        self.key = ECKey.generate_key("P-256", private=True)
        self.release = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.jwks: dict[str, Any] | None = None  # what its JWKS serves instead of its key, when set
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.stopped = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if not self.stopped:
            self.release.set()
            self.server.shutdown()
            self.server.server_close()
            self.stopped = True

    def summary(self, params: dict[str, Any]) -> dict[str, Any]:
        values = {p["name"]: p for p in params["parameter"]}
        exchange_id = values["exchange-id"]["valueString"]
        if self.mode == "rebound":
            exchange_id = uuid.uuid4().hex
        rhash = hashlib.sha256(rfc8785.dumps(params)).hexdigest()
        now = datetime.now(UTC)
        bundle = build_summary(
            [],
            ["signals"],
            holder_org=self.org_id,
            subject_bsn=values["subject"]["valueIdentifier"]["value"],
            exchange_id=exchange_id,
            request_hash=rhash,
            now=now,
        )
        if self.mode == "unsigned":
            return bundle
        if self.mode == "bad-display":
            # validly signed and bound, every element allowed, but a diagnosis where a name belongs

            team = demo_data.care_team("p", source_id="ct")
            bundle = build_summary(
                [team],
                ["care-team"],
                holder_org=self.org_id,
                subject_bsn=values["subject"]["valueIdentifier"]["value"],
                exchange_id=exchange_id,
                request_hash=rhash,
                now=now,
            )
            bundle["entry"][0]["resource"]["participant"][0]["member"]["display"] = "behandelaar depressie F32.1"
        if self.mode == "diagnosis":
            bundle["entry"] = [
                {
                    "fullUrl": "urn:uuid:" + str(uuid.uuid4()),
                    "resource": {
                        "resourceType": "Condition",
                        "subject": {"identifier": {"value": MOTHER}},
                        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "F33.1"}]},
                    },
                }
            ]
        key = ECKey.generate_key("P-256", private=True) if self.mode == "foreign-key" else self.key
        bundle = signing.sign_bundle(bundle, key, kid=key.thumbprint(), alg="ES256", signer_ref=self.org_id, now=now)
        if self.mode == "corrupt":
            header, _, sig = base64.b64decode(bundle["signature"]["data"]).decode().split(".")
            raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
            raw[5] ^= 0x01
            sig = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
            bundle["signature"]["data"] = base64.b64encode(f"{header}..{sig}".encode()).decode()
        return bundle

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, ctype: str = "application/json") -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                if self.path == "/.well-known/jwks.json":
                    self._send(200, fake.jwks or {"keys": [public_jwk(fake.key)]})
                else:
                    self._send(404, {})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/oauth/token":
                    if fake.mode == "hang-token":
                        fake.release.wait(60)
                        return
                    self._send(
                        200, {"access_token": "fake-" + uuid.uuid4().hex, "token_type": "Bearer", "expires_in": 300}
                    )
                elif self.path == "/fhir/$behaviour-summary":
                    if fake.mode == "hang-summary":
                        fake.release.wait(60)
                        return
                    params = json.loads(raw)
                    fake.requests.append(params)
                    self._send(200, fake.summary(params), "application/fhir+json")
                else:
                    self._send(404, {})

        return Handler


@pytest.fixture
def fake_partner(fed: Fed) -> Iterator[Callable[[str], FakePartner]]:
    """``fake_partner(mode)`` -> a FakePartner pinned by Wijkteam Oost (``gateway partner add``)."""
    made: list[FakePartner] = []

    def make(mode: str) -> FakePartner:
        fake = FakePartner(f"fake-{mode}-{uuid.uuid4().hex[:6]}", mode)
        made.append(fake)
        fed.oost.trust(fake)  # type: ignore[arg-type]
        return fake

    yield make
    for fake in made:
        fake.stop()
        fed.forget_partner(fed.oost, fake.org_id)
