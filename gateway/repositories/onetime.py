"""Keys claimed once (one-time form tokens, API idempotency keys) and forms kept over a
login, all rows of ``once_keys`` (unique on scope and key).

On the session of the caller's unit of work; nothing here commits. A second ``add`` of the
same (scope, key) fails at commit with ``Duplicate``: that failure *is* the repeat.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from adapters.store.models import OnceKey


class OnceKeys:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, scope: str, key: str) -> OnceKey | None:
        return self.session.scalar(select(OnceKey).where(OnceKey.scope == scope, OnceKey.key == key))

    def add(self, row: OnceKey) -> None:
        self.session.add(row)

    def finish(self, scope: str, key: str, *, status: int, location: str, body: str) -> None:
        """Record what the request that claimed ``key`` led to."""
        self.session.execute(
            update(OnceKey)
            .where(OnceKey.scope == scope, OnceKey.key == key)
            .values(status=status, location=location, body=body)
        )

    def release(self, scope: str, key: str, *, status: int) -> None:
        """Forget the claim of ``key`` if it still has ``status`` (a request that did nothing)."""
        self.session.execute(
            delete(OnceKey).where(OnceKey.scope == scope, OnceKey.key == key, OnceKey.status == status)
        )

    def delete(self, row: OnceKey) -> None:
        self.session.delete(row)

    def forget_before(self, moment: datetime, *, scope: str | None = None) -> None:
        """Delete the keys created before ``moment`` (in ``scope`` only, when given)."""
        stmt = delete(OnceKey).where(OnceKey.created_at < moment)
        if scope is not None:
            stmt = stmt.where(OnceKey.scope == scope)
        self.session.execute(stmt)
