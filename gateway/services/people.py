"""Names of this node's own professionals, as their IdP gave them at their last login (issue 20.8).

The audit log names a professional by id (``uzi:…``); a person reading their AVG report, or
a privacy officer, reads a name where the node knows one. Professionals of partner nodes
stay numbers: this node never learns their names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.store.models import Professional

if TYPE_CHECKING:  # the composition root imports the use cases
    from gateway.node import Node


def remember(node: Node, actor_id: str, name: str) -> None:
    """Keep the name the IdP gave ``actor_id`` at this login (the latest login wins)."""
    with node.uow() as uow:
        row = uow.professionals.get(actor_id[:128])
        if row is None:
            uow.professionals.add(Professional(actor_id=actor_id[:128], name=name[:200], seen_at=node.clock()))
        else:
            row.name, row.seen_at = name[:200], node.clock()
        uow.commit()


def names(node: Node, actor_ids: set[str]) -> dict[str, str]:
    """actor id -> name, for the professionals of this node among ``actor_ids``."""
    if not actor_ids:
        return {}
    with node.uow(read_only=True) as uow:
        return dict(uow.professionals.names(actor_ids))
