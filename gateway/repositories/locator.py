"""The locator's state in the store (contract section 8): the one ``locator_state`` row,
the per-partner call windows, and the consents that make persons findable.

On the session of the caller's unit of work; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapters.store.models import ConsentRow, LocatorState, Person

STATE_ID = 1

#: one atomic upsert, the same SQL on SQLite (3.35+) and PostgreSQL: no read-then-write race
_COUNT_CALL = text(
    "INSERT INTO locator_rate (partner, window_start, count) VALUES (:partner, :window, 1) "
    "ON CONFLICT (partner) DO UPDATE SET count = CASE WHEN locator_rate.window_start = :window "
    "THEN locator_rate.count + 1 ELSE 1 END, window_start = :window RETURNING count"
)


class LocatorStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def state(self) -> LocatorState | None:
        return self.session.get(LocatorState, STATE_ID)

    def made_state(self) -> LocatorState:
        """The state row once ``Locator.epoch()`` has made it (a missing row is a broken store)."""
        state = self.session.get(LocatorState, STATE_ID)
        if state is None:
            raise RuntimeError("the locator's state row is missing after it was made")
        return state

    def add_state(self, state: LocatorState) -> None:
        """Stage the first state row; another worker's first row fails at commit (``Duplicate``)."""
        self.session.add(state)

    def bump(self, new_state: Callable[[], LocatorState]) -> None:
        """Move the generation on by one; create the row with ``new_state()`` if there is none."""
        move = update(LocatorState).where(LocatorState.id == STATE_ID).values(generation=LocatorState.generation + 1)
        if self.session.execute(move).rowcount:  # type: ignore[attr-defined]
            return
        try:
            with self.session.begin_nested():
                self.session.add(new_state())
        except IntegrityError:  # another worker created it a moment ago
            self.session.execute(move)

    def count_call(self, partner: str, window: int) -> int:
        """Count one call of ``partner`` in the window starting at ``window``; the count so far."""
        return int(self.session.execute(_COUNT_CALL, {"partner": partner, "window": window}).scalar_one())

    def findable_consents(self, purpose: str) -> list[tuple[ConsentRow, Person]]:
        """Active permits with ``purpose``, each with the person it is about."""
        rows = self.session.execute(
            select(ConsentRow, Person)
            .join(Person, Person.id == ConsentRow.subject_id)
            .where(ConsentRow.purpose == purpose, ConsentRow.status == "active", ConsentRow.decision == "permit")
        )
        return [(row, person) for row, person in rows]
