"""The node's own records (Observation, CarePlan, CareTeam, EpisodeOfCare) as stored.

On the session of the caller's unit of work; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from adapters.store.models import Record

# hot-path statement built once (a summary reads it on every disclosure)
_RECORDS_OF = select(Record).where(
    Record.subject_id == bindparam("subject"), Record.category.in_(bindparam("categories", expanding=True))
)


# the summary needs only the stored JSON: a Core select of that column on the session's
# connection skips building ORM objects that are thrown away at once (issue 19)
_TABLE = Record.__table__
_RESOURCES_OF = select(_TABLE.c.resource).where(
    _TABLE.c.subject_id == bindparam("subject"), _TABLE.c.category.in_(bindparam("categories", expanding=True))
)


class Records:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, rid: str) -> Record | None:
        return self.session.get(Record, rid)

    def by_source(self, system: str, source_id: str) -> Record | None:
        """The record the EHR filed under this source identifier, if any."""
        return self.session.scalar(select(Record).where(Record.source_system == system, Record.source_id == source_id))

    def of_subject(self, subject_id: str, categories: Iterable[str]) -> list[Record]:
        """The records of one person (by ``Person.id``) in ``categories``."""
        return list(self.session.scalars(_RECORDS_OF, {"subject": subject_id, "categories": sorted(categories)}))

    def resources_of(self, subject_id: str, categories: Iterable[str]) -> list[str]:
        """The stored FHIR JSON of the records of one person in ``categories``."""
        rows = self.session.connection().execute(
            _RESOURCES_OF, {"subject": subject_id, "categories": sorted(categories)}
        )
        return [resource for (resource,) in rows]

    def shareable_categories(self, subject_id: str) -> set[str]:
        """The categories in which the person has at least one shareable record."""
        return set(
            self.session.scalars(
                select(Record.category).where(Record.subject_id == subject_id, Record.shareable.is_(True))
            )
        )

    def add(self, record: Record) -> None:
        """Stage a new record; a source identifier taken already fails at commit (``Duplicate``)."""
        self.session.add(record)

    def delete(self, record: Record) -> None:
        self.session.delete(record)
