"""A worker killed with SIGKILL in the middle of exchanges: no summary reaches a client
without both audit records, and both chains verify, also after a full restart (issue 8)."""

from __future__ import annotations

import os
import signal
from typing import Any

from faults_support import Traffic, workers_of

TRANSIENT = {
    (502, "partner-unavailable"),
    (503, "store-unavailable"),
    (503, "consent-status-unavailable"),
    (503, "node-busy"),
    (504, "partner-timeout"),
}


def _code(body: Any) -> str | None:
    try:
        return body["issue"][0]["details"]["coding"][0]["code"]  # type: ignore[no-any-return]
    except (KeyError, IndexError, TypeError):
        return None


def test_sigkill_of_workers_mid_exchange_leaves_no_unaudited_summary(fed: Any) -> None:
    tok = fed.token()
    killed = []
    with Traffic(lambda: fed.ask(tok, timeout=30), 4) as traffic:
        traffic.wait_for(8)
        for node in (fed.ggz, fed.jeugd):  # the holder while it discloses, then the requester
            pid = workers_of(node.process.pid)[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            traffic.wait_for(8)
    assert len(killed) == 2
    summaries = [body for status, body in traffic.results if status == 200]
    assert summaries, traffic.results[:5]
    for status, body in traffic.results:
        if status not in (200, None):  # None: the connection of a killed requester worker dropped
            assert (status, _code(body)) in TRANSIENT, (status, body)
    sent = {e["exchange_id"] for e in fed.audit(fed.ggz, "disclosure-sent")}
    received = {e["exchange_id"] for e in fed.audit(fed.jeugd, "summary-received")}
    for bundle in summaries:  # the Bundle id is the exchange id (README, "Binding a response")
        assert bundle["id"] in sent and bundle["id"] in received, bundle["id"]
    assert "intact" in fed.verify(fed.ggz)
    assert "intact" in fed.verify(fed.jeugd)
    for node in (fed.ggz, fed.jeugd):
        fed.restart(node)
        assert "intact" in fed.verify(node)
    assert fed.ask(tok).status_code == 200
