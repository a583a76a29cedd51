"""The tamper-evident chain: every kind of tampering is caught and its place is named."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from audit_builders import (
    INTRUDER_SIGN,
    SIGN,
    VERIFY,
    Log,
    a_disclosure,
    a_log,
    rehash_from,
)

from audit import chain
from audit.chain import GENESIS, StoredEntry


@pytest.fixture(scope="module")
def log() -> Log:
    return a_log(250)


def replace_row(rows: list[chain.Row], seq: int, **changes: object) -> list[chain.Row]:
    names = ("seq", "event_id", "recorded_at", "record_json", "prev_hash", "hash")
    out = list(rows)
    row = dict(zip(names, out[seq - 1], strict=True))
    row.update(changes)
    out[seq - 1] = tuple(row[name] for name in names)  # type: ignore[assignment]
    return out


def tweak(record_json: str) -> str:
    """Change a stored record the way an intruder editing the JSON column would."""
    return record_json[:-1] + ',"zz":1}'


# --- the hash rule ---------------------------------------------------------------------


def test_entry_hash_is_sha256_over_position_then_canonical_record() -> None:
    record = a_disclosure()
    canonical = rfc8785.dumps(record.to_dict())
    expected = hashlib.sha256(f"7|ev-7|2026-03-02T08:07:00.000Z|{GENESIS}|".encode() + canonical).hexdigest()
    assert chain.entry_hash(7, "ev-7", "2026-03-02T08:07:00.000Z", record, GENESIS) == expected
    assert chain.record_to_canonical(record) == canonical.decode()


def test_record_round_trips_through_its_canonical_json() -> None:
    record = a_disclosure()
    text = chain.record_to_canonical(record)
    assert chain.record_from_json(text) == record
    assert chain.record_to_canonical(chain.record_from_json(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        '{"action":"login","action":"login","outcome":"success","actor_id":"x"}',
        '{"action":"login","outcome":"success","actor_id":"x","count":1.0}',
        '{"action":"login","outcome":"success","actor_id":"x","extra":1}',
        '{"action":"login","outcome":"success"}',
        "[]",
        "{",
    ],
)
def test_stored_record_is_parsed_strictly(text: str) -> None:
    with pytest.raises(ValueError):
        chain.record_from_json(text)


@pytest.mark.parametrize(
    "bad",
    [
        dict(event_id="has|pipe"),
        dict(event_id=""),
        dict(recorded_at="2026-03-02T08:07:00Z"),
        dict(recorded_at="2026-03-02 08:07:00.000Z"),
        dict(prev_hash="0" * 63),
        dict(seq=0),
    ],
)
def test_entry_position_is_checked_when_written(bad: dict[str, object]) -> None:
    args: dict[str, Any] = dict(seq=1, event_id="ev-1", recorded_at="2026-03-02T08:07:00.000Z", prev_hash=GENESIS)
    args.update(bad)
    with pytest.raises(ValueError):
        chain.entry_hash(record=a_disclosure(), **args)


def test_entry_round_trips_through_its_stored_row(log: Log) -> None:
    assert [chain.entry_from_row(row) for row in log.rows()[:5]] == log.entries[:5]


def test_recorded_at_is_utc_with_milliseconds() -> None:
    moment = datetime(2026, 3, 2, 9, 7, 5, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert chain.format_recorded_at(moment) == "2026-03-02T08:07:05.123Z"
    with pytest.raises(ValueError):
        chain.format_recorded_at(datetime(2026, 3, 2))  # noqa: DTZ001 - naive on purpose: refused


# --- an intact log ---------------------------------------------------------------------


def test_intact_log_verifies(log: Log) -> None:
    result = log.verify()
    assert result.ok, result.reason
    assert result.checked == 250 and result.first_bad_seq is None
    assert len(log.checkpoints) == 2


def test_verify_chain_on_dataclasses_agrees_with_verify_rows(log: Log) -> None:
    result = chain.verify_chain(log.entries, log.checkpoints, log.head, verify=VERIFY)
    assert result == log.verify()


def test_empty_log_verifies_and_a_head_without_entries_does_not() -> None:
    assert chain.verify_rows([], [], None, verify=VERIFY).ok
    one = Log()
    one.append(a_disclosure())
    result = chain.verify_rows([], [], one.head, verify=VERIFY)
    assert not result.ok and result.first_bad_seq == 1 and result.reason.startswith("truncated")


# --- tampering -------------------------------------------------------------------------


def test_edited_field_names_the_row(log: Log) -> None:
    edited = a_disclosure(subject="999999999")
    entries = list(log.entries)
    old = entries[56]
    entries[56] = StoredEntry(old.seq, old.event_id, old.recorded_at, edited, old.prev_hash, old.hash)
    result = chain.verify_chain(entries, log.checkpoints, log.head, verify=VERIFY)
    assert not result.ok and result.first_bad_seq == 57 and result.reason.startswith("edited")
    assert result.checked == 56


def test_edited_stored_json_names_the_row(log: Log) -> None:
    rows = log.rows()
    rows = replace_row(rows, 57, record_json=tweak(rows[56][3]))
    result = log.verify(rows)
    assert (result.ok, result.first_bad_seq) == (False, 57)
    assert result.reason.startswith("edited")


def test_edited_timestamp_names_the_row(log: Log) -> None:
    rows = replace_row(log.rows(), 80, recorded_at="2020-01-01T00:00:00.000Z")
    assert log.verify(rows).first_bad_seq == 80


def test_deleted_row_names_the_gap(log: Log) -> None:
    rows = log.rows()
    del rows[119]
    result = log.verify(rows)
    assert not result.ok and result.first_bad_seq == 120
    assert result.reason.startswith("missing") and "120" in result.reason


def test_deleted_row_with_renumbering_names_the_row(log: Log) -> None:
    rows = log.rows()
    del rows[119]
    rows = [(i, *row[1:]) for i, row in enumerate(rows, start=1)]  # type: ignore[misc]
    result = log.verify(rows)
    assert result.first_bad_seq == 120 and result.reason.startswith("edited")


def test_swapped_rows_are_named(log: Log) -> None:
    rows = log.rows()
    rows[29], rows[30] = rows[30], rows[29]
    result = log.verify(rows)
    assert result.first_bad_seq == 30 and result.reason.startswith("reordered")


def test_swapped_seq_numbers_are_named(log: Log) -> None:
    rows = log.rows()
    a, b = rows[29], rows[30]
    rows[29], rows[30] = (a[0], *b[1:]), (b[0], *a[1:])  # type: ignore[assignment]
    result = log.verify(rows)
    assert not result.ok and result.first_bad_seq == 30


def test_duplicated_row_is_named(log: Log) -> None:
    rows = log.rows()
    rows.insert(41, rows[40])
    result = log.verify(rows)
    assert result.first_bad_seq == 41 and result.reason.startswith("reordered")


def test_consistent_rewrite_is_caught_by_the_next_checkpoint(log: Log) -> None:
    rows = replace_row(log.rows(), 150, record_json=tweak(log.rows()[149][3]))
    rows = rehash_from(rows, 149)
    result = log.verify(rows)
    assert not result.ok and result.first_bad_seq == 101
    assert result.reason.startswith("rewritten") and "checkpoint at seq 200" in result.reason


def test_consistent_rewrite_of_the_tail_is_caught_by_the_head(log: Log) -> None:
    rows = replace_row(log.rows(), 230, record_json=tweak(log.rows()[229][3]))
    rows = rehash_from(rows, 229)
    result = log.verify(rows)
    assert result.first_bad_seq == 201 and "signed head" in result.reason


def test_relinked_row_names_the_rewritten_predecessor(log: Log) -> None:
    rows = log.rows()
    record_json = tweak(rows[59][3])
    digest = chain.row_hash(60, rows[59][1], rows[59][2], record_json, rows[59][4])
    rows = replace_row(rows, 60, record_json=record_json, hash=digest)
    result = log.verify(rows)
    assert result.first_bad_seq == 60 and result.reason.startswith("relinked")


def test_tail_cut_after_the_last_checkpoint_is_caught_by_the_head(log: Log) -> None:
    result = log.verify(log.rows()[:200])
    assert not result.ok and result.first_bad_seq == 201
    assert result.reason.startswith("truncated") and "head" in result.reason


def test_tail_cut_before_a_checkpoint_is_caught(log: Log) -> None:
    result = log.verify(log.rows()[:150])
    assert result.first_bad_seq == 151 and result.reason.startswith("truncated")
    assert "checkpoint at seq 200" in result.reason


def test_tail_cut_with_a_stale_head_put_back_is_caught_by_a_checkpoint(log: Log) -> None:
    result = chain.verify_rows(log.rows()[:150], log.checkpoints, log.heads[150], verify=VERIFY)
    assert result.first_bad_seq == 151 and "checkpoint at seq 200" in result.reason


def test_tail_cut_and_head_deleted_is_caught(log: Log) -> None:
    result = chain.verify_rows(log.rows()[:220], log.checkpoints, None, verify=VERIFY)
    assert not result.ok and result.first_bad_seq == 201
    assert result.reason.startswith("unsigned")


def test_rows_appended_behind_the_gateways_back_are_caught(log: Log) -> None:
    rows = log.rows()
    last = rows[-1]
    record_json = chain.record_to_canonical(a_disclosure())
    forged = (
        251,
        "forged-1",
        "2026-03-02T12:11:00.000Z",
        record_json,
        last[5],
        chain.row_hash(251, "forged-1", "2026-03-02T12:11:00.000Z", record_json, last[5]),
    )
    result = log.verify([*rows, forged])
    assert result.first_bad_seq == 251 and result.reason.startswith("unsigned")


def test_checkpoint_forged_with_another_key_is_named(log: Log) -> None:
    entry = log.entries[99]
    forged = chain.sign_checkpoint(entry, kind=chain.KIND_CHECKPOINT, at=entry.recorded_at, sign=INTRUDER_SIGN)
    result = chain.verify_rows(log.rows(), [forged, log.checkpoints[1]], log.head, verify=VERIFY)
    assert not result.ok and result.first_bad_seq == 100
    assert result.reason.startswith("forged") and "seq 100" in result.reason


def test_rewrite_covered_by_forged_checkpoint_and_head_is_caught(log: Log) -> None:
    rows = replace_row(log.rows(), 150, record_json=tweak(log.rows()[149][3]))
    rows = rehash_from(rows, 149)
    by_seq = {row[0]: row for row in rows}
    forge = [
        chain.checkpoint_claims(seq, by_seq[seq][5], kind=kind, at=by_seq[seq][2])
        for seq, kind in ((200, "checkpoint"), (250, "head"))
    ]
    result = chain.verify_rows(
        rows, [log.checkpoints[0], INTRUDER_SIGN(forge[0])], INTRUDER_SIGN(forge[1]), verify=VERIFY
    )
    assert not result.ok and result.first_bad_seq == 200
    assert result.reason.startswith("forged")


def test_forged_head_is_named(log: Log) -> None:
    entry = log.entries[-1]
    forged = chain.sign_checkpoint(entry, kind=chain.KIND_HEAD, at=entry.recorded_at, sign=INTRUDER_SIGN)
    result = chain.verify_rows(log.rows(), log.checkpoints, forged, verify=VERIFY)
    assert result.first_bad_seq == 250 and "head" in result.reason
    assert result.reason.startswith("forged")


def test_garbage_checkpoint_is_reported_without_a_place(log: Log) -> None:
    result = chain.verify_rows(log.rows(), [*log.checkpoints, "not.a.jws"], log.head, verify=VERIFY)
    assert not result.ok and result.first_bad_seq is None and result.reason.startswith("forged")


def test_deleted_checkpoint_is_named(log: Log) -> None:
    result = chain.verify_rows(log.rows(), log.checkpoints[1:], log.head, verify=VERIFY)
    assert result.first_bad_seq == 100 and result.reason.startswith("unsigned")
    relaxed = chain.verify_rows(log.rows(), log.checkpoints[1:], log.head, verify=VERIFY, checkpoint_every=None)
    assert relaxed.ok


def test_two_signed_checkpoints_disagreeing_are_a_conflict(log: Log) -> None:
    other = SIGN(chain.checkpoint_claims(100, "f" * 64, kind="checkpoint", at=log.entries[99].recorded_at))
    result = chain.verify_rows(log.rows(), [*log.checkpoints, other], log.head, verify=VERIFY)
    assert result.first_bad_seq == 100 and result.reason.startswith("conflict")


def test_signed_checkpoint_with_bad_claims_is_malformed(log: Log) -> None:
    bad = SIGN(
        {
            "seq": 100,
            "hash": log.entries[99].hash,
            "at": log.entries[99].recorded_at,
            "kind": "checkpoint",
            "extra": True,
        }
    )
    result = chain.verify_rows(log.rows(), [*log.checkpoints, bad], log.head, verify=VERIFY)
    assert result.first_bad_seq == 100 and result.reason.startswith("malformed")


# --- pruning ---------------------------------------------------------------------------


def pruned(log: Log, upto: int) -> tuple[list[chain.Row], str]:
    entry = log.entries[upto - 1]
    anchor = chain.sign_checkpoint(entry, kind=chain.KIND_PRUNE, at=entry.recorded_at, sign=SIGN)
    return log.rows()[upto:], anchor


def test_pruned_history_with_a_signed_anchor_verifies(log: Log) -> None:
    rows, prune = pruned(log, 50)
    result = chain.verify_rows(rows, [prune, *log.checkpoints], log.head, verify=VERIFY)
    assert result.ok and result.checked == 200, result.reason
    anchor = chain.anchor_from_prune(prune, verify=VERIFY)
    assert anchor == (50, log.entries[49].hash)
    explicit = chain.verify_rows(rows, log.checkpoints, log.head, verify=VERIFY, anchor=anchor)
    assert explicit.ok


def test_pruning_past_a_checkpoint_keeps_later_checkpoints_required(log: Log) -> None:
    rows, prune = pruned(log, 120)
    assert chain.verify_rows(rows, [prune, *log.checkpoints], log.head, verify=VERIFY).ok
    missing = chain.verify_rows(rows, [prune, log.checkpoints[0]], log.head, verify=VERIFY)
    assert missing.first_bad_seq == 200 and missing.reason.startswith("unsigned")


def test_pruned_history_without_anchor_is_named(log: Log) -> None:
    rows, _ = pruned(log, 50)
    result = log.verify(rows)
    assert not result.ok and result.first_bad_seq == 1 and result.reason.startswith("missing")


def test_row_deleted_right_after_the_anchor_is_named(log: Log) -> None:
    rows, prune = pruned(log, 50)
    result = chain.verify_rows(rows[1:], [prune, *log.checkpoints], log.head, verify=VERIFY)
    assert result.first_bad_seq == 51 and result.reason.startswith("missing")


def test_anchor_that_does_not_match_the_first_row_is_named(log: Log) -> None:
    rows, _ = pruned(log, 50)
    wrong = SIGN(chain.checkpoint_claims(50, "e" * 64, kind="prune", at=rows[0][2]))
    result = chain.verify_rows(rows, [wrong, *log.checkpoints], log.head, verify=VERIFY)
    assert result.first_bad_seq == 51 and result.reason.startswith("unanchored")


def test_anchor_is_checked_while_the_pruned_rows_are_still_present(log: Log) -> None:
    _, prune = pruned(log, 50)
    assert chain.verify_rows(log.rows(), [prune, *log.checkpoints], log.head, verify=VERIFY).ok


def test_anchor_from_prune_refuses_other_kinds(log: Log) -> None:
    with pytest.raises(chain.InvalidCheckpoint):
        chain.anchor_from_prune(log.checkpoints[0], verify=VERIFY)


# --- speed -----------------------------------------------------------------------------


def test_timing_verify_rows_over_100k_rows() -> None:
    """Print (not assert) the time to verify 100,000 rows with 1,000 checkpoints."""
    record_json = chain.record_to_canonical(a_disclosure())
    rows: list[chain.Row] = []
    checkpoints: list[str] = []
    prev, at = GENESIS, "2026-03-02T08:00:00.000Z"
    for seq in range(1, 100_001):
        digest = chain.row_hash(seq, f"ev{seq}", at, record_json, prev)
        rows.append((seq, f"ev{seq}", at, record_json, prev, digest))
        if chain.is_checkpoint_due(seq):
            checkpoints.append(SIGN(chain.checkpoint_claims(seq, digest, kind="checkpoint", at=at)))
        prev = digest
    head = SIGN(chain.checkpoint_claims(100_000, prev, kind="head", at=at))
    started = time.perf_counter()
    result = chain.verify_rows(rows, checkpoints, head, verify=VERIFY)
    elapsed = time.perf_counter() - started
    print(f"\nverify_rows: 100,000 rows ({len(record_json)} B records), 1,000 checkpoints in {elapsed:.3f} s")
    assert result.ok


def test_verify_rows_parses_no_record() -> None:
    """Verification hashes stored bytes; a record column that is not JSON still verifies."""
    prev = GENESIS
    rows = []
    for seq in (1, 2):
        digest = chain.row_hash(seq, f"ev{seq}", "2026-03-02T08:00:00.000Z", "not json", prev)
        rows.append((seq, f"ev{seq}", "2026-03-02T08:00:00.000Z", "not json", prev, digest))
        prev = digest
    head = SIGN(chain.checkpoint_claims(2, prev, kind="head", at="2026-03-02T08:00:00.000Z"))
    assert chain.verify_rows(rows, [], head, verify=VERIFY).ok
