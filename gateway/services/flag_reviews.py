"""Flags a privacy officer has handled (issue 20.12): who, when, with an optional note.

Marking a flag handled is itself audited (``flag-handled``), in the same unit of work as
the mark, naming the flagged entry by its event id. A flag is handled once; the entry
itself never changes (it is part of the hash chain).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from adapters.store import Duplicate
from adapters.store.models import FlagReview
from audit import events
from contract.errors import Conflict, NotFound
from gateway.repositories import audit_log

if TYPE_CHECKING:  # the composition root imports the use cases
    from gateway.node import Node


@dataclass(frozen=True)
class Handled:
    handled_by: str
    handled_at: datetime
    note: str


def mark_handled(node: Node, event_id: str, actor: audit_log.Actor, note: str) -> None:
    """Mark the flagged entry ``event_id`` handled; NotFound for no such entry, Conflict twice."""
    try:
        with node.uow() as uow:
            entry = uow.audit.by_event_id(event_id)
            if entry is None:
                raise NotFound("Deze logregel is hier niet bekend.")
            uow.flags.add(
                FlagReview(event_id=event_id, handled_by=actor.actor_id[:128], handled_at=node.clock(), note=note[:500])
            )
            uow.audit.append(
                node,
                events.AuditRecord(
                    action=events.FLAG_HANDLED,
                    outcome=events.SUCCESS,
                    subject=entry.record.subject,
                    **audit_log.fields(actor),
                    detail={"event_id": event_id, "seq": entry.seq},
                ),
            )
            uow.commit()
    except Duplicate:
        raise Conflict("Dit signaal is al afgehandeld.") from None


def handled(node: Node, event_ids: list[str]) -> dict[str, Handled]:
    if not event_ids:
        return {}
    with node.uow(read_only=True) as uow:
        return {r.event_id: Handled(r.handled_by, r.handled_at, r.note) for r in uow.flags.of(event_ids).values()}


def entry(node: Node, event_id: str, actor: audit_log.Actor) -> Any:
    """One log entry for its detail page; reading it is logged. Raise NotFound otherwise."""
    with node.uow() as uow:
        found = uow.audit.by_event_id(event_id)
        if found is None:
            raise NotFound("Deze logregel is hier niet bekend.")
        uow.audit.append(
            node,
            events.AuditRecord(
                action=events.AUDIT_READ,
                outcome=events.SUCCESS,
                count=1,
                subject=found.record.subject,
                **audit_log.fields(actor),
                detail={"view": "entry", "event_id": event_id},
            ),
        )
        uow.commit()
    return found
