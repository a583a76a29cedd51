"""A power cut after a disclosure must not take its audit entry with it (issue 13, item 11).

"Nothing leaves without its audit" holds only if the audit's commit is on disk when the
response leaves. These tests look at the very connections that write audit entries while
an EHR works through the local API, and at a store whose URL asks for asynchronous
commits.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from builders import Api, new_bsn
from sqlalchemy import event

from audit import events
from gateway import config
from gateway.demo import data as d
from gateway.node import build
from gateway.repositories import audit_log

SQLITE_FULL = 2  # PRAGMA synchronous answers a number: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def durability_of(dbapi_conn: Any, dialect: str) -> Any:
    """What this very connection promises for its commits."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA synchronous" if dialect == "sqlite" else "SHOW synchronous_commit")
        return cur.fetchone()[0]
    finally:
        cur.close()


def watch_audit_writes(engine: Any) -> list[Any]:
    """Record, for every INSERT into audit_entries, the durability of the connection doing it."""
    seen: list[Any] = []

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_ENTRIES"):
            seen.append(durability_of(conn.connection.dbapi_connection, engine.dialect.name))

    return seen


def test_every_audit_entry_an_ehr_causes_is_committed_durably(app: Any, client: Any) -> None:
    node = app.extensions["gateway"]
    seen = watch_audit_writes(node.uow.engine)
    api = Api(app, client)

    bsn = new_bsn()
    pid = api.created("/fhir/Patient", d.patient(bsn, date(1990, 2, 3), "Eva", "Bos"))["id"]
    assert (
        api.post(
            "/fhir/Observation", d.observation(pid, "signals", "Belt niet terug.", shareable=True, source_id="s-1")
        ).status_code
        == 201
    )
    assert (
        api.get("/fhir/Patient", query_string={"identifier": f"http://fhir.nl/fhir/NamingSystem/bsn|{bsn}"}).status_code
        == 200
    )

    assert len(seen) >= 2, "the record write and the look-up are both audited"
    expected = SQLITE_FULL if node.uow.engine.dialect.name == "sqlite" else "on"
    assert seen == [expected] * len(seen)


def test_an_administrative_act_is_committed_durably_too(home: Any) -> None:
    node = build(config.load(home))
    try:
        seen = watch_audit_writes(node.uow.engine)
        audit_log.record_admin(node, events.PARTNER_ADDED, peer_org="jeugdteam-west")
        assert seen == [SQLITE_FULL if node.uow.engine.dialect.name == "sqlite" else "on"]
    finally:
        node.uow.engine.dispose()


def test_a_store_url_asking_for_asynchronous_commits_still_gets_durable_ones(home: Any, stores: Any) -> None:
    """An operator (or a copied tuning guide) puts synchronous_commit=off in the URL's options."""
    if stores.kind != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    url = config.load(home).store.url
    assert "options=" in url  # the test store's search_path travels there
    asynchronous = url.replace("options=", "options=-csynchronous_commit%3Doff%20", 1)
    cfg = config.load(home, env={"GATEWAY_STORE_URL": asynchronous})
    node = build(cfg)
    try:
        seen = watch_audit_writes(node.uow.engine)
        audit_log.record_admin(node, events.PARTNER_ADDED, peer_org="jeugdteam-west")
        assert seen == ["on"]
        assert audit_log.verify(node).ok  # and it is the node's own store, search_path intact
    finally:
        node.uow.engine.dispose()
