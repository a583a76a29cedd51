"""Consent rows read for the pages and the AVG report (no writes, no decisions).

The consent registry's own repository (``gateway.repositories.consents``, issue 14) holds
what its use cases write; these are the two reads the register pages and the report make,
kept apart so the two can be joined without either waiting for the other.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.store.models import ConsentRow


class ConsentReads:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, cid: str) -> ConsentRow | None:
        return self.session.get(ConsentRow, cid)

    def of_subject(self, subject_id: str) -> list[ConsentRow]:
        """Every consent and objection recorded for the person, newest first."""
        return list(
            self.session.scalars(
                select(ConsentRow)
                .where(ConsentRow.subject_id == subject_id)
                .order_by(ConsentRow.created_at.desc(), ConsentRow.id)
            )
        )
