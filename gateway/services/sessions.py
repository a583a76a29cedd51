"""Web sessions ended by logging out (issue 7's open point: a copied cookie outlived logout).

The session itself stays in Flask's signed cookie. Logging out records the session's random
id until the session would have expired anyway; a cookie carrying a recorded id is refused.
One primary-key read per page request, on a read-only connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select

from adapters.store.models import EndedSession

_ENDED = select(EndedSession.sid).where(EndedSession.sid == bindparam("sid"))


def is_ended(node: Any, sid: str) -> bool:
    return bool(node.uow.read(_ENDED, {"sid": sid}))


def end(node: Any, sid: str, expires_at: datetime) -> None:
    """Refuse ``sid`` from now until ``expires_at``; forget sessions that expired meanwhile."""
    with node.uow() as uow:
        uow.session.execute(delete(EndedSession).where(EndedSession.expires_at < node.clock()))
        uow.session.merge(EndedSession(sid=sid, expires_at=expires_at))
        uow.commit()
