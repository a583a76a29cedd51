"""The gateway's unit of work: the store's transaction with the repositories on it.

``with node.uow() as uow:`` gives ``uow.people``, ``uow.records``, ``uow.audit``, … each
working in that unit's session (as in *Architecture Patterns with Python*, chapter 6). A
repository is made on first use, so a unit that reads one table builds one object.
``gateway.repositories.ports`` says what each offers; the fakes of ``tests/unit/gateway/services``
offer the same.
"""

from __future__ import annotations

from functools import cached_property

from sqlalchemy.engine import Engine

from adapters.store.uow import UnitOfWork, UnitOfWorkFactory
from gateway.repositories.audit_log import AuditLog
from gateway.repositories.consent_reads import ConsentReads
from gateway.repositories.flags import FlagReviews
from gateway.repositories.locator import LocatorStore
from gateway.repositories.onetime import OnceKeys
from gateway.repositories.people import People, Professionals, Relations
from gateway.repositories.records import Records
from gateway.repositories.sessions import EndedSessions, Lookups


class Unit(UnitOfWork):
    @cached_property
    def people(self) -> People:
        return People(self.session)

    @cached_property
    def relations(self) -> Relations:
        return Relations(self.session)

    @cached_property
    def professionals(self) -> Professionals:
        return Professionals(self.session)

    @cached_property
    def records(self) -> Records:
        return Records(self.session)

    @cached_property
    def consent_reads(self) -> ConsentReads:
        return ConsentReads(self.session)

    @cached_property
    def ended_sessions(self) -> EndedSessions:
        return EndedSessions(self.session)

    @cached_property
    def once_keys(self) -> OnceKeys:
        return OnceKeys(self.session)

    @cached_property
    def flags(self) -> FlagReviews:
        return FlagReviews(self.session)

    @cached_property
    def locator(self) -> LocatorStore:
        return LocatorStore(self.session)

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.session)


class Units(UnitOfWorkFactory):
    """The node's factory of units: each carries the repositories, and ``lookups`` the
    hot-path reads that need no unit (``gateway.repositories.sessions.Lookups``)."""

    lookups: Lookups

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, unit=Unit, lookups=Lookups)

    def __call__(self, *, read_only: bool = False) -> Unit:
        unit = super().__call__(read_only=read_only)
        if not isinstance(unit, Unit):  # the factory above hands out Unit only
            raise TypeError(type(unit).__name__)
        return unit
