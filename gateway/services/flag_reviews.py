"""Flags a privacy officer has handled (issue 20.12): who, when, with an optional note.

Marking a flag handled is itself audited (``flag-handled``), in the same unit of work as
the mark, naming the flagged entry by its event id. A flag is handled once; the entry
itself never changes (it is part of the hash chain).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from adapters.store.models import AuditEntry, FlagReview
from audit import events
from contract.errors import Conflict, NotFound
from gateway.repositories import audit_log


@dataclass(frozen=True)
class Handled:
    handled_by: str
    handled_at: datetime
    note: str


def mark_handled(node: Any, event_id: str, actor: audit_log.Actor, note: str) -> None:
    """Mark the flagged entry ``event_id`` handled; NotFound for no such entry, Conflict twice."""
    try:
        with node.uow() as uow:
            s = uow.session
            entry = s.scalar(select(AuditEntry).where(AuditEntry.event_id == event_id))
            if entry is None:
                raise NotFound("Deze logregel is hier niet bekend.")
            s.add(FlagReview(event_id=event_id, handled_by=actor.actor_id[:128], handled_at=node.clock(),
                             note=note[:500]))
            s.flush()
            audit_log.append(s, node, events.AuditRecord(
                action=events.FLAG_HANDLED, outcome=events.SUCCESS, subject=entry.subject,
                **audit_log.fields(actor), detail={"event_id": event_id, "seq": entry.seq}))
            uow.commit()
    except IntegrityError:
        raise Conflict("Dit signaal is al afgehandeld.") from None


def handled(node: Any, event_ids: list[str]) -> dict[str, Handled]:
    if not event_ids:
        return {}
    with node.uow(read_only=True) as uow:
        rows = uow.session.scalars(select(FlagReview).where(FlagReview.event_id.in_(event_ids)))
        return {r.event_id: Handled(r.handled_by, r.handled_at, r.note) for r in rows}


def entry(node: Any, event_id: str, actor: audit_log.Actor) -> Any:
    """One log entry for its detail page; reading it is logged. Raise NotFound otherwise."""
    with node.uow() as uow:
        row = uow.session.scalar(select(AuditEntry).where(AuditEntry.event_id == event_id))
        if row is None:
            raise NotFound("Deze logregel is hier niet bekend.")
        found = audit_log.stored(row)
        audit_log.append(uow.session, node, events.AuditRecord(
            action=events.AUDIT_READ, outcome=events.SUCCESS, count=1, subject=found.record.subject,
            **audit_log.fields(actor), detail={"view": "entry", "event_id": event_id}))
        uow.commit()
    return found
