"""The consent register's rows: the SQL the consent use cases run on their unit of work.

Rows stay rows here; ``services.consents.grant_of`` turns one into the domain's ``Grant``.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from adapters.store.models import ConsentRow

_OF_SUBJECT = select(ConsentRow).where(ConsentRow.subject_id == bindparam("subject"))
# every consent of the person one consent id names (that one included): ``$consent-status``
# decides from these in one query instead of a get, a person and a list (issue 19)
_OF_SUBJECT_OF = select(ConsentRow).where(
    ConsentRow.subject_id == select(ConsentRow.subject_id).where(ConsentRow.id == bindparam("cid")).scalar_subquery()
)
_PERMITS_FOR = _OF_SUBJECT.where(ConsentRow.decision == "permit", ConsentRow.purpose == bindparam("purpose"))


def get(session: Session, cid: str) -> ConsentRow | None:
    """The consent recorded under ``cid``, or None."""
    return session.get(ConsentRow, cid)


def add(session: Session, row: ConsentRow) -> None:
    session.add(row)


def of_subject(session: Session, subject_id: str) -> list[ConsentRow]:
    """Every consent and objection recorded for one person, in no particular order."""
    return list(session.scalars(_OF_SUBJECT, {"subject": subject_id}))


def of_subject_of(session: Session, cid: str) -> list[ConsentRow]:
    """Every consent and objection of the person consent ``cid`` is about, ``cid`` among them;
    empty when ``cid`` is not recorded here."""
    return list(session.scalars(_OF_SUBJECT_OF, {"cid": cid}))


def permits_for(session: Session, subject_id: str, purpose: str) -> list[ConsentRow]:
    """One person's permits (not objections) for ``purpose``, in no particular order."""
    return list(session.scalars(_PERMITS_FOR, {"subject": subject_id, "purpose": purpose}))


def listed(session: Session, subject_id: str | None = None, *, newest_first: bool = False) -> list[ConsentRow]:
    """Consents of one person, or of everyone, by the time they were recorded."""
    q = select(ConsentRow)
    if subject_id:
        q = q.where(ConsentRow.subject_id == subject_id)
    q = q.order_by(ConsentRow.created_at.desc() if newest_first else ConsentRow.created_at)
    return list(session.scalars(q))
