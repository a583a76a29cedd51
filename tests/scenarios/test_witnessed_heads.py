"""A cut audit log with an older signed head put back is caught by the partner that saw more.

Issue 13, item 12. Someone with database access at Jeugdteam West deletes the newest audit
entries and restores the signed head of an earlier moment (kept from a backup). Every
signature in what is left is genuine, so ``gateway audit verify`` passes, as it always did.
But GGZ Noord exchanged with Jeugdteam West after that moment and holds a newer signed head
of its log: ``gateway audit verify --witnesses`` asks it, and names GGZ Noord as the partner
whose witnessed head the log no longer reaches. Real nodes (gunicorn) on both stores.
"""

from __future__ import annotations

import contextlib
import io
import time
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text

from audit import chain
from gateway import config
from gateway.cli.main import main as cli
from gateway.demo import data as d
from gateway.demo import runner as demo
from gateway.node import build
from gateway.repositories import audit_log

pytestmark = pytest.mark.scenario


def gateway(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(list(args))
    return code, out.getvalue(), err.getvalue()


def ask_for_summaries(ggz: Any, jeugd: Any, ids: dict[str, Any], times: int) -> None:
    """Jeugdteam West asks GGZ Noord for the mother's summary under a consent recorded there."""
    j = jeugd.session("jeugd-epd", "uzi:900000202")
    consent = j.post(
        "/fhir/Consent",
        d.consent(
            ids["mother_jeugd"],
            [f"Patient/{ids['mother_jeugd']}"],
            recipients=[jeugd.org_id],
            holders=[ggz.org_id],
            purpose="joint-safety-planning",
            categories=demo.CATEGORIES,
            start=date.today(),
        ),
    )
    assert consent.status_code == 201, consent.text
    for _ in range(times):
        resp = j.post(
            "/fhir/$request-summary", d.summary_request(ggz.org_id, demo.MOTHER, "joint-safety-planning", ["signals"])
        )
        assert resp.status_code == 200, resp.text


def sql(home: Any, statement: str, **params: Any) -> Any:
    node = build(config.load(home))
    try:
        with node.uow.engine.begin() as conn:
            return (
                conn.execute(text(statement), params).all()
                if statement.lstrip().upper().startswith("SELECT")
                else conn.execute(text(statement), params)
            )
    finally:
        node.uow.engine.dispose()


def signed_head(home: Any) -> tuple[int, str, str]:
    """The head row an insider copies (seq, hash, signed head)."""
    [(seq, digest, signed)] = sql(home, "SELECT seq, hash, signed FROM audit_head WHERE id = 1")
    return seq, digest, signed


def witnessed_seq(holder: Any, of: str) -> int | None:
    rows = sql(holder.home, "SELECT seq FROM witnessed_heads WHERE org_id = :o", o=of)
    return rows[0][0] if rows else None


def cut_back_to(home: Any, head: tuple[int, str, str]) -> None:
    """Delete every entry and checkpoint after ``head`` and put that older signed head back."""
    seq, digest, signed = head
    sql(home, "DELETE FROM audit_entries WHERE seq > :s", s=seq)
    sql(home, "DELETE FROM audit_checkpoints WHERE seq > :s", s=seq)
    sql(home, "UPDATE audit_head SET seq = :s, hash = :h, signed = :g WHERE id = 1", s=seq, h=digest, g=signed)


def test_a_cut_tail_with_an_older_signed_head_put_back_is_named_by_the_witnessing_partner(federation) -> None:
    ggz, jeugd, ids = federation
    ask_for_summaries(ggz, jeugd, ids, 1)
    restore_point = signed_head(jeugd.home)  # the insider's copy of an earlier moment
    ask_for_summaries(ggz, jeugd, ids, 2)  # GGZ Noord sees later heads of Jeugdteam West's log

    code, out, err = gateway("audit", "verify", str(jeugd.home), "--witnesses")
    assert code == 0, err
    assert "witness ggz-noord: reached" in out
    held = witnessed_seq(ggz, jeugd.org_id)  # asking handed over the newest head too
    assert held == signed_head(jeugd.home)[0] > restore_point[0]

    jeugd.stop()
    cut_back_to(jeugd.home, restore_point)

    code, out, err = gateway("audit", "verify", str(jeugd.home))
    assert code == 0, err  # on its own the cut log verifies: every signature is genuine
    assert out.startswith(f"intact: {restore_point[0]} entries")

    code, out, err = gateway("audit", "verify", str(jeugd.home), "--witnesses")
    assert code == 1
    assert "ggz-noord" in err and "truncated" in err, err
    assert f"entry {held}" in err and f"ends at {restore_point[0]}" in err, err
    # asking did not let the cut log talk the witness down to the restored head
    assert witnessed_seq(ggz, jeugd.org_id) == held


def test_a_cut_log_that_goes_on_working_stays_caught(federation) -> None:
    """After the cut the node serves again and its log grows past the witnessed head: the
    witness saw it go back first and keeps the head it held."""
    ggz, jeugd, ids = federation
    ask_for_summaries(ggz, jeugd, ids, 1)
    restore_point = signed_head(jeugd.home)
    ask_for_summaries(ggz, jeugd, ids, 2)
    held = witnessed_seq(ggz, jeugd.org_id)
    assert held is not None

    jeugd.stop()
    cut_back_to(jeugd.home, restore_point)
    time.sleep(2.5)  # the new entries are signed measurably later than the witnessed head
    jeugd.start()
    ask_for_summaries(ggz, jeugd, ids, 3)
    assert signed_head(jeugd.home)[0] > held  # the log has grown past what GGZ Noord holds

    code, out, err = gateway("audit", "verify", str(jeugd.home))
    assert code == 0, err
    code, out, err = gateway("audit", "verify", str(jeugd.home), "--witnesses")
    assert code == 1
    assert "ggz-noord" in err and "rewritten" in err and "go back" in err, err
    assert witnessed_seq(ggz, jeugd.org_id) == held
    [(conflict,)] = sql(ggz.home, "SELECT conflict FROM witnessed_heads WHERE org_id = :o", o=jeugd.org_id)
    assert conflict.count(".") == 2  # the contradicting signed head, kept as evidence


def test_both_sides_witness_each_other_during_ordinary_exchanges(federation) -> None:
    ggz, jeugd, ids = federation
    ask_for_summaries(ggz, jeugd, ids, 2)
    # each holds a head of the other that the other's log reaches
    for node, other in ((jeugd, ggz), (ggz, jeugd)):
        assert witnessed_seq(other, node.org_id) is not None
        code, out, err = gateway("audit", "verify", str(node.home), "--witnesses")
        assert code == 0, err
        assert f"witness {other.org_id}: reached" in out
        assert "witnessed: the log reaches the heads of 1 partner(s)" in out
    # what a witness holds is a head signed with the other's own key, no further than its log
    [(signed,)] = sql(ggz.home, "SELECT signed FROM witnessed_heads WHERE org_id = :o", o=jeugd.org_id)
    node = build(config.load(jeugd.home))
    try:
        head = chain.read_checkpoint(signed, verify=audit_log.verifier(node))
    finally:
        node.uow.engine.dispose()
    assert head.kind == chain.KIND_HEAD and head.seq <= signed_head(jeugd.home)[0]
