"""``gateway audit verify`` over a real store: every tampering is found and its place named.

The chain rules have their own unit tests (``tests/unit/audit/test_audit_chain.py``); these
check what ``audit_log.verify`` adds on SQLite and PostgreSQL: rows read from the store,
the search columns (not covered by the hash) compared with the hashed record on a second
connection, and the two verdicts merged so the first bad entry is named.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from audit import chain, events
from contract.errors import StoreUnavailable
from gateway import config
from gateway.node import build
from gateway.repositories import audit_log
from tests.unit.audit.audit_builders import CHILD, INTRUDER_SIGN, a_disclosure, some_record

ENTRIES = 130  # one signed checkpoint (at 100) and a signed head after it
TARGET = 41  # a disclosure: every search column holds a value
COLUMNS_EDITED = "edited: search columns differ from the hashed record"


@pytest.fixture
def node(home: Path) -> Iterator[Any]:
    built = build(config.load(home))
    with built.uow() as uow:
        for i in range(1, ENTRIES + 1):
            record = a_disclosure(flagged=True, exchange_id=f"ex-{i}") if i == TARGET else some_record(i)
            audit_log.append(uow.session, built, record)
        uow.commit()
    yield built
    built.uow.engine.dispose()


def tamper(node: Any, *statements: str, **params: Any) -> None:
    """Change the store behind the gateway's back, as someone with database access would."""
    with node.uow.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)


def test_an_untouched_log_verifies(node: Any) -> None:
    result = audit_log.verify(node)
    assert result.ok, result.reason
    assert result.checked == ENTRIES
    assert result.reason.startswith(f"intact: {ENTRIES} entries")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("action", events.DISCLOSURE_REFUSED),
        ("outcome", events.REFUSED),
        ("subject", CHILD),
        ("actor_id", "uzi:900099999"),
        ("peer_org", "elders"),
        ("purpose", "referral"),
        ("exchange_id", "ex-other"),
        ("consent_id", "consent-other"),
        ("flagged", False),
        ("consent_id", ""),
    ],
)
def test_an_edited_search_column_is_named(node: Any, column: str, value: object) -> None:
    tamper(
        node,
        f"UPDATE audit_entries SET {column} = :value WHERE seq = :seq",  # noqa: S608 - test names
        value=value,
        seq=TARGET,
    )
    result = audit_log.verify(node)
    assert not result.ok
    assert result.first_bad_seq == TARGET
    assert result.reason == COLUMNS_EDITED


def test_an_edited_record_is_named(node: Any) -> None:
    tamper(
        node,
        "UPDATE audit_entries SET record_json = replace(record_json, 'joint-safety-planning', "
        "'referral') WHERE seq = :seq",
        seq=TARGET,
    )
    result = audit_log.verify(node)
    assert (result.ok, result.first_bad_seq) == (False, TARGET)
    assert result.reason.startswith("edited:")


def test_a_deleted_row_is_named(node: Any) -> None:
    tamper(node, "DELETE FROM audit_entries WHERE seq = :seq", seq=TARGET)
    result = audit_log.verify(node)
    assert (result.ok, result.first_bad_seq) == (False, TARGET)
    assert result.reason.startswith("missing:")


def test_reordered_rows_are_named(node: Any) -> None:
    tamper(
        node,
        "UPDATE audit_entries SET seq = 100000 WHERE seq = :seq",
        "UPDATE audit_entries SET seq = :seq WHERE seq = :seq + 1",
        "UPDATE audit_entries SET seq = :seq + 1 WHERE seq = 100000",
        seq=TARGET,
    )
    result = audit_log.verify(node)
    assert (result.ok, result.first_bad_seq) == (False, TARGET)


def test_a_cut_tail_is_named(node: Any) -> None:
    tamper(node, "DELETE FROM audit_entries WHERE seq > :seq", seq=ENTRIES - 5)
    result = audit_log.verify(node)
    assert (result.ok, result.first_bad_seq) == (False, ENTRIES - 4)
    assert result.reason.startswith("truncated:")


def test_a_deleted_checkpoint_is_named(node: Any) -> None:
    tamper(node, "DELETE FROM audit_checkpoints WHERE seq = 100")
    result = audit_log.verify(node)
    assert (result.ok, result.first_bad_seq) == (False, 100)
    assert result.reason.startswith("unsigned:")


def test_a_checkpoint_signed_by_someone_else_is_named(node: Any) -> None:
    with node.uow() as uow:
        seq, digest = uow.session.execute(text("SELECT seq, hash FROM audit_entries WHERE seq = 100")).one()
    forged = INTRUDER_SIGN(
        chain.checkpoint_claims(seq, digest, kind=chain.KIND_CHECKPOINT, at="2026-03-02T08:00:00.000Z")
    )
    tamper(node, "UPDATE audit_checkpoints SET signed = :forged WHERE seq = 100", forged=forged)
    result = audit_log.verify(node)
    assert (result.ok, result.first_bad_seq) == (False, 100)
    assert result.reason.startswith("forged:")


def test_the_earlier_of_a_column_edit_and_a_chain_break_is_named(node: Any) -> None:
    tamper(node, "UPDATE audit_entries SET purpose = 'referral' WHERE seq = :seq", seq=TARGET)
    tamper(node, "DELETE FROM audit_entries WHERE seq = :seq", seq=TARGET + 10)
    first = audit_log.verify(node)
    assert (first.first_bad_seq, first.reason) == (TARGET, COLUMNS_EDITED)

    tamper(node, "DELETE FROM audit_entries WHERE seq = :seq", seq=TARGET - 10)
    second = audit_log.verify(node)
    assert second.first_bad_seq == TARGET - 10
    assert second.reason.startswith("missing:")


def test_a_store_error_while_reading_rows_is_a_store_error(node: Any) -> None:
    tamper(node, "ALTER TABLE audit_entries RENAME COLUMN prev_hash TO previous")
    with pytest.raises(StoreUnavailable):
        audit_log.verify(node)


def test_the_column_check_reads_the_snapshot_the_chain_walk_reads(node: Any, monkeypatch: Any) -> None:
    """An edit committed while verify runs is not half seen: both checks read one snapshot."""
    check = audit_log._first_column_mismatch

    def edit_then_check(session: Any) -> int | None:
        tamper(node, "UPDATE audit_entries SET purpose = 'referral' WHERE seq = :seq", seq=TARGET)
        return check(session)

    monkeypatch.setattr(audit_log, "_first_column_mismatch", edit_then_check)
    assert audit_log.verify(node).ok
    monkeypatch.setattr(audit_log, "_first_column_mismatch", check)
    assert audit_log.verify(node).first_bad_seq == TARGET


def test_the_node_keeps_writing_while_its_log_is_verified(node: Any, monkeypatch: Any) -> None:
    """A privacy officer verifies a long log on a live node: exchanges keep being audited.
    (On SQLite verify held the write lock for the whole walk, about 3 s per million entries.)"""
    walk = chain.verify_rows
    appended: list[int] = []

    def append_during_walk(*args: Any, **kwargs: Any) -> chain.VerifyResult:
        def audit_one() -> None:
            with node.uow() as uow:
                appended.append(audit_log.append(uow.session, node, some_record(ENTRIES + 1)))
                uow.commit()

        writer = threading.Thread(target=audit_one)
        writer.start()
        writer.join(10)
        assert appended == [ENTRIES + 1], "an append waited for the verification"
        return walk(*args, **kwargs)

    monkeypatch.setattr(chain, "verify_rows", append_during_walk)
    during = audit_log.verify(node)
    assert (during.ok, during.checked) == (True, ENTRIES), during.reason  # the snapshot it started on
    monkeypatch.setattr(chain, "verify_rows", walk)
    after = audit_log.verify(node)
    assert (after.ok, after.checked) == (True, ENTRIES + 1), after.reason
