"""The unit of work: one transaction that rolls back unless committed.

A use case opens one, does all its writes (the disclosure and its audit entry together)
and commits; anything that escapes rolls everything back, so a failed use case never
leaves half a write. A database that cannot be reached or written becomes
``StoreUnavailable`` here, the one place that knows SQLAlchemy's errors.

A read-only unit (``uow(read_only=True)``) is for lookups on the hot path (a partner's
keys, a person by BSN): on SQLite it does not take the write lock, so lookups never queue
behind the audit appender. It cannot commit, so nothing it touches is ever written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal, Self

from sqlalchemy import Engine, Executable, Row
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from adapters.store.engine import READ_ONLY
from adapters.store.writer_lock import WriterLock
from contract.errors import StoreUnavailable


class Duplicate(IntegrityError):
    """A unique key was taken already: the failed insert *is* the answer (a replayed ``jti``,
    a form sent twice, a BSN registered at once by two workers).

    Raised by the unit of work for every integrity error, so that a use case can catch it
    without knowing SQLAlchemy; it is still an ``IntegrityError`` for code that catches that.
    """

    @classmethod
    def of(cls, exc: IntegrityError) -> Duplicate:
        if isinstance(exc, Duplicate):
            return exc
        # the driver's own error, or the IntegrityError itself when SQLAlchemy raised it without one
        return cls(exc.statement, exc.params, exc.orig if exc.orig is not None else exc)


class UnitOfWork:
    """``with uow_factory() as uow: …; uow.commit()``

    The gateway's repositories sit on it as attributes (a subclass given to the factory as
    ``unit``), each working in this unit's session.
    """

    def __init__(
        self, sessions: sessionmaker[Session], *, read_only: bool = False, writer_lock: WriterLock | None = None
    ) -> None:
        self._sessions = sessions
        self._committed = False
        self.read_only = read_only
        self._lock = writer_lock.hold() if writer_lock is not None else None

    def __enter__(self) -> Self:
        if self._lock is not None:
            self._lock.__enter__()
        try:
            self.session = self._sessions()
        except BaseException:
            self._release()
            raise
        return self

    def _release(self) -> None:
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(None, None, None)

    def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        try:
            self.session.commit()
        except IntegrityError as exc:
            raise Duplicate.of(exc) from exc
        except (DBAPIError, SQLAlchemyError) as exc:
            raise StoreUnavailable() from exc
        self._committed = True

    def rollback(self) -> None:
        """Throw away what this unit wrote so far; it may go on (and write other things)."""
        self.session.rollback()

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        try:
            # a read-only unit just closes (its connection's read transaction ends as it goes
            # back to the pool): what it loaded stays readable, detached, not expired
            if not self._committed and not self.read_only:
                self.session.rollback()
        except SQLAlchemyError:
            pass
        finally:
            try:
                self.session.close()
            finally:
                self._release()
        if isinstance(exc, IntegrityError) and not isinstance(exc, Duplicate):
            raise Duplicate.of(exc) from exc
        if isinstance(exc, (DBAPIError, SQLAlchemyError)) and not isinstance(exc, IntegrityError):
            raise StoreUnavailable() from exc
        return False


class UnitOfWorkFactory:
    def __init__(
        self,
        engine: Engine,
        *,
        unit: type[UnitOfWork] = UnitOfWork,
        lookups: Callable[[UnitOfWorkFactory], Any] | None = None,
    ) -> None:
        self.unit = unit  # the class of unit handed out (the gateway's carries its repositories)
        self.sessions = sessionmaker(expire_on_commit=False)
        self.readers = sessionmaker(expire_on_commit=False, autoflush=False)
        self.rebind(engine)
        # hot-path reads without a unit (``read`` below), named by the gateway
        self.lookups = lookups(self) if lookups is not None else None

    def rebind(self, engine: Engine) -> None:
        """Point both kinds of unit at ``engine`` (a test makes the store unreachable this way)."""
        self.engine = engine
        self.sessions.configure(bind=engine)
        self._read_engine = engine.execution_options(**{READ_ONLY: True})
        self.readers.configure(bind=self._read_engine)
        self.writer_lock = WriterLock(engine.url.database) if engine.dialect.name == "sqlite" else None

    def read(self, statement: Executable, params: dict[str, Any] | None = None) -> Sequence[Row[*tuple[Any, ...]]]:
        """Run one SELECT on a read-only connection, without an ORM session: for lookups on
        the hot path (a partner's URL and keys), where the session's bookkeeping cost more
        than the query."""
        try:
            with self._read_engine.connect() as conn:
                return conn.execute(statement, params).all()
        except (DBAPIError, SQLAlchemyError) as exc:
            raise StoreUnavailable() from exc

    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        """A unit that may write (SQLite: behind the writer lock), or a read-only one."""
        if read_only:
            return self.unit(self.readers, read_only=True)
        return self.unit(self.sessions, writer_lock=self.writer_lock)
