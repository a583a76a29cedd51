"""Fault fixtures: the demo federation on real gunicorn nodes, per store, tuned for fast faults.

Jeugdteam West (requester, issuer of the consent) waits at most ``READ_TIMEOUT`` seconds for a
partner, and both nodes re-fetch a partner's JWKS at most once a second, so that a hanging
partner and a key rotation are quick tests. PostgreSQL nodes carry an ``application_name``
naming their schema, so a test can terminate exactly their connections and no one else's.
"""

from __future__ import annotations

import importlib.util
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from gateway import config
from gateway.demo import data as d
from gateway.demo import runner as demo
from gateway.demo.loopback import RunningNode, free_port, run_cli
from gateway.node import build
from gateway.repositories import audit_log

_root = importlib.util.spec_from_file_location("tests_root_conftest_faults", Path(__file__).parents[1] / "conftest.py")
assert _root is not None and _root.loader is not None
_root_conftest = importlib.util.module_from_spec(_root)
_root.loader.exec_module(_root_conftest)
STORES: list[str] = _root_conftest.STORES
PG: str = _root_conftest.PG

READ_TIMEOUT = 2
ENV = {
    "GATEWAY_PARTNERS_READ_TIMEOUT": str(READ_TIMEOUT),
    "GATEWAY_PARTNERS_CONNECT_TIMEOUT": "1",
    "GATEWAY_PARTNERS_JWKS_REFETCH_INTERVAL": "1",
}


@dataclass
class FaultFed:
    store: str
    ggz: RunningNode  # holder
    jeugd: RunningNode  # requester and issuer
    ids: dict[str, Any]
    schemas: dict[str, str] = field(default_factory=dict)  # org id -> PG schema
    env: dict[str, str] = field(default_factory=lambda: dict(ENV))
    _api: Any = None
    _api_at: float = 0.0

    def api(self) -> Any:
        """The EHR's session at the requester, kept like an EHR keeps it (its token lives 300 s):
        a fault in the requester's store must not stop the test before its request is sent."""
        if self._api is None or time.monotonic() - self._api_at > 200:
            self._api, self._api_at = self.jeugd.session("jeugd-epd", "uzi:900000202"), time.monotonic()
        return self._api

    def token(self) -> str:
        j = self.jeugd.session("jeugd-epd", "uzi:900000202")
        consent = j.post(
            "/fhir/Consent",
            d.consent(
                self.ids["mother_jeugd"],
                [f"Patient/{self.ids['mother_jeugd']}"],
                recipients=[self.jeugd.org_id],
                holders=[self.ggz.org_id],
                purpose="joint-safety-planning",
                categories=list(demo.CATEGORIES),
                start=date.today() - timedelta(days=1),
            ),
        )
        assert consent.status_code == 201, consent.text
        tok = j.post(f"/fhir/Consent/{consent.json()['id']}/$issue-token")
        assert tok.status_code == 200, tok.text
        return tok.json()["parameter"][0]["valueString"]  # type: ignore[no-any-return]

    def ask(self, token: str, *, partner: str | None = None, timeout: float = 30) -> requests.Response:
        api = self.api()
        body = d.summary_request(
            partner or self.ggz.org_id, demo.MOTHER, "joint-safety-planning", list(demo.CATEGORIES), token=token
        )
        return requests.post(
            self.jeugd.url + "/fhir/$request-summary", json=body, headers=api.headers(), timeout=timeout
        )

    def restart(self, node: RunningNode, env: dict[str, str] | None = None) -> None:
        self._api = None
        node.stop()
        node.start(env={**self.env, **(env or {})})

    def sql(self, node: RunningNode, statement: str) -> None:
        """Run SQL in ``node``'s own store, as an operator (or a failing disk) would."""
        engine = create_engine(config.load(node.home).store.url)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def audit(self, node: RunningNode, action: str) -> list[dict[str, Any]]:
        built = build(config.load(node.home))
        try:
            with built.uow() as uow:
                return [json.loads(e.record_json) for e in audit_log.entries(uow.session, action=action, limit=10**6)]
        finally:
            built.uow.engine.dispose()

    def verify(self, node: RunningNode) -> str:
        return run_cli("audit", "verify", str(node.home)).strip()


def _pg_url(schemas: list[str], org_id: str) -> str:
    schema = "f_" + uuid.uuid4().hex[:12]
    engine = create_engine(PG)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    schemas.append(schema)
    return f"{PG}?options=-csearch_path%3D{schema}&application_name={schema}"


@pytest.fixture(scope="package", params=STORES)
def fed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultFed]:
    store = request.param
    root = tmp_path_factory.mktemp(f"faults-{store}")
    made: list[str] = []
    urls = {org: (_pg_url(made, org) if store == "postgresql" else None) for org in ("ggz-noord", "jeugdteam-west")}
    ggz = RunningNode("ggz-noord", "GGZ Noord", root / "ggz-noord", free_port(), urls["ggz-noord"])
    jeugd = RunningNode(
        "jeugdteam-west", "Jeugdteam West", root / "jeugdteam-west", free_port(), urls["jeugdteam-west"]
    )
    started: list[RunningNode] = []
    try:
        prints = {n.org_id: n.init() for n in (ggz, jeugd)}
        for n in (ggz, jeugd):
            n.start(env=ENV)
            started.append(n)
        ggz.trust(jeugd, prints[jeugd.org_id])
        jeugd.trust(ggz, prints[ggz.org_id])
        ggz.add_client("ggz-epd", "ehr")
        jeugd.add_client("jeugd-epd", "ehr")
        ids = demo.load_families(ggz, jeugd)
        schemas = dict(zip(("ggz-noord", "jeugdteam-west"), made, strict=False))  # made is empty on SQLite
        yield FaultFed(store, ggz, jeugd, ids, schemas)
    finally:
        for n in started:
            n.stop()
        if made:
            engine = create_engine(PG)
            with engine.begin() as conn:
                for schema in made:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}_away" CASCADE'))
            engine.dispose()
