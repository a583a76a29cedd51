"""What a witness does with a partner's signed audit head, and when a log still reaches one
(issue 13, item 12; the rules in ``audit.witness``)."""

from __future__ import annotations

import pytest
from audit_builders import INTRUDER_SIGN, SIGN, VERIFY

from audit import chain, witness
from audit.chain import Checkpoint
from audit.signer import CheckpointSignatureError
from audit.witness import CONFLICT, IGNORE, TAKE, Held

H1, H2 = "1" * 64, "2" * 64


def head(seq: int, at: str = "2026-03-02T08:00:10.000Z", digest: str = H1) -> Checkpoint:
    return Checkpoint(seq, digest, at, chain.KIND_HEAD)


HELD = Held(40, H1, "2026-03-02T08:00:10.000Z")


def test_the_first_head_of_a_partner_is_kept() -> None:
    assert witness.judge(None, head(3)) == TAKE


def test_a_higher_head_replaces_the_held_one() -> None:
    assert witness.judge(HELD, head(41, "2026-03-02T08:00:11.000Z", H2)) == TAKE


def test_a_slower_request_carrying_an_older_head_is_ignored() -> None:
    assert witness.judge(HELD, head(38, "2026-03-02T08:00:09.500Z", H2)) == IGNORE
    # signed a moment later than the held head, within the clock skew of a node on several hosts
    assert witness.judge(HELD, head(38, "2026-03-02T08:00:11.000Z", H2)) == IGNORE


def test_a_lower_head_signed_well_after_the_held_one_means_the_log_went_back() -> None:
    assert witness.judge(HELD, head(38, "2026-03-02T08:05:00.000Z", H2)) == CONFLICT


def test_the_same_position_with_another_hash_is_a_fork() -> None:
    assert witness.judge(HELD, head(40, digest=H1)) == IGNORE
    assert witness.judge(HELD, head(40, digest=H2)) == CONFLICT


def test_after_a_conflict_the_held_head_no_longer_moves() -> None:
    frozen = Held(40, H1, "2026-03-02T08:00:10.000Z", conflict=True)
    assert witness.judge(frozen, head(500, "2026-03-02T09:00:00.000Z", H2)) == IGNORE


def test_a_received_head_must_verify_and_be_a_head() -> None:
    entry = chain.StoredEntry(7, "e7", "2026-03-02T08:00:10.000Z", None, chain.GENESIS, H1)  # type: ignore[arg-type]
    signed = chain.sign_checkpoint(entry, kind=chain.KIND_HEAD, at=entry.recorded_at, sign=SIGN)
    assert witness.read_head(signed, verify=VERIFY) == Checkpoint(7, H1, entry.recorded_at, chain.KIND_HEAD)
    checkpoint = chain.sign_checkpoint(entry, kind=chain.KIND_CHECKPOINT, at=entry.recorded_at, sign=SIGN)
    with pytest.raises(chain.InvalidCheckpoint):
        witness.read_head(checkpoint, verify=VERIFY)
    forged = chain.sign_checkpoint(entry, kind=chain.KIND_HEAD, at=entry.recorded_at, sign=INTRUDER_SIGN)
    with pytest.raises(CheckpointSignatureError):
        witness.read_head(forged, verify=VERIFY)


@pytest.mark.parametrize(
    ("local_hash", "last_seq", "prune_seq", "ok", "word"),
    [
        (H1, 50, 0, True, "reached"),
        (H2, 50, 0, False, "rewritten"),  # cut, then the log grew past the witnessed position again
        (None, 30, 0, False, "truncated"),  # cut, an older head put back
        (None, 60, 45, True, "pruned"),  # removed after its retention, under a signed prune anchor
        (None, 50, 0, False, "truncated"),  # a hole where the witnessed entry was
    ],
)
def test_does_the_local_log_still_reach_a_witnessed_head(
    local_hash: str | None, last_seq: int, prune_seq: int, ok: bool, word: str
) -> None:
    reach = witness.reaches(head(40), local_hash=local_hash, last_seq=last_seq, prune_seq=prune_seq)
    assert (reach.ok, reach.reason.split(":")[0]) == (ok, word)
