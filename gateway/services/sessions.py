"""Web sessions ended by logging out (issue 7's open point: a copied cookie outlived logout).

The session itself stays in Flask's signed cookie. Logging out records the session's random
id until the session would have expired anyway; a cookie carrying a recorded id is refused.
One primary-key read per page request, on a read-only connection (``node.uow.lookups``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the composition root imports the use cases
    from gateway.node import Node


def is_ended(node: Node, sid: str) -> bool:
    """Whether the session ``sid`` was ended by logging out (its cookie is refused)."""
    return bool(node.uow.lookups.session_ended(sid))


def end(node: Node, sid: str, expires_at: datetime) -> None:
    """Refuse ``sid`` from now until ``expires_at``; forget sessions that expired meanwhile."""
    with node.uow() as uow:
        uow.ended_sessions.forget_expired(node.clock())
        uow.ended_sessions.end(sid, expires_at)
        uow.commit()
