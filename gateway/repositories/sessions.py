"""Web sessions ended by logging out, kept until they would have expired anyway.

On the session of the caller's unit of work; the check on every page request is
``Lookups.session_ended``, one primary-key read on a bare read-only connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from adapters.store.models import EndedSession

# read on every page request: built once
_ENDED = select(EndedSession.sid).where(EndedSession.sid == bindparam("sid"))


class EndedSessions:
    def __init__(self, session: Session) -> None:
        self.session = session

    def is_ended(self, sid: str) -> bool:
        return self.session.execute(_ENDED, {"sid": sid}).first() is not None

    def end(self, sid: str, expires_at: datetime) -> None:
        """Record ``sid`` as ended (again: the later expiry wins)."""
        self.session.merge(EndedSession(sid=sid, expires_at=expires_at))

    def forget_expired(self, now: datetime) -> None:
        self.session.execute(delete(EndedSession).where(EndedSession.expires_at < now))


class Lookups:
    """Reads on the hot path, without a unit of work (``node.uow.lookups``): an ORM session's
    bookkeeping costs more than these one-row queries."""

    def __init__(self, factory: Any) -> None:
        self._read = factory.read

    def session_ended(self, sid: str) -> bool:
        return bool(self._read(_ENDED, {"sid": sid}))
