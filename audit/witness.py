"""Witnessed audit heads: partners hold this node's signed heads, so a cut tail shows.

SECURITY.md, "Witnesses beat a lone chain": someone with database access who deletes the
newest entries and restores an older signed head leaves a log that verifies on its own
(every signature is genuine). Each node therefore hands its latest signed head (the
``kind`` "head" checkpoint of ``audit.chain``) to every partner it exchanges with,
and each keeps the highest head it has seen of each partner. ``gateway audit verify
--witnesses`` then asks the partners for what they hold and checks that the local chain
still reaches each of those heads.

Pure rules, no I/O:

- ``judge`` decides what a witness does with a head it receives. A higher seq replaces
  the held head. A lower one is ignored (a slower request of the same node), unless it was
  signed later than the held head by more than ``SKEW_SECONDS``: an honest log
  never signs a lower position after a higher one, so the log went back (a cut, then
  appends again). The same seq with another hash is a fork. Both are a **conflict**: the
  witness keeps the held head from then on, however high later heads go, so the evidence
  survives the node's new appends.
- ``reaches`` tells whether the local log still holds a witnessed head.

What it cannot do: a witness that hears from the node only after its log has grown past
the held seq again sees an ordinary higher head, and its evidence is gone. The partners
that exchange most often hold the best evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit.chain import KIND_HEAD, Checkpoint, InvalidCheckpoint, read_checkpoint

HEADER = "X-Audit-Head"
"""The HTTP header that carries a node's latest signed head, on requests and responses."""

SKEW_SECONDS = 2
"""How much later a lower head may be signed before it counts as a log that went back: the
clock difference between the hosts of one node's workers (NTP keeps them within
milliseconds). Erring low is cheap: a false conflict only freezes a head the honest log
does hold, so ``verify --witnesses`` still passes; it just stops that witness advancing."""

TAKE, IGNORE, CONFLICT = "take", "ignore", "conflict"


@dataclass(frozen=True, slots=True)
class Held:
    """What a witness holds of one partner: its highest head, and whether it is frozen."""

    seq: int
    hash: str
    at: str
    conflict: bool = False


def read_head(jws: str, *, verify: Any) -> Checkpoint:
    """Verify a received head with the sender's keys (``verify``) and check it is a head.

    Raises whatever ``verify`` raises, or InvalidCheckpoint.
    """
    head = read_checkpoint(jws, verify=verify)
    if head.kind != KIND_HEAD:
        raise InvalidCheckpoint(f"expected a head, got {head.kind!r}")
    return head


def moment(at: str) -> datetime:
    """The time of a checkpoint's ``at`` (raises ValueError for one that is not a time)."""
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def judge(held: Held | None, incoming: Checkpoint, *, skew_seconds: int = SKEW_SECONDS) -> str:
    """What a witness does with ``incoming``: TAKE it, IGNORE it, or note a CONFLICT."""
    if held is None:
        return TAKE
    if held.conflict:
        return IGNORE  # the evidence stays as it was when the log went back
    if incoming.seq == held.seq:
        return IGNORE if incoming.hash == held.hash else CONFLICT
    if incoming.seq > held.seq:
        return TAKE
    later = (moment(incoming.at) - moment(held.at)).total_seconds()
    return CONFLICT if later > skew_seconds else IGNORE


@dataclass(frozen=True, slots=True)
class Reach:
    """The verdict on one witnessed head: ``ok``, and a reason starting with a stable word
    (reached, pruned, truncated, rewritten, forged)."""

    ok: bool
    reason: str


def reaches(head: Checkpoint, *, local_hash: str | None, last_seq: int, prune_seq: int) -> Reach:
    """Does the local log still reach ``head``?

    ``local_hash`` is the stored hash of the local entry at ``head.seq`` (None when there
    is none), ``last_seq`` the local log's last seq, ``prune_seq`` the seq of its signed
    prune anchor (0 without one): entries up to it were removed after their retention.
    """
    if local_hash is not None:
        if local_hash == head.hash:
            return Reach(True, f"reached: entry {head.seq} has the witnessed hash")
        return Reach(
            False,
            (
                f"rewritten: the witnessed head signs hash {head.hash[:12]}… for entry "
                f"{head.seq}, the log has {local_hash[:12]}…"
            ),
        )
    if head.seq <= prune_seq:
        return Reach(True, f"pruned: entry {head.seq} lies before the prune anchor at {prune_seq}")
    if head.seq > last_seq:
        return Reach(
            False,
            (
                f"truncated: the witnessed head is at entry {head.seq}, the log ends at "
                f"{last_seq}; entries from {last_seq + 1} on were cut"
            ),
        )
    return Reach(False, f"truncated: entry {head.seq} of the witnessed head is missing")
