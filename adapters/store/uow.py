"""The unit of work: one transaction that rolls back unless committed.

A use case opens one, does all its writes (the disclosure and its audit entry together)
and commits; anything that escapes rolls everything back, so a failed use case never
leaves half a write. A database that cannot be reached or written becomes
``StoreUnavailable`` here, the one place that knows SQLAlchemy's errors.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from consent.errors import StoreUnavailable


class UnitOfWork:
    """``with uow_factory() as uow: …; uow.commit()``"""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self.session = self._sessions()
        return self

    def commit(self) -> None:
        try:
            self.session.commit()
        except IntegrityError:
            raise
        except (DBAPIError, SQLAlchemyError) as exc:
            raise StoreUnavailable() from exc
        self._committed = True

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        try:
            if not self._committed:
                self.session.rollback()
        except SQLAlchemyError:
            pass
        finally:
            self.session.close()
        if isinstance(exc, (DBAPIError, SQLAlchemyError)) and not isinstance(exc, IntegrityError):
            raise StoreUnavailable() from exc
        return False


class UnitOfWorkFactory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)
