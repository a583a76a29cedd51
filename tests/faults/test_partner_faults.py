"""A partner that is down or hangs: a bounded wait, a clear OperationOutcome, audited, and
the exchange works again once the partner is back (issue 8)."""

from __future__ import annotations

from typing import Any

from faults_support import reason

from benchmarks.overview import SlowPartner


def test_partner_down_is_partner_unavailable_and_recovers(fed: Any) -> None:
    tok = fed.token()
    assert fed.ask(tok).status_code == 200
    fed.ggz.stop()
    try:
        resp = fed.ask(tok, timeout=20)  # the node must answer well before the client gives up
        assert resp.status_code == 502, resp.text
        assert reason(resp) == "partner-unavailable"
        assert resp.json()["resourceType"] == "OperationOutcome"
        failed = fed.audit(fed.jeugd, "summary-request-failed")
        assert failed and failed[0]["reason_code"] == "partner-unavailable"
    finally:
        fed.ggz.start(env=fed.env)
    assert fed.ask(tok).status_code == 200


def test_partner_that_hangs_is_partner_timeout_within_the_read_timeout(fed: Any) -> None:
    slow = SlowPartner(f"hangs-{fed.store}", delay=60)
    try:
        fed.jeugd.trust(slow)
        resp = fed.ask(fed.token(), partner=slow.org_id, timeout=20)  # read timeout is 2 s
        assert resp.status_code == 504, resp.text
        assert reason(resp) == "partner-timeout"
        failed = fed.audit(fed.jeugd, "summary-request-failed")
        assert failed[0]["reason_code"] == "partner-timeout" and failed[0]["peer_org"] == slow.org_id
    finally:
        slow.stop()
