"""Carry and keep witnessed audit heads (issue 13, item 12): the store side of
``gateway.audit.witness``.

- **Sending.** Every call to a partner (``gateway.peer``) and every answer of the partner
  API to a trusted partner carries this node's latest committed signed head in header
  ``X-Audit-Head``. Only committed heads are sent (read from the store), never one a
  transaction might still roll back, and only to trusted partners: a head tells how busy a
  node is.
- **Receiving.** A head from a partner is verified against that partner's pinned keys and
  must be of kind "head"; a head that does not verify is ignored (and logged), never a
  reason to refuse an exchange, so partners that send none, or an older version, keep
  working. A verified head waits in the node's ``WitnessBook`` and is written with the next
  audit append of this process (``audit_log.append`` calls ``flush``), in that append's
  transaction and behind its head lock: keeping witnesses costs no commit (no fsync) of its
  own on the hot path. A request that left heads waiting without appending writes them
  itself once its response has gone (``flush_alone``).
- A flush that fails (a store problem) rolls back to a savepoint and loses only the heads
  it held: the exchange it rides on is never refused for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from adapters.store.models import AuditHead, WitnessedHead
from gateway.audit import witness
from gateway.audit.chain import Checkpoint
from gateway.audit.signer import make_verifier

log = logging.getLogger("gateway.witnesses")

HEADER = witness.HEADER
MAX_PENDING = 8  # heads kept per partner between two appends (the highest and a few stragglers)


@dataclass(frozen=True, slots=True)
class _Received:
    head: Checkpoint
    signed: str
    at: datetime


class WitnessBook:
    """Verified heads received from partners, waiting for the next audit append (per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, list[_Received]] = {}
        self._last: dict[str, tuple[int, str]] = {}

    def add(self, org_id: str, head: Checkpoint, signed: str, now: datetime) -> None:
        with self._lock:
            if self._last.get(org_id) == (head.seq, head.hash):
                return  # the same head again: nothing new to witness
            self._last[org_id] = (head.seq, head.hash)
            items = self._pending.setdefault(org_id, [])
            items.append(_Received(head, signed, now))
            del items[:-MAX_PENDING]

    def take(self) -> dict[str, list[_Received]]:
        with self._lock:
            taken, self._pending = self._pending, {}
            return taken

    def forget(self, org_ids: Iterable[str]) -> None:
        """Heads that were taken but not written may come again (a rolled-back flush)."""
        with self._lock:
            for org_id in org_ids:
                self._last.pop(org_id, None)

    @property
    def pending(self) -> bool:
        return bool(self._pending)


# --- sending -------------------------------------------------------------------------------

_OWN_HEAD = select(AuditHead.signed).where(AuditHead.id == 1)


def own_head(node: Any) -> str | None:
    """This node's latest committed signed head, or None for a log that is still empty."""
    rows = node.uow.read(_OWN_HEAD)
    return rows[0][0] if rows and rows[0][0] else None


def outgoing(node: Any) -> dict[str, str]:
    """The header to add to a request or response for a partner ({} when there is no head)."""
    try:
        head = own_head(node)
    except Exception as exc:  # noqa: BLE001 - a head we cannot read is simply not sent
        log.warning("audit head not sent: %s", exc.__class__.__name__)
        return {}
    return {HEADER: head} if head else {}


# --- receiving -----------------------------------------------------------------------------


_VERIFIERS: dict[int, tuple[Any, Any]] = {}  # id(KeySet) -> (the KeySet, kept alive; its verifier)


def _verifier(keys: Any) -> Any:
    """One verifier per pinned key set: ``PartnerDirectory`` hands out the same KeySet object
    for the same pinned keys (a KeySet is not hashable, so it is cached by identity)."""
    cached = _VERIFIERS.get(id(keys))
    if cached is not None and cached[0] is keys:
        return cached[1]
    if len(_VERIFIERS) >= 256:
        _VERIFIERS.clear()
    verify = make_verifier(keys)
    _VERIFIERS[id(keys)] = (keys, verify)
    return verify


def receive(node: Any, org_id: str, signed: str | None) -> bool:
    """Verify a head ``org_id`` sent and keep it for the next flush; False if it was ignored."""
    book = getattr(node, "witness", None)
    if not signed or book is None:
        return False
    try:
        from consent import jose

        kid = jose.peek_header(signed).get("kid")
        keys = node.partners.keys_for(org_id, kid if isinstance(kid, str) else None)
        if keys is None:
            return False
        head = witness.read_head(signed, verify=_verifier(keys))
    except Exception as exc:  # noqa: BLE001 - a bad head is evidence of nothing; the exchange goes on
        log.warning("ignored an audit head from %s: %s", org_id, exc.__class__.__name__)
        return False
    book.add(org_id, head, signed, node.clock())
    return True


# --- keeping -------------------------------------------------------------------------------

_HELD = select(WitnessedHead.seq, WitnessedHead.hash, WitnessedHead.at, WitnessedHead.conflict)
_TABLE = WitnessedHead.__table__
_INSERT = insert(_TABLE)
_HEAD_LOCK = select(AuditHead.seq).where(AuditHead.id == 1).with_for_update()


def flush(session: Any, node: Any) -> None:
    """Write the waiting heads in the caller's transaction (inside ``audit_log.append``,
    after it took the audit head lock, so witness writes serialise with the chain)."""
    book = getattr(node, "witness", None)
    if book is None or not book.pending:
        return
    taken = book.take()
    try:
        with session.begin_nested():
            for org_id, items in taken.items():
                _keep(session, org_id, items)
    except SQLAlchemyError as exc:
        book.forget(taken)
        log.warning("witnessed audit heads not kept: %s", exc.__class__.__name__)


def _keep(session: Any, org_id: str, items: list[_Received]) -> None:
    row = session.execute(_HELD.where(WitnessedHead.org_id == org_id)).first()
    held = witness.Held(row[0], row[1], row[2], bool(row[3])) if row else None
    for item in items:
        verdict = witness.judge(held, item.head)
        if verdict == witness.TAKE:
            values = {"seq": item.head.seq, "hash": item.head.hash, "at": item.head.at, "signed": item.signed,
                      "seen_at": item.at}
            if held is None:
                session.execute(_INSERT, {"org_id": org_id, "conflict": "", **values})
            else:
                session.execute(update(_TABLE).where(_TABLE.c.org_id == org_id).values(**values))
            held = witness.Held(item.head.seq, item.head.hash, item.head.at)
        elif verdict == witness.CONFLICT and held is not None:
            log.warning("the audit log of %s went back: it signed entry %s after entry %s; its held head "
                        "is kept as evidence", org_id, item.head.seq, held.seq)
            session.execute(update(_TABLE).where(_TABLE.c.org_id == org_id).values(
                conflict=item.signed, conflict_at=item.at))
            held = witness.Held(held.seq, held.hash, held.at, conflict=True)


def flush_alone(node: Any) -> None:
    """Write waiting heads in a unit of their own (a request that appended nothing)."""
    book = getattr(node, "witness", None)
    if book is None or not book.pending:
        return
    try:
        with node.uow() as uow:
            uow.session.execute(_HEAD_LOCK)
            flush(uow.session, node)
            uow.commit()
    except Exception as exc:  # noqa: BLE001 - after the response: nothing to refuse any more
        log.warning("witnessed audit heads not kept: %s", exc.__class__.__name__)


@dataclass(frozen=True, slots=True)
class HeldHead:
    """What this node holds of a partner's log: the signed head, and a contradicting one."""

    signed: str
    conflict: str


def held_of(node: Any, org_id: str) -> HeldHead | None:
    """The highest head of ``org_id`` this node has witnessed (heads still waiting count)."""
    flush_alone(node)
    rows = node.uow.read(select(WitnessedHead.signed, WitnessedHead.conflict)
                         .where(WitnessedHead.org_id == org_id))
    return HeldHead(rows[0][0], rows[0][1] or "") if rows else None
