"""In-memory stand-ins for the store and the partners, for use-case tests that need neither a
database nor a network (*Architecture Patterns with Python*, chapter 6: ``FakeUnitOfWork``).

- ``FakeStore`` holds what has been committed; ``FakeUnitOfWorkFactory(store)`` is the
  node's ``uow``. Each unit works on its own copy of every row and writes it back only on
  ``commit``: leaving the ``with`` block without committing loses everything, as the real
  unit's rollback does. A unique key taken twice raises ``adapters.store.Duplicate``.
- Every repository follows its protocol in ``gateway.repositories.ports`` (the protocol
  tests run the same situations against these and against SQLite).
- ``FakeAuditLog`` chains its entries with the real ``audit.chain`` rules (hashes and all),
  without signing: a fake node holds no keys.
- ``FakePeer`` and ``FakePartners`` answer as partner nodes would: scripted replies per
  (partner, operation), and a list of trusted partners.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace, TracebackType
from typing import Any

from adapters.store import Duplicate
from adapters.store.models import (
    ConsentRow,
    EndedSession,
    FlagReview,
    LocatorState,
    OnceKey,
    Person,
    Professional,
    Record,
    Relation,
)
from audit import chain
from audit.chain import StoredEntry
from audit.events import AuditRecord
from gateway.config import LocatorSection

ORG = "ggz-noord"
NOW = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


def _duplicate(what: str) -> Duplicate:
    return Duplicate(f"INSERT {what} (fake)", {}, Exception(f"UNIQUE constraint failed: {what}"))


def _clone(row: Any) -> Any:
    """A copy of a mapped row with the same column values (a fresh, transient instance)."""
    return type(row)(**{attr.key: getattr(row, attr.key) for attr in row.__mapper__.column_attrs})


@dataclass
class Tables:
    persons: dict[str, Person] = field(default_factory=dict)
    relations: dict[str, Relation] = field(default_factory=dict)
    professionals: dict[str, Professional] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    consents: dict[str, ConsentRow] = field(default_factory=dict)
    ended: dict[str, EndedSession] = field(default_factory=dict)
    once: dict[tuple[str, str], OnceKey] = field(default_factory=dict)
    flags: dict[str, FlagReview] = field(default_factory=dict)
    locator: dict[int, LocatorState] = field(default_factory=dict)
    rates: dict[str, tuple[int, int]] = field(default_factory=dict)  # partner -> (window start, count)
    audit: list[StoredEntry] = field(default_factory=list)  # entries are frozen: shared, never copied
    prune_seq: int = 0

    def copy(self) -> Tables:
        out = Tables(rates=dict(self.rates), audit=list(self.audit), prune_seq=self.prune_seq)
        for name in (
            "persons",
            "relations",
            "professionals",
            "records",
            "consents",
            "ended",
            "once",
            "flags",
            "locator",
        ):
            setattr(out, name, {k: _clone(v) for k, v in getattr(self, name).items()})
        return out


class FakeStore:
    """What has been committed, and how many commits it took."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.commits = 0


# --- repositories ------------------------------------------------------------------------------


class FakePeople:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def by_bsn(self, bsn: str) -> Person | None:
        return next((p for p in self.t.persons.values() if p.bsn == bsn), None)

    def get(self, pid: str) -> Person | None:
        return self.t.persons.get(pid)

    def add(self, person: Person) -> None:
        if person.id in self.t.persons or self.by_bsn(person.bsn) is not None:
            raise _duplicate("persons.bsn")
        self.t.persons[person.id] = person

    def named(self, words: list[str], limit: int) -> list[Person]:
        found = [p for p in self.t.persons.values() if all(w in (p.search_name or "") for w in words)]
        return sorted(found, key=lambda p: (p.created_at, p.id))[:limit]


class FakeRelations:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def _sorted(self, rows: Iterable[Relation]) -> list[Relation]:
        return sorted(rows, key=lambda r: (r.created_at, r.id))

    def get(self, rid: str) -> Relation | None:
        return self.t.relations.get(rid)

    def of_child(self, child_id: str) -> list[Relation]:
        return self._sorted(r for r in self.t.relations.values() if r.child_id == child_id)

    def of_party(self, party_key: str) -> list[Relation]:
        return self._sorted(r for r in self.t.relations.values() if r.party_key == party_key)

    def between(self, child_id: str, party_key: str) -> Relation | None:
        return next((r for r in self.of_child(child_id) if r.party_key == party_key), None)

    def add(self, relation: Relation) -> None:
        if relation.child_id not in self.t.persons:
            raise _duplicate("relations.child_id (no such person)")  # the real store's foreign key
        if relation.id in self.t.relations or self.between(relation.child_id, relation.party_key):
            raise _duplicate("relations.child_id, relations.party_key")
        self.t.relations[relation.id] = relation

    def delete(self, relation: Relation) -> None:
        self.t.relations.pop(relation.id, None)


class FakeProfessionals:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def get(self, actor_id: str) -> Professional | None:
        return self.t.professionals.get(actor_id)

    def add(self, professional: Professional) -> None:
        if professional.actor_id in self.t.professionals:
            raise _duplicate("professionals.actor_id")
        self.t.professionals[professional.actor_id] = professional

    def names(self, actor_ids: Iterable[str]) -> dict[str, str]:
        return {a: self.t.professionals[a].name for a in set(actor_ids) if a in self.t.professionals}


class FakeRecords:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def get(self, rid: str) -> Record | None:
        return self.t.records.get(rid)

    def by_source(self, system: str, source_id: str) -> Record | None:
        return next((r for r in self.t.records.values() if (r.source_system, r.source_id) == (system, source_id)), None)

    def of_subject(self, subject_id: str, categories: Iterable[str]) -> list[Record]:
        wanted = set(categories)
        return [r for r in self.t.records.values() if r.subject_id == subject_id and r.category in wanted]

    def shareable_categories(self, subject_id: str) -> set[str]:
        return {r.category for r in self.t.records.values() if r.subject_id == subject_id and r.shareable}

    def add(self, record: Record) -> None:
        if record.id in self.t.records or self.by_source(record.source_system, record.source_id) is not None:
            raise _duplicate("records.source_system, records.source_id")
        self.t.records[record.id] = record

    def delete(self, record: Record) -> None:
        self.t.records.pop(record.id, None)


class FakeConsentReads:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def get(self, cid: str) -> ConsentRow | None:
        return self.t.consents.get(cid)

    def of_subject(self, subject_id: str) -> list[ConsentRow]:
        rows = [c for c in self.t.consents.values() if c.subject_id == subject_id]
        rows.sort(key=lambda c: c.id)
        rows.sort(key=lambda c: c.created_at, reverse=True)
        return rows


class FakeEndedSessions:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def is_ended(self, sid: str) -> bool:
        return sid in self.t.ended

    def end(self, sid: str, expires_at: datetime) -> None:
        self.t.ended[sid] = EndedSession(sid=sid, expires_at=expires_at)

    def forget_expired(self, now: datetime) -> None:
        for sid in [s for s, row in self.t.ended.items() if row.expires_at < now]:
            del self.t.ended[sid]


class FakeOnceKeys:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def get(self, scope: str, key: str) -> OnceKey | None:
        return self.t.once.get((scope, key))

    def add(self, row: OnceKey) -> None:
        if (row.scope, row.key) in self.t.once:
            raise _duplicate("once_keys.scope, once_keys.key")
        self.t.once[(row.scope, row.key)] = row

    def finish(self, scope: str, key: str, *, status: int, location: str, body: str) -> None:
        row = self.t.once.get((scope, key))
        if row is not None:
            row.status, row.location, row.body = status, location, body

    def release(self, scope: str, key: str, *, status: int) -> None:
        row = self.t.once.get((scope, key))
        if row is not None and row.status == status:
            del self.t.once[(scope, key)]

    def delete(self, row: OnceKey) -> None:
        self.t.once.pop((row.scope, row.key), None)

    def forget_before(self, moment: datetime, *, scope: str | None = None) -> None:
        for k in [
            k for k, row in self.t.once.items() if row.created_at < moment and (scope is None or row.scope == scope)
        ]:
            del self.t.once[k]


class FakeFlagReviews:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def add(self, review: FlagReview) -> None:
        if review.event_id in self.t.flags:
            raise _duplicate("flag_reviews.event_id")
        self.t.flags[review.event_id] = review

    def of(self, event_ids: Iterable[str]) -> dict[str, FlagReview]:
        return {e: self.t.flags[e] for e in set(event_ids) if e in self.t.flags}


class FakeLocator:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def state(self) -> LocatorState | None:
        return self.t.locator.get(1)

    def made_state(self) -> LocatorState:
        state = self.t.locator.get(1)
        if state is None:
            raise RuntimeError("the locator's state row is missing after it was made")
        return state

    def add_state(self, state: LocatorState) -> None:
        if state.id in self.t.locator:
            raise _duplicate("locator_state.id")
        self.t.locator[state.id] = state

    def bump(self, new_state: Callable[[], LocatorState]) -> None:
        state = self.state()
        if state is None:
            self.add_state(new_state())
        else:
            state.generation += 1

    def count_call(self, partner: str, window: int) -> int:
        start, count = self.t.rates.get(partner, (window, 0))
        count = count + 1 if start == window else 1
        self.t.rates[partner] = (window, count)
        return count

    def findable_consents(self, purpose: str) -> list[tuple[ConsentRow, Person]]:
        return [
            (c, self.t.persons[c.subject_id])
            for c in self.t.consents.values()
            if c.purpose == purpose and c.status == "active" and c.decision == "permit"
        ]


class FakeAuditLog:
    """The audit log as a list of chained entries (real hashes, no signatures)."""

    def __init__(self, t: Tables) -> None:
        self.t = t

    def append(self, node: Any, record: AuditRecord) -> int:
        if record.actor_org == "":
            record = dataclasses.replace(record, actor_org=node.org_id)
        last = self.t.audit[-1] if self.t.audit else None
        prev_seq, prev_hash = (last.seq, last.hash) if last else (self.t.prune_seq, chain.GENESIS)
        entry = chain.new_entry(
            prev_seq=prev_seq,
            prev_hash=prev_hash,
            event_id=uuid.uuid4().hex,
            recorded_at=chain.format_recorded_at(node.clock()),
            record=record,
        )
        self.t.audit.append(entry)
        return entry.seq

    def entries(
        self,
        *,
        subject: str | None = None,
        since: str | None = None,
        until: str | None = None,
        agent: str | None = None,
        purpose: str | None = None,
        outcome: str | None = None,
        action: str | None = None,
        limit: int = 500,
        offset: int = 0,
    ) -> list[StoredEntry]:
        def keep(e: StoredEntry) -> bool:
            r = e.record
            return (
                (not subject or r.subject == subject)
                and (not since or e.recorded_at >= since)
                and (not until or e.recorded_at < until)
                and (not agent or r.actor_id == agent)
                and (not purpose or r.purpose == purpose)
                and (not outcome or r.outcome == outcome)
                and (not action or r.action == action)
            )

        return [e for e in reversed(self.t.audit) if keep(e)][offset : offset + limit]

    def count(self, **filters: Any) -> int:
        return len(self.entries(**filters, limit=len(self.t.audit)))

    def by_event_id(self, event_id: str) -> StoredEntry | None:
        return next((e for e in self.t.audit if e.event_id == event_id), None)

    def of_exchange(self, exchange_id: str, action: str) -> list[StoredEntry]:
        return [e for e in self.t.audit if e.record.exchange_id == exchange_id and e.record.action == action]

    def hash_at(self, seq: int) -> str | None:
        return next((e.hash for e in self.t.audit if e.seq == seq), None)

    def last_seq(self) -> int:
        return self.t.audit[-1].seq if self.t.audit else 0

    def prune_seq(self) -> int:
        return self.t.prune_seq

    def last_before(self, recorded_at: str) -> StoredEntry | None:
        return next((e for e in reversed(self.t.audit) if e.recorded_at < recorded_at), None)

    def prune_through(self, anchor: StoredEntry, signed: str) -> int:
        gone = [e for e in self.t.audit if e.seq <= anchor.seq]
        self.t.audit = [e for e in self.t.audit if e.seq > anchor.seq]
        self.t.prune_seq = anchor.seq
        return len(gone)


# --- the unit of work ----------------------------------------------------------------------------


class FakeUnitOfWork:
    """A unit on its own copy of the store; ``commit`` makes the copy the store."""

    def __init__(self, store: FakeStore, *, read_only: bool = False) -> None:
        self.store, self.read_only = store, read_only
        self._committed = False

    def _open(self, tables: Tables) -> None:
        self._tables = tables
        self.people = FakePeople(tables)
        self.relations = FakeRelations(tables)
        self.professionals = FakeProfessionals(tables)
        self.records = FakeRecords(tables)
        self.consent_reads = FakeConsentReads(tables)
        self.ended_sessions = FakeEndedSessions(tables)
        self.once_keys = FakeOnceKeys(tables)
        self.flags = FakeFlagReviews(tables)
        self.locator = FakeLocator(tables)
        self.audit = FakeAuditLog(tables)

    def __enter__(self) -> FakeUnitOfWork:
        self._open(self.store.tables.copy())
        return self

    def commit(self) -> None:
        if self.read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        self.store.tables = self._tables
        self.store.commits += 1
        self._committed = True
        self._open(self.store.tables.copy())  # what the caller holds stays as committed

    def rollback(self) -> None:
        self._open(self.store.tables.copy())

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> bool:
        return False  # uncommitted work is simply dropped with the copy


class FakeLookups:
    """The hot-path reads, on what has been committed."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def session_ended(self, sid: str) -> bool:
        return sid in self.store.tables.ended


class FakeUnitOfWorkFactory:
    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store or FakeStore()
        self.lookups = FakeLookups(self.store)

    def __call__(self, *, read_only: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store, read_only=read_only)


# --- partners ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A partner's answer as ``gateway.trust.peer.PeerCaller.call`` returns it."""

    status: int
    body: Any
    raw: bytes = b""


class FakePeer:
    """Partners' answers per (partner, operation): a ``Reply``, or an exception to raise (a
    partner that cannot be reached). Remembers every call."""

    def __init__(self, answers: dict[tuple[str, str], Reply | Exception] | None = None) -> None:
        self.answers = dict(answers or {})
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def call(
        self, org_id: str, operation: str, parameters: dict[str, Any], timeout: tuple[float, float] | None = None
    ) -> Reply:
        self.calls.append((org_id, operation, parameters))
        answer = self.answers.get((org_id, operation))
        if answer is None:
            return Reply(404, {"resourceType": "OperationOutcome", "issue": []})
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakePartners:
    """The trusted partners, by org id and URL; no keys are pinned."""

    def __init__(self, trusted: dict[str, str] | None = None) -> None:
        self.trusted = dict(trusted or {})

    def list(self) -> list[tuple[str, str, list[str]]]:
        return [(org, url, []) for org, url in sorted(self.trusted.items())]

    def is_trusted(self, org_id: str) -> bool:
        return org_id in self.trusted

    def keys_for(self, org_id: str, kid: str | None = None) -> None:
        return None


# --- the node ------------------------------------------------------------------------------------


class Clock:
    """A clock that stands still until moved (``clock.move(minutes=5)``)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class FakeNode:
    """What a use case takes from ``gateway.node.Node``: its store, clock, partners and config."""

    uow: FakeUnitOfWorkFactory = field(default_factory=FakeUnitOfWorkFactory)
    clock: Clock = field(default_factory=Clock)
    partners: FakePartners = field(default_factory=FakePartners)
    peer: FakePeer = field(default_factory=FakePeer)
    witness: Any = None
    config: Any = field(
        default_factory=lambda: SimpleNamespace(
            node=SimpleNamespace(org_id=ORG, url=f"https://{ORG}.example", name="GGZ Noord", phone="050 000 0000"),
            audit=SimpleNamespace(probe_unknown_per_day=5, probe_refusals_per_day=10, retention_days=3650),
            locator=LocatorSection(rate_per_minute=3),
        )
    )

    @property
    def org_id(self) -> str:
        return str(self.config.node.org_id)

    @property
    def store(self) -> Tables:
        """What has been committed (for a test's assertions)."""
        return self.uow.store.tables
