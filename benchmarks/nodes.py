"""Real nodes for the benchmark: two gunicorn nodes as in production, on SQLite or PostgreSQL.

The nodes are initialised with the CLI and served by ``gateway serve`` (gateway.demo.loopback,
the same path as ``gateway demo`` and the scenario tests). The synthetic family of the demo
is loaded, the mother's consent is recorded at the requester, and one consent token is
issued; every exchange then asks for her signals, safety plan and care team.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, func, select, text

from adapters.store.models import AuditEntry
from gateway import config
from gateway.demo import data as d
from gateway.demo import runner as demo
from gateway.demo.loopback import RunningNode, free_port, run_cli
from gateway.node import build

PG_URL = os.environ.get(
    "GATEWAY_BENCH_PG", os.environ.get("GATEWAY_TEST_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")
)


class Schemas:
    """Fresh PostgreSQL schemas for nodes (as tests/conftest.StoreFactory), dropped afterwards."""

    def __init__(self, base: str = PG_URL) -> None:
        self.base = base
        self.made: list[str] = []

    def url(self) -> str:
        schema = "bench_" + uuid.uuid4().hex[:10]
        engine = create_engine(self.base)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        self.made.append(schema)
        return f"{self.base}?options=-csearch_path%3D{schema}"

    def cleanup(self) -> None:
        if not self.made:
            return

        engine = create_engine(self.base)
        with engine.begin() as conn:
            for schema in self.made:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
        self.made.clear()


def pg_available(base: str = PG_URL) -> str | None:
    """None if PostgreSQL answers, else the reason."""
    try:
        engine = create_engine(base, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


class TokenSource:
    """A local client's bearer token, renewed before its 300 s life ends (soak runs are longer)."""

    def __init__(self, node: RunningNode, client_id: str) -> None:
        self.node, self.client_id = node, client_id
        self._token, self._until = "", 0.0

        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            if time.monotonic() > self._until:
                resp = requests.post(
                    self.node.url + "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(self.client_id, self.node.clients[self.client_id]),
                    timeout=30,
                )
                resp.raise_for_status()
                body = resp.json()
                self._token = body["access_token"]
                self._until = time.monotonic() + max(int(body.get("expires_in", 300)) - 60, 10)
            return self._token


@dataclass
class BenchFederation:
    store: str
    ggz: RunningNode  # holder
    jeugd: RunningNode  # requester, issuer of the consent token
    ids: dict[str, Any]
    consent_token: str = ""
    schemas: Schemas | None = None
    extra: list[Any] = field(default_factory=list)

    @property
    def nodes(self) -> list[RunningNode]:
        return [self.ggz, self.jeugd]

    def exchange_body(self, categories: list[str] | None = None) -> bytes:
        body = d.summary_request(
            self.ggz.org_id,
            demo.MOTHER,
            "joint-safety-planning",
            categories or list(demo.CATEGORIES),
            token=self.consent_token,
        )
        return json.dumps(body).encode()

    def stop(self) -> None:
        for extra in self.extra:
            extra.stop()
        for node in self.nodes:
            node.stop()
        if self.schemas is not None:
            self.schemas.cleanup()


def start_federation(root: Path, store: str, *, workers: int = 2, threads: int | None = None) -> BenchFederation:
    """Two trusting nodes with the demo family and a consent token for the exchange."""
    schemas = Schemas() if store == "postgresql" else None
    db = (lambda: schemas.url()) if schemas else (lambda: None)
    env = {"GATEWAY_SERVER_THREADS": str(threads)} if threads else {}
    ggz = RunningNode("ggz-noord", "GGZ Noord", root / "ggz-noord", free_port(), db(), workers=workers)
    jeugd = RunningNode("jeugdteam-west", "Jeugdteam West", root / "jeugdteam-west", free_port(), db(), workers=workers)
    fed = BenchFederation(store, ggz, jeugd, {}, schemas=schemas)
    try:
        prints = {n.org_id: n.init() for n in (ggz, jeugd)}
        for n in (ggz, jeugd):
            n.start(env=env)
        ggz.trust(jeugd, prints[jeugd.org_id])
        jeugd.trust(ggz, prints[ggz.org_id])
        ggz.add_client("ggz-epd", "ehr")
        jeugd.add_client("jeugd-epd", "ehr")
        fed.ids = demo.load_families(ggz, jeugd)
        fed.consent_token = issue_token(jeugd, fed.ids["mother_jeugd"], holders=[ggz.org_id])
    except BaseException:
        fed.stop()
        raise
    return fed


def issue_token(jeugd: RunningNode, patient_id: str, *, holders: list[str], categories: list[str] | None = None) -> str:
    """Record the mother's consent at the requester and sign a token for it."""
    j = jeugd.session("jeugd-epd", "uzi:900000202")
    consent = j.post(
        "/fhir/Consent",
        d.consent(
            patient_id,
            [f"Patient/{patient_id}"],
            recipients=[jeugd.org_id],
            holders=holders,
            purpose="joint-safety-planning",
            categories=categories or list(demo.CATEGORIES),
            start=date.today() - timedelta(days=1),
        ),
    )
    consent.raise_for_status()
    tok = j.post(f"/fhir/Consent/{consent.json()['id']}/$issue-token")
    tok.raise_for_status()
    return tok.json()["parameter"][0]["valueString"]  # type: ignore[no-any-return]


def audit_counts(node: RunningNode, actions: list[str]) -> dict[str, int]:
    """Count audit entries per action in the node's own store (as an operator would)."""
    built = build(config.load(node.home))
    try:
        with built.uow() as uow:
            rows = uow.session.execute(
                select(AuditEntry.action, func.count())
                .where(AuditEntry.action.in_(actions))
                .group_by(AuditEntry.action)
            ).all()
        return dict.fromkeys(actions, 0) | {a: int(n) for a, n in rows}
    finally:
        built.uow.engine.dispose()


def audit_verify(node: RunningNode) -> str:
    return run_cli("audit", "verify", str(node.home)).strip()
