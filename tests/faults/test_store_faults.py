"""The store or its audit log cannot be written: 503 store-unavailable, nothing disclosed,
and the node serves again as soon as the store is back (issue 8; SECURITY.md, fail closed).

"Cannot be written" is made the same way on both stores: the audit table is renamed away
under the running node (as a failing volume or an operator's mistake would leave it), so
every append fails. On PostgreSQL the node's connections are also terminated, and the whole
schema is renamed away. (SQLite's ``PRAGMA max_page_count`` only binds the connection that
sets it, and a root test process ignores file modes, so neither reaches a running node.)
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from faults_support import PG, reason
from sqlalchemy import create_engine, text


def _hide(fed: Any, node: Any) -> None:
    fed.sql(node, "ALTER TABLE audit_entries RENAME TO audit_entries_away")


def _restore(fed: Any, node: Any) -> None:
    fed.sql(node, "ALTER TABLE audit_entries_away RENAME TO audit_entries")


def test_holder_that_cannot_audit_discloses_nothing_and_recovers(fed: Any) -> None:
    tok = fed.token()
    assert fed.ask(tok).status_code == 200
    _hide(fed, fed.ggz)
    try:
        resp = fed.ask(tok)
        # the holder refuses the disclosure (503 store-unavailable, passed through), or already
        # its login, which it audits too (OAuth temporarily_unavailable: partner-unavailable)
        assert (resp.status_code, reason(resp)) in {(503, "store-unavailable"), (502, "partner-unavailable")}, resp.text
        assert resp.json()["resourceType"] == "OperationOutcome"
    finally:
        _restore(fed, fed.ggz)
    sent = {e["exchange_id"] for e in fed.audit(fed.ggz, "disclosure-sent")}
    failed = fed.audit(fed.jeugd, "summary-request-failed")[0]
    assert failed["reason_code"] == reason(resp)
    assert failed["exchange_id"] not in sent  # nothing was disclosed under that exchange
    ok = fed.ask(tok)
    assert ok.status_code == 200, ok.text
    assert "intact" in fed.verify(fed.ggz)


def test_requester_that_cannot_audit_returns_no_summary_and_recovers(fed: Any) -> None:
    tok = fed.token()
    _hide(fed, fed.jeugd)
    try:
        resp = fed.ask(tok)
        assert resp.status_code == 503, resp.text  # its own store, or the issuer's consent status
        assert reason(resp) in ("store-unavailable", "consent-status-unavailable")
        assert "entry" not in resp.json()
    finally:
        _restore(fed, fed.jeugd)
    assert fed.ask(tok).status_code == 200
    assert "intact" in fed.verify(fed.jeugd)


def test_postgresql_connections_terminated_under_the_node_are_replaced(fed: Any) -> None:
    if fed.store != "postgresql":
        pytest.skip("PostgreSQL only")
    tok = fed.token()
    assert fed.ask(tok).status_code == 200

    engine = create_engine(PG)
    try:
        with engine.begin() as conn:
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = ANY(:names)"
                ),
                {"names": list(fed.schemas.values())},
            ).scalar()
    finally:
        engine.dispose()
    assert killed and killed > 0
    answers = [fed.ask(tok) for _ in range(4)]  # pool_pre_ping replaces the dead connections
    assert [a.status_code for a in answers] == [200] * 4, [a.text[:200] for a in answers]


def test_postgresql_schema_gone_is_503_then_recovers(fed: Any) -> None:
    if fed.store != "postgresql":
        pytest.skip("PostgreSQL only")
    tok = fed.token()
    schema = fed.schemas["ggz-noord"]

    engine = create_engine(PG)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_away"'))
        try:
            resp = fed.ask(tok)
            assert resp.status_code == 503, resp.text
            assert reason(resp) == "store-unavailable"
            ready = requests.get(fed.ggz.url + "/readyz", timeout=10)
            assert ready.status_code == 503
        finally:
            with engine.begin() as conn:
                conn.execute(text(f'ALTER SCHEMA "{schema}_away" RENAME TO "{schema}"'))
    finally:
        engine.dispose()
    assert fed.ask(tok).status_code == 200
    assert "intact" in fed.verify(fed.ggz)
