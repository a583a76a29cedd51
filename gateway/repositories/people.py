"""Persons, their parents and guardians, and this node's professionals, as the store holds them.

The SQL the registry, the pages and the AVG report ran inline (issue 14), on the session
of the caller's unit of work: nothing here commits, so what a use case writes here commits
with its audit entry, or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from adapters.store.models import Person, Professional, Relation

# hot-path statement built once (building one cost more than running it)
_PERSON_BY_BSN = select(Person).where(Person.bsn == bindparam("bsn"))


class People:
    """The persons registered here (``Patient``), by id, BSN or name."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_bsn(self, bsn: str) -> Person | None:
        return self.session.scalar(_PERSON_BY_BSN, {"bsn": bsn})

    def get(self, pid: str) -> Person | None:
        return self.session.get(Person, pid)

    def add(self, person: Person) -> None:
        """Stage a new person; a BSN registered already fails at commit (``Duplicate``)."""
        self.session.add(person)

    def named(self, words: list[str], limit: int) -> list[Person]:
        """Persons whose ``search_name`` contains every word (already case-folded), oldest
        first; ``%`` and ``_`` in a word are plain characters."""
        query = (
            select(Person)
            .where(*[Person.search_name.contains(w, autoescape=True) for w in words])
            .order_by(Person.created_at, Person.id)
            .limit(limit)
        )
        return list(self.session.scalars(query))


class Relations:
    """Parents, voogden and guardian institutions of children (``RelatedPerson``)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, rid: str) -> Relation | None:
        return self.session.get(Relation, rid)

    def of_child(self, child_id: str) -> list[Relation]:
        """The child's relations in the order they were recorded."""
        return list(
            self.session.scalars(
                select(Relation).where(Relation.child_id == child_id).order_by(Relation.created_at, Relation.id)
            )
        )

    def of_party(self, party_key: str) -> list[Relation]:
        """Every relation naming ``party_key`` (``bsn:…`` or ``org:…``): that party's children."""
        return list(
            self.session.scalars(
                select(Relation).where(Relation.party_key == party_key).order_by(Relation.created_at, Relation.id)
            )
        )

    def between(self, child_id: str, party_key: str) -> Relation | None:
        return self.session.scalar(
            select(Relation).where(Relation.child_id == child_id, Relation.party_key == party_key)
        )

    def add(self, relation: Relation) -> None:
        """Stage a new relation; the same (child, party) twice fails at commit (``Duplicate``)."""
        self.session.add(relation)

    def delete(self, relation: Relation) -> None:
        self.session.delete(relation)


class Professionals:
    """Names of this node's own professionals, as their IdP gave them at their last login."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, actor_id: str) -> Professional | None:
        return self.session.get(Professional, actor_id)

    def add(self, professional: Professional) -> None:
        self.session.add(professional)

    def names(self, actor_ids: Iterable[str]) -> dict[str, str]:
        ids = sorted(set(actor_ids))
        if not ids:
            return {}
        rows = self.session.scalars(select(Professional).where(Professional.actor_id.in_(ids)))
        return {r.actor_id: r.name for r in rows}
