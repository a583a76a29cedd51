"""Carry and keep witnessed audit heads (issue 13, item 12): the store side of
``audit.witness``.

- **Sending.** Every call to a partner (``gateway.trust.peer``) and every answer of the partner
  API to a trusted partner carries this node's latest committed signed head in header
  ``X-Audit-Head``: the head this process last committed (``audit_log.append`` notes it,
  and the session's ``after_commit`` makes it the one sent), or the store's head before
  this process appended anything. Never a head a transaction might still roll back, and
  only to trusted partners: a head tells how busy a node is.
- **Receiving.** A head from a partner is kept with that partner's pinned keys, read at
  once (outside any transaction: a key re-fetch may write). It waits in the node's
  ``WitnessBook`` and is judged with the next audit append of this process
  (``audit_log.append`` calls ``flush``), in that append's transaction and behind its head
  lock: keeping witnesses costs no commit (no fsync) of its own on the hot path. Only a head
  that would be written is verified (the highest new one, or one that contradicts the held
  head), against the partner's keys and as kind "head"; one that does not verify is
  dropped and logged, never a reason to refuse an exchange, so partners that send none,
  or an older version, keep working. A request that left heads waiting without appending
  writes them itself once its response has gone (``flush_alone``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import KeySet
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from adapters.store.models import AuditHead, WitnessedHead
from audit import signer, witness
from audit.chain import KIND_HEAD, Checkpoint, InvalidCheckpoint
from audit.signer import make_verifier
from contract import jws
from gateway.repositories.ports import NodeParts
from gateway.repositories.witness_book import Received, WitnessBook

log = logging.getLogger("gateway.witnesses")

HEADER = witness.HEADER
MAX_HEAD_BYTES = 4096


# --- sending -------------------------------------------------------------------------------

_OWN_HEAD = select(AuditHead.signed).where(AuditHead.id == 1)
_COMMITTING = "gateway_audit_head"  # session.info key: the head this transaction signed


def own_head(node: NodeParts) -> str | None:
    """This node's latest committed signed head in the store, or None while the log is empty."""
    rows = node.uow.read(_OWN_HEAD)
    return rows[0][0] if rows and rows[0][0] else None


def outgoing(node: NodeParts) -> dict[str, str]:
    """The header to add to a request or response for a partner ({} when there is no head)."""
    book = getattr(node, "witness", None)
    if book is not None and book.own is not None:
        return {HEADER: book.own[1]}
    try:
        head = own_head(node)
    except Exception as exc:  # noqa: BLE001 - a head we cannot read is simply not sent
        log.warning("audit head not sent: %s", exc.__class__.__name__)
        return {}
    return {HEADER: head} if head else {}


def signing(session: Session, seq: int, signed: str) -> None:
    """Note, in the appending transaction, the head it signed (``audit_log.append``)."""
    session.info[_COMMITTING] = (seq, signed)


def watch_commits(node: NodeParts, sessions: sessionmaker[Session]) -> None:
    """Make a committed head the one this process sends (never one that rolled back)."""

    @event.listens_for(sessions, "after_commit")
    def _committed(session: Session) -> None:
        head = session.info.pop(_COMMITTING, None)
        if head is not None and node.witness is not None:
            node.witness.committed(*head)

    @event.listens_for(sessions, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop(_COMMITTING, None)


# --- receiving -----------------------------------------------------------------------------


def _claims(signed: str) -> Checkpoint:
    """What a head claims, read without verifying (only to choose what to verify).

    The JWS kernel parses it as a checkpoint (shape, header, I-JSON claims), so a head
    that is not even a checkpoint JWS is dropped here; its signature is checked at flush.
    """
    if not isinstance(signed, str) or len(signed) > MAX_HEAD_BYTES:
        raise InvalidCheckpoint("not a compact JWS")
    claims = jws.json_object(jws.parse(signed, signer.RULES).payload(), InvalidCheckpoint, "inhoud")
    if claims.get("kind") != KIND_HEAD:
        raise InvalidCheckpoint("not a head")
    seq, digest, at = claims.get("seq"), claims.get("hash"), claims.get("at")
    if type(seq) is not int or not isinstance(digest, str) or not isinstance(at, str):
        raise InvalidCheckpoint("malformed head claims")
    witness.moment(at)  # an unreadable time fails here
    return Checkpoint(seq, digest, at, KIND_HEAD)


def receive(node: NodeParts, org_id: str, signed: str | None) -> bool:
    """Keep a head ``org_id`` sent, with its pinned keys, for the next flush; False if dropped."""
    book = getattr(node, "witness", None)
    if not signed or book is None:
        return False
    try:
        claimed = _claims(signed)
        # Only the keys already pinned: a head never triggers a JWKS re-fetch of its own. The
        # request it rides on does that once if it must; a second claim of the fetch slot would
        # wait out the whole fetch window for a kid the list may not name (a key rotation).
        keys = node.partners.keys_for(org_id)
    except Exception as exc:  # noqa: BLE001 - a bad head is evidence of nothing; the exchange goes on
        log.warning("ignored an audit head from %s: %s", org_id, exc.__class__.__name__)
        return False
    if keys is None:
        return False
    book.add(org_id, Received(claimed, signed, keys, node.clock()))
    return True


#: checks a signed head, returning its claims (``audit.signer.make_verifier``)
Verify = Callable[[str], dict[str, Any]]

_VERIFIERS: dict[int, tuple[KeySet, Verify]] = {}  # id(KeySet) -> (the KeySet, kept alive; its verifier)


def _verifier(keys: KeySet) -> Verify:
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


def _verified(org_id: str, item: Received) -> bool:
    try:
        return witness.read_head(item.signed, verify=_verifier(item.keys)) == item.claimed
    except Exception as exc:  # noqa: BLE001 - the verifier raises its own error class
        log.warning("ignored an audit head from %s: %s", org_id, exc.__class__.__name__)
        return False


# --- keeping -------------------------------------------------------------------------------

_TABLE = WitnessedHead.__table__
_HELD = select(_TABLE.c.seq, _TABLE.c.hash, _TABLE.c.at, _TABLE.c.conflict).where(_TABLE.c.org_id == bindparam("org"))
_INSERT = insert(_TABLE)
_MOVE = (
    update(_TABLE)
    .where(_TABLE.c.org_id == bindparam("org"))
    .values(
        seq=bindparam("new_seq"),
        hash=bindparam("new_hash"),
        at=bindparam("new_at"),
        signed=bindparam("new_signed"),
        seen_at=bindparam("new_seen"),
    )
)
_FREEZE = (
    update(_TABLE)
    .where(_TABLE.c.org_id == bindparam("org"))
    .values(conflict=bindparam("new_conflict"), conflict_at=bindparam("new_seen"))
)
_HEAD_LOCK = select(AuditHead.seq).where(AuditHead.id == 1).with_for_update()


def flush(session: Session, book: WitnessBook) -> None:
    """Judge and write the heads waiting in ``book`` in the caller's transaction (inside
    ``audit_log.append``, after it took the audit head lock, so witness writes serialise
    with the chain). No I/O beyond this store: keys were read when the heads arrived."""
    if not book.pending:
        return
    for org_id, items in book.take().items():
        _keep(session, org_id, items)


def _keep(session: Session, org_id: str, items: list[Received]) -> None:
    conn = session.connection()  # Core statements: the session's connection, not its ORM machinery
    row = conn.execute(_HELD, {"org": org_id}).first()
    held = witness.Held(row[0], row[1], row[2], bool(row[3])) if row else None
    # the highest first: one write moves the held head, stragglers below it are judged after
    for item in sorted(items, key=lambda i: -i.claimed.seq):
        verdict = witness.judge(held, item.claimed)
        if verdict == witness.IGNORE or not _verified(org_id, item):
            continue
        if verdict == witness.TAKE:
            values = {
                "new_seq": item.claimed.seq,
                "new_hash": item.claimed.hash,
                "new_at": item.claimed.at,
                "new_signed": item.signed,
                "new_seen": item.at,
            }
            if held is None:
                conn.execute(
                    _INSERT,
                    {
                        "org_id": org_id,
                        "seq": item.claimed.seq,
                        "hash": item.claimed.hash,
                        "at": item.claimed.at,
                        "signed": item.signed,
                        "seen_at": item.at,
                        "conflict": "",
                    },
                )
            else:
                conn.execute(_MOVE, {"org": org_id, **values})
            held = witness.Held(item.claimed.seq, item.claimed.hash, item.claimed.at)
        elif held is not None:  # CONFLICT
            log.warning(
                "the audit log of %s went back: it signed entry %s after entry %s; its held head is kept as evidence",
                org_id,
                item.claimed.seq,
                held.seq,
            )
            conn.execute(_FREEZE, {"org": org_id, "new_conflict": item.signed, "new_seen": item.at})
            held = witness.Held(held.seq, held.hash, held.at, conflict=True)


def flush_alone(node: NodeParts) -> None:
    """Write waiting heads in a unit of their own (a request that appended nothing)."""
    book = getattr(node, "witness", None)
    if book is None or not book.pending:
        return
    try:
        with node.uow() as uow:
            uow.session.execute(_HEAD_LOCK)
            flush(uow.session, book)
            uow.commit()
    except Exception as exc:  # noqa: BLE001 - after the response: nothing to refuse any more
        log.warning("witnessed audit heads not kept: %s", exc.__class__.__name__)


@dataclass(frozen=True, slots=True)
class HeldHead:
    """What this node holds of a partner's log: the signed head, and a contradicting one."""

    signed: str
    conflict: str


def held_of(node: NodeParts, org_id: str) -> HeldHead | None:
    """The highest head of ``org_id`` this node has witnessed (heads still waiting count)."""
    flush_alone(node)
    rows = node.uow.read(select(WitnessedHead.signed, WitnessedHead.conflict).where(WitnessedHead.org_id == org_id))
    return HeldHead(rows[0][0], rows[0][1] or "") if rows else None
