"""The heads partners sent, waiting for this process's next audit append, and the head it
last committed: the in-memory side of ``gateway.repositories.witnesses`` (one book per node
and process, ``gateway.node.Node.witness``).

Apart from the store code so that the modules below ``gateway.node`` can name its type
(``gateway.repositories.ports.NodeParts``) without importing the store side back.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from joserfc.jwk import KeySet

from audit.chain import Checkpoint

MAX_PENDING = 8  # heads kept per partner between two appends (the highest and a few stragglers)


@dataclass(frozen=True, slots=True)
class Received:
    claimed: Checkpoint  # as the head claims, not yet verified
    signed: str
    keys: KeySet  # the partner's pinned keys when it arrived
    at: datetime


class WitnessBook:
    """Heads received from partners, waiting for the next audit append, and the head this
    process last committed (per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, list[Received]] = {}
        self._last: dict[str, tuple[int, str]] = {}
        self.own: tuple[int, str] | None = None  # (seq, signed head) last committed here

    def add(self, org_id: str, item: Received) -> None:
        with self._lock:
            if self._last.get(org_id) == (item.claimed.seq, item.claimed.hash):
                return  # the same head again: nothing new to witness
            self._last[org_id] = (item.claimed.seq, item.claimed.hash)
            items = self._pending.setdefault(org_id, [])
            items.append(item)
            del items[:-MAX_PENDING]

    def take(self) -> dict[str, list[Received]]:
        with self._lock:
            taken, self._pending = self._pending, {}
            return taken

    def committed(self, seq: int, signed: str) -> None:
        # The last commit wins, not the highest seq: two threads' commit callbacks may run
        # out of order (a head one append old is harmless), but a log cut back while the
        # node runs must show its new, lower heads to the witnesses, not a stale high one.
        with self._lock:
            self.own = (seq, signed)

    @property
    def pending(self) -> bool:
        return bool(self._pending)
