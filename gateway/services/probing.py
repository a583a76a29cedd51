"""Probing flags for the privacy officer (issue 13, item 14): the rules are in
``audit.probing``; this reads the refused requests from the store.

Both the flags page (``gateway.web.timeline.flags``) and ``gateway audit flags`` use it.
Reading the log is itself logged.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from audit import events, probing
from audit.chain import StoredEntry
from gateway.repositories import audit_log

if TYPE_CHECKING:  # the composition root imports the use cases
    from gateway.node import Node

SCAN_ROWS = 200_000  # refused requests read for one look at most (a month of heavy probing)


def refused_since(log: Any, since: date) -> list[StoredEntry]:
    """Every refused entry of ``log`` (a unit of work's ``audit``) from the Dutch day ``since``
    on (a day early in UTC: the Dutch day starts at 22:00 or 23:00 UTC the evening before),
    newest first."""
    utc_from = (since - timedelta(days=1)).isoformat()
    return list(log.entries(since=utc_from, outcome=events.REFUSED, limit=SCAN_ROWS))


def flags_in(node: Node, refused: list[StoredEntry], since: date) -> list[probing.Probe]:
    """The probes among ``refused`` with this node's limits."""
    a = node.config.audit
    return probing.probes(
        refused, unknown_limit=a.probe_unknown_per_day, refusal_limit=a.probe_refusals_per_day, since=since
    )


def find(node: Node, actor: audit_log.Actor, since: date) -> list[probing.Probe]:
    """Probing flags from ``since`` on; the read is audited."""
    with node.uow() as uow:
        refused = refused_since(uow.audit, since)
        found = flags_in(node, refused, since)
        uow.audit.append(
            node,
            events.AuditRecord(
                action=events.AUDIT_READ,
                outcome=events.SUCCESS,
                count=sum(p.refusals for p in found),
                **audit_log.fields(actor),
                detail={"view": "probing-flags", "since": since.isoformat()},
            ),
        )
        uow.commit()
    return found
