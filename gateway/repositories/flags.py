"""Flags a privacy officer marked handled (``flag_reviews``, one row per flagged entry).

On the session of the caller's unit of work; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.store.models import FlagReview


class FlagReviews:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, review: FlagReview) -> None:
        """Stage the mark and write it at once: a flag handled before fails here, with
        ``Duplicate``, before anything is audited."""
        self.session.add(review)
        self.session.flush()

    def of(self, event_ids: Iterable[str]) -> dict[str, FlagReview]:
        ids = sorted(set(event_ids))
        if not ids:
            return {}
        return {r.event_id: r for r in self.session.scalars(select(FlagReview).where(FlagReview.event_id.in_(ids)))}
