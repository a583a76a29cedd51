"""The audit log in the store: append inside the caller's transaction, verify, search.

``append`` is called by every use case inside its own unit of work, so the audit entry
commits together with what it records, or neither does (no audit, no disclosure). Writers
serialise on the single ``audit_head`` row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
transactions begin IMMEDIATE), which keeps the hash chain linear under several workers.
The head is re-signed on every append and a checkpoint is signed every
``chain.CHECKPOINT_EVERY`` entries, so a cut tail or a rewrite without the key shows.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from adapters.store.models import AuditCheckpoint, AuditEntry, AuditHead
from gateway.audit import chain, events
from gateway.audit.events import AuditRecord
from gateway.audit.signer import make_signer, make_verifier


@dataclass(frozen=True)
class Actor:
    """Who acts, for the NEN 7513 line: practitioner, role, client (on whose behalf), where."""

    actor_id: str
    role: str
    client_id: str = ""
    access_point: str = ""


SYSTEM = Actor(actor_id="system:cli", role="admin", client_id="", access_point="cli")


def fields(actor: Actor, **extra: Any) -> dict[str, Any]:
    """The AuditRecord fields that name the actor, plus ``extra``."""
    return {"actor_id": actor.actor_id, "actor_role": actor.role, "on_behalf_of": actor.client_id,
            "access_point": actor.access_point, **extra}


_SIGNERS: dict[str, Any] = {}  # kid -> sign(claims); one per key this process has signed with


def _signer(node: Any) -> Any:
    """The head and checkpoint signer for the node's active key (follows a rotation)."""
    kid, _alg, key = node.keys.active
    sign = _SIGNERS.get(kid)
    if sign is None:
        sign = _SIGNERS[kid] = make_signer(key)
    return sign


def verifier(node: Any) -> Any:
    """Check checkpoints with every own key ever used (retired ones included)."""
    return make_verifier(node.keys.verification_set())


def init_chain(node: Any) -> None:
    """Create the head row of an empty log (``gateway init``)."""
    with node.uow() as uow:
        if uow.session.get(AuditHead, 1) is None:
            uow.session.add(AuditHead(id=1, seq=0, hash=chain.GENESIS, signed=""))
        uow.commit()


def append(session: Any, node: Any, record: AuditRecord) -> int:
    """Append ``record`` to the chain in the caller's transaction; return its seq."""
    if record.actor_org == "":
        record = dataclasses.replace(record, actor_org=node.org_id)
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    recorded_at = chain.format_recorded_at(node.clock())
    entry = chain.new_entry(prev_seq=head.seq, prev_hash=head.hash, event_id=uuid.uuid4().hex,
                            recorded_at=recorded_at, record=record)
    canonical = chain.record_to_canonical(record)
    session.add(AuditEntry(seq=entry.seq, event_id=entry.event_id, recorded_at=recorded_at,
                           action=record.action, outcome=record.outcome, subject=record.subject,
                           actor_id=record.actor_id, peer_org=record.peer_org, purpose=record.purpose,
                           exchange_id=record.exchange_id, consent_id=record.consent_id,
                           flagged=record.flagged, record_json=canonical, prev_hash=entry.prev_hash,
                           hash=entry.hash))
    sign = _signer(node)
    head.seq, head.hash = entry.seq, entry.hash
    head.signed = chain.sign_checkpoint(entry, kind=chain.KIND_HEAD, at=recorded_at, sign=sign)
    if chain.is_checkpoint_due(entry.seq):
        session.add(AuditCheckpoint(seq=entry.seq, kind=chain.KIND_CHECKPOINT, hash=entry.hash,
                                    signed=chain.sign_checkpoint(entry, kind=chain.KIND_CHECKPOINT,
                                                                 at=recorded_at, sign=sign)))
    session.flush()
    return entry.seq


def record_admin(node: Any, action: str, *, actor: Actor = SYSTEM, **extra: Any) -> int:
    """Audit an administrative act (partner added, client added, key rotated) on its own."""
    with node.uow() as uow:
        seq = append(uow.session, node, AuditRecord(action=action, outcome=events.SUCCESS,
                                                    **fields(actor, **extra)))
        uow.commit()
    return seq


def rows(session: Any, batch: int = 10_000) -> Iterator[tuple[int, str, str, str, str, str]]:
    """Stream every entry in seq order as the tuples ``chain.verify_rows`` reads.

    Raw driver rows, fetched in large batches: building ORM rows cost most of the time of
    verifying a long log.
    """
    result = session.connection().execution_options(stream_results=True).exec_driver_sql(
        "SELECT seq, event_id, recorded_at, record_json, prev_hash, hash FROM audit_entries ORDER BY seq")
    try:
        while chunk := result.fetchmany(batch):
            yield from (tuple(r) for r in chunk)  # type: ignore[misc]
    finally:
        result.close()  # verification may stop at the first bad entry: free the server cursor


def verify(node: Any) -> chain.VerifyResult:
    """Verify the whole log against its signed head and checkpoints."""
    with node.uow() as uow:
        s = uow.session
        if s.get_bind().dialect.name == "postgresql":
            # one snapshot for head, checkpoints and rows: a concurrent append must not
            # look like rows written after the signed head
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        head = s.get(AuditHead, 1)
        checkpoints = [c for c in s.scalars(select(AuditCheckpoint.signed).order_by(AuditCheckpoint.seq))]
        stream = rows(s)
        try:
            result = chain.verify_rows(stream, checkpoints, (head.signed or None) if head else None,
                                       verify=verifier(node))
        finally:
            stream.close()
        bad = _first_column_mismatch(s)
    if bad is not None and (result.ok or result.first_bad_seq is None or bad < result.first_bad_seq):
        return chain.VerifyResult(ok=False, checked=result.checked, first_bad_seq=bad,
                                  reason="edited: search columns differ from the hashed record")
    return result


#: the search columns, each a copy of a field of the hashed record_json
_COLUMNS = ("action", "outcome", "subject", "actor_id", "peer_org", "purpose", "exchange_id", "consent_id")


def _first_column_mismatch(session: Any) -> int | None:
    """Find the first row whose search columns were edited (they are not in the hash).

    The database extracts the fields from the canonical JSON itself, so a million rows
    cost one indexed scan, not a million JSON parses in Python.
    """
    if session.get_bind().dialect.name == "postgresql":
        field = "(record_json::json->>'{0}')"
        flag = "((record_json::json->>'flagged')::boolean)"
    else:
        field = "json_extract(record_json, '$.{0}')"
        flag = "(json_extract(record_json, '$.flagged') = 1)"
    checks = [f"{c} IS DISTINCT FROM {field.format(c)}" if session.get_bind().dialect.name == "postgresql"
              else f"{c} IS NOT {field.format(c)}" for c in _COLUMNS]
    checks.append(f"flagged IS DISTINCT FROM {flag}" if session.get_bind().dialect.name == "postgresql"
                  else f"flagged IS NOT {flag}")
    from sqlalchemy import text

    sql = f"SELECT min(seq) FROM audit_entries WHERE {' OR '.join(checks)}"  # noqa: S608 - fixed names
    value = session.execute(text(sql)).scalar()
    return int(value) if value is not None else None


def entries(session: Any, *, subject: str | None = None, since: str | None = None, until: str | None = None,
            agent: str | None = None, purpose: str | None = None, outcome: str | None = None,
            action: str | None = None, limit: int = 500, offset: int = 0) -> list[AuditEntry]:
    """Search entries by the NEN 7513 columns, newest first."""
    q = select(AuditEntry)
    if subject:
        q = q.where(AuditEntry.subject == subject)
    if since:
        q = q.where(AuditEntry.recorded_at >= since)
    if until:
        q = q.where(AuditEntry.recorded_at < until)
    if agent:
        q = q.where(AuditEntry.actor_id == agent)
    if purpose:
        q = q.where(AuditEntry.purpose == purpose)
    if outcome:
        q = q.where(AuditEntry.outcome == outcome)
    if action:
        q = q.where(AuditEntry.action == action)
    return list(session.scalars(q.order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)))


def stored(entry: AuditEntry) -> chain.StoredEntry:
    return chain.StoredEntry(entry.seq, entry.event_id, entry.recorded_at,
                             chain.record_from_json(entry.record_json), entry.prev_hash, entry.hash)
