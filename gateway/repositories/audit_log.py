"""The audit log in the store: append inside the caller's transaction, verify, search.

``append`` is called by every use case inside its own unit of work, so the audit entry
commits together with what it records, or neither does (no audit, no disclosure). Writers
serialise on the single ``audit_head`` row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
transactions begin IMMEDIATE), which keeps the hash chain linear under several workers.
The head is re-signed on every append and a checkpoint is signed every
``chain.CHECKPOINT_EVERY`` entries, so a cut tail or a rewrite without the key shows.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import uuid
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack, cast

from sqlalchemy import ColumnElement, Select, bindparam, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from adapters.store.models import AuditCheckpoint, AuditEntry, AuditHead
from audit import chain, events
from audit.events import AuditRecord
from audit.signer import make_signer, make_verifier
from gateway.ops import metrics
from gateway.repositories import witnesses
from gateway.repositories.ports import AuditAuthor, NodeParts


@dataclass(frozen=True)
class Actor:
    """Who acts, for the NEN 7513 line: practitioner, role, client (on whose behalf), where."""

    actor_id: str
    role: str
    client_id: str = ""
    access_point: str = ""
    name: str = ""  # the professional's display name where the login gives one (never audited)


SYSTEM = Actor(actor_id="system:cli", role="admin", client_id="", access_point="cli")


def fields(actor: Actor, **extra: Any) -> dict[str, Any]:
    """The AuditRecord fields that name the actor, plus ``extra``."""
    return {
        "actor_id": actor.actor_id,
        "actor_role": actor.role,
        "on_behalf_of": actor.client_id,
        "access_point": actor.access_point,
        **extra,
    }


#: signs a checkpoint's claims as a compact JWS (``audit.signer.make_signer``)
Sign = Callable[[dict[str, Any]], str]

_SIGNERS: dict[str, Sign] = {}  # kid -> sign(claims); one per key this process has signed with


def head_signer(node: AuditAuthor) -> Sign:
    """The head and checkpoint signer for the node's active key (follows a rotation)."""
    kid, _alg, key = node.keys.active
    sign = _SIGNERS.get(kid)
    if sign is None:
        sign = _SIGNERS[kid] = make_signer(key)
    return sign


def verifier(node: NodeParts) -> Callable[[str], dict[str, Any]]:
    """Check checkpoints with every own key ever used (retired ones included)."""
    return make_verifier(node.keys.verification_set())


def init_chain(node: NodeParts) -> None:
    """Create the head row of an empty log (``gateway init``)."""
    with node.uow() as uow:
        if uow.session.get(AuditHead, 1) is None:
            uow.session.add(AuditHead(id=1, seq=0, hash=chain.GENESIS, signed=""))
        uow.commit()


# Built once and run as Core statements: the ORM's unit of work cost more than the writes.
_HEADS, _ENTRIES, _CHECKPOINTS = AuditHead.__table__, AuditEntry.__table__, AuditCheckpoint.__table__
_HEAD_FOR_UPDATE = select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.id == 1).with_for_update()
_INSERT_ENTRY = insert(_ENTRIES)
_INSERT_CHECKPOINT = insert(_CHECKPOINTS)
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"), signed=bindparam("new_signed"))
)


def append(session: Session, node: AuditAuthor, record: AuditRecord) -> int:
    """Append ``record`` to the chain in the caller's transaction; return its seq.

    The exchange hot path: ``append_many`` of one, which is one statement per table.
    """
    return append_many(session, node, [record])


def append_many(session: Session, node: AuditAuthor, records: list[AuditRecord]) -> int:
    """Append ``records`` in order in the caller's transaction and sign the head once at the
    end (a federation list adding hundreds of members at once, issue 15); checkpoints fall
    where they would. Return the last seq (the head's when ``records`` is empty)."""
    session.flush()  # what the caller staged goes first, in this same transaction
    # Core statements on the session's own connection (same transaction): through
    # Session.execute each paid the ORM's statement machinery, a third of the append
    conn = session.connection()
    head_seq, head_hash = conn.execute(_HEAD_FOR_UPDATE).one()
    if not records:
        return int(head_seq)
    recorded_at = chain.format_recorded_at(node.clock())
    sign = head_signer(node)
    rows, checkpoints = [], []
    for record in records:
        if record.actor_org == "":
            record = dataclasses.replace(record, actor_org=node.org_id)
        canonical = chain.record_to_canonical(record)  # once: hashed, and kept as the stored text
        entry = chain.new_entry(
            prev_seq=head_seq,
            prev_hash=head_hash,
            event_id=uuid.uuid4().hex,
            recorded_at=recorded_at,
            record=record,
            canonical=canonical,
        )
        rows.append(_entry_row(entry, canonical))
        if chain.is_checkpoint_due(entry.seq):
            checkpoints.append(
                {
                    "seq": entry.seq,
                    "kind": chain.KIND_CHECKPOINT,
                    "hash": entry.hash,
                    "signed": chain.sign_checkpoint(entry, kind=chain.KIND_CHECKPOINT, at=recorded_at, sign=sign),
                }
            )
        head_seq, head_hash = entry.seq, entry.hash
    conn.execute(_INSERT_ENTRY, rows)  # a list of one runs as a plain execute, not an executemany
    if checkpoints:
        conn.execute(_INSERT_CHECKPOINT, checkpoints)
    signed_head = chain.sign_checkpoint(entry, kind=chain.KIND_HEAD, at=recorded_at, sign=sign)
    conn.execute(_MOVE_HEAD, {"new_seq": entry.seq, "new_hash": entry.hash, "new_signed": signed_head})
    witnesses.signing(session, entry.seq, signed_head)  # sent to partners once committed
    book = getattr(node, "witness", None)
    if book is not None and book.pending:  # partners' heads ride on this commit (gateway.repositories.witnesses)
        witnesses.flush(session, book)

    metrics.audit_appended(len(rows))  # staged: counted when written, also if the caller then rolls back
    return int(entry.seq)


def _entry_row(entry: chain.StoredEntry, canonical: str) -> dict[str, Any]:
    """The ``audit_entries`` row of ``entry``: the hashed record (``canonical``, its RFC 8785
    text), and its search columns."""
    record = entry.record
    return {
        "seq": entry.seq,
        "event_id": entry.event_id,
        "recorded_at": entry.recorded_at,
        "action": record.action,
        "outcome": record.outcome,
        "subject": record.subject,
        "actor_id": record.actor_id,
        "peer_org": record.peer_org,
        "purpose": record.purpose,
        "exchange_id": record.exchange_id,
        "consent_id": record.consent_id,
        "flagged": record.flagged,
        "record_json": canonical,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def record_admin(node: NodeParts, action: str, *, actor: Actor = SYSTEM, **extra: Any) -> int:
    """Audit an administrative act (partner added, client added, key rotated) on its own."""
    with node.uow() as uow:
        seq = append(uow.session, node, AuditRecord(action=action, outcome=events.SUCCESS, **fields(actor, **extra)))
        uow.commit()
    return seq


_ROWS_SQL = "SELECT seq, event_id, recorded_at, record_json, prev_hash, hash FROM audit_entries ORDER BY seq"


def rows(session: Session, batch: int = 10_000) -> Generator[tuple[int, str, str, str, str, str], None, None]:
    """Stream every entry in seq order as the tuples ``chain.verify_rows`` reads.

    Straight from the driver's cursor (a server-side one on PostgreSQL), in large batches:
    SQLAlchemy's rows cost as much as hashing them. A driver error is raised as SQLAlchemy's
    ``DBAPIError``, so the unit of work still reports ``StoreUnavailable``.
    """
    connection = session.connection()
    dbapi = connection.dialect.loaded_dbapi
    driver: Any = connection.connection.dbapi_connection  # the DB-API connection of an open session
    try:
        # a named cursor on PostgreSQL streams; an SQLite cursor steps through the rows anyway
        cursor = driver.cursor(name="audit_verify_rows") if connection.dialect.name == "postgresql" else driver.cursor()
        try:
            cursor.execute(_ROWS_SQL)
            while chunk := cursor.fetchmany(batch):
                yield from chunk
        finally:
            cursor.close()  # verification may stop at the first bad entry: free the server cursor
    except dbapi.Error as exc:
        raise DBAPIError.instance(_ROWS_SQL, None, exc, dbapi.Error) from exc


def verify(node: NodeParts) -> chain.VerifyResult:
    """Verify the whole log against its signed head and checkpoints, and the search columns.

    Two checks run at once on one snapshot: this thread walks the chain (hashes, links,
    signatures) while a second connection has the database compare the search columns
    with the hashed record (``_first_column_mismatch``). The database does that work
    without Python's GIL (SQLite releases it while it steps, PostgreSQL works in its own
    process), so on two cores it adds little to the walk. The verdict names the first bad
    entry of either check.

    Both read in read-only units, so the node keeps writing while a long log is verified.
    On PostgreSQL the second connection imports the first one's exported snapshot. On
    SQLite each connection's WAL snapshot starts at its first read: a write transaction held
    only while both reads start keeps any commit from falling between them.
    """
    postgres = node.uow.engine.dialect.name == "postgresql"
    with node.uow(read_only=True) as uow, _writes_held(node, hold=not postgres) as let_writes_go:
        s = uow.session
        if postgres:
            # one snapshot for head, checkpoints and rows: a concurrent append must not
            # look like rows written after the signed head
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        head = s.get(AuditHead, 1)
        checkpoints = list(s.scalars(select(AuditCheckpoint.signed).order_by(AuditCheckpoint.seq)))
        snapshot = s.execute(text("SELECT pg_export_snapshot()")).scalar_one() if postgres else None
        started = threading.Event()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-columns") as pool:
            columns = pool.submit(_columns_in_snapshot, node, snapshot, started)
            while not started.wait(0.05) and not columns.done():
                pass
            let_writes_go()
            stream = rows(s)
            try:
                result = chain.verify_rows(
                    stream, checkpoints, (head.signed or None) if head else None, verify=verifier(node)
                )
            finally:
                stream.close()
            bad = columns.result()
    if bad is not None and (result.ok or result.first_bad_seq is None or bad < result.first_bad_seq):
        return chain.VerifyResult(
            ok=False,
            checked=result.checked,
            first_bad_seq=bad,
            reason="edited: search columns differ from the hashed record",
        )
    return result


@contextmanager
def _writes_held(node: NodeParts, *, hold: bool) -> Iterator[Callable[[], None]]:
    """Hold the store's write lock (SQLite) until the returned callable is called or the block
    ends. Nothing commits meanwhile; readers that start now all see the same last commit."""
    if not hold:
        yield lambda: None
        return
    with ExitStack() as stack:
        writer = stack.enter_context(node.uow())
        writer.session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: waits for a writer to finish
        yield stack.close


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


def _columns_in_snapshot(node: NodeParts, snapshot: str | None, started: threading.Event) -> int | None:
    """Run ``_first_column_mismatch`` on a connection of its own, in ``snapshot`` on PostgreSQL;
    ``started`` is set once this connection's snapshot is fixed."""
    with node.uow(read_only=True) as ro:
        s = ro.session
        if snapshot is not None:
            if not _SNAPSHOT_ID.fullmatch(snapshot):  # it goes into SQL as a literal
                raise ValueError(f"unexpected snapshot id {snapshot!r}")
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            s.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
        else:
            s.execute(text("SELECT count(*) FROM audit_head"))  # SQLite: the WAL snapshot starts here
        started.set()
        return _first_column_mismatch(s)


#: the search columns, each a copy of a field of the hashed record_json
_COLUMNS = ("action", "outcome", "subject", "actor_id", "peer_org", "purpose", "exchange_id", "consent_id")


def _first_column_mismatch(session: Session) -> int | None:
    """Find the first row whose search columns were edited (they are not in the hash).

    The database extracts the fields from the canonical JSON itself: one scan in C, while
    parsing a million records in Python would cost more than the whole chain walk.
    """
    if session.get_bind().dialect.name == "postgresql":
        field = "(record_json::json->>'{0}')"
        flag = "((record_json::json->>'flagged')::boolean)"
    else:
        field = "json_extract(record_json, '$.{0}')"
        flag = "(json_extract(record_json, '$.flagged') = 1)"
    checks = [
        f"{c} IS DISTINCT FROM {field.format(c)}"
        if session.get_bind().dialect.name == "postgresql"
        else f"{c} IS NOT {field.format(c)}"
        for c in _COLUMNS
    ]
    checks.append(
        f"flagged IS DISTINCT FROM {flag}"
        if session.get_bind().dialect.name == "postgresql"
        else f"flagged IS NOT {flag}"
    )
    sql = f"SELECT min(seq) FROM audit_entries WHERE {' OR '.join(checks)}"  # noqa: S608 - fixed names
    value = session.execute(text(sql)).scalar()
    return int(value) if value is not None else None


class Filters(TypedDict, total=False):
    """What an entry search may filter on, by the NEN 7513 columns (an empty value: no filter)."""

    subject: str | None
    since: str | None  # recorded_at from, inclusive
    until: str | None  # recorded_at before, exclusive
    agent: str | None
    purpose: str | None
    outcome: str | None
    action: str | None


#: each filter of ``Filters`` as its condition, in the order they are added to the query
_CONDITIONS: dict[str, Callable[[str], ColumnElement[bool]]] = {
    "subject": lambda v: AuditEntry.subject == v,
    "since": lambda v: AuditEntry.recorded_at >= v,
    "until": lambda v: AuditEntry.recorded_at < v,
    "agent": lambda v: AuditEntry.actor_id == v,
    "purpose": lambda v: AuditEntry.purpose == v,
    "outcome": lambda v: AuditEntry.outcome == v,
    "action": lambda v: AuditEntry.action == v,
}


def entries(session: Session, *, limit: int = 500, offset: int = 0, **filters: Unpack[Filters]) -> list[AuditEntry]:
    """Search entries by the NEN 7513 columns, newest first."""
    q = _where(select(AuditEntry), filters)
    return list(session.scalars(q.order_by(AuditEntry.seq.desc()).limit(limit).offset(offset)))


def count_entries(session: Session, **filters: Unpack[Filters]) -> int:
    """How many entries ``entries(**filters)`` finds in all (a searchset's ``total``)."""
    return int(session.scalar(_where(select(func.count()).select_from(AuditEntry), filters)) or 0)


def _where(q: Select[Any], filters: Filters) -> Select[Any]:
    unknown = filters.keys() - _CONDITIONS.keys()
    if unknown:  # as a keyword the search does not take always was
        raise TypeError(f"unknown audit filter {sorted(unknown)[0]!r}")
    for name, condition in _CONDITIONS.items():
        value = cast(str | None, filters.get(name))
        if value:
            q = q.where(condition(value))
    return q


def stored(entry: AuditEntry) -> chain.StoredEntry:
    return chain.StoredEntry(
        entry.seq,
        entry.event_id,
        entry.recorded_at,
        chain.record_from_json(entry.record_json),
        entry.prev_hash,
        entry.hash,
    )


class AuditLog:
    """The audit log on one unit of work (``uow.audit``): append, search and the few reads
    the use cases make, each entry handed out as the chain's ``StoredEntry``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, node: AuditAuthor, record: AuditRecord) -> int:
        return append(self.session, node, record)

    def entries(self, **filters: Any) -> list[chain.StoredEntry]:
        """``entries(session, **filters)``, newest first, as stored entries."""
        return [stored(e) for e in entries(self.session, **filters)]

    def count(self, **filters: Any) -> int:
        return count_entries(self.session, **filters)

    def by_event_id(self, event_id: str) -> chain.StoredEntry | None:
        row = self.session.scalar(select(AuditEntry).where(AuditEntry.event_id == event_id))
        return None if row is None else stored(row)

    def of_exchange(self, exchange_id: str, action: str) -> list[chain.StoredEntry]:
        """The entries of one exchange with ``action``, in the order they were written."""
        rows = self.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.exchange_id == exchange_id, AuditEntry.action == action)
            .order_by(AuditEntry.seq)
        )
        return [stored(r) for r in rows]

    def hash_at(self, seq: int) -> str | None:
        found: str | None = self.session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == seq))
        return found

    def last_seq(self) -> int:

        return int(self.session.execute(select(func.max(AuditEntry.seq))).scalar() or 0)

    def prune_seq(self) -> int:
        """The seq the newest prune checkpoint anchors (0: never pruned)."""

        return int(
            self.session.execute(
                select(func.max(AuditCheckpoint.seq)).where(AuditCheckpoint.kind == chain.KIND_PRUNE)
            ).scalar()
            or 0
        )

    def last_before(self, recorded_at: str) -> chain.StoredEntry | None:
        """The newest entry recorded before ``recorded_at``."""
        row = self.session.execute(
            select(AuditEntry).where(AuditEntry.recorded_at < recorded_at).order_by(AuditEntry.seq.desc()).limit(1)
        ).scalar_one_or_none()
        return None if row is None else stored(row)

    def prune_through(self, anchor: chain.StoredEntry, signed: str) -> int:
        """Delete every entry up to ``anchor`` and keep ``signed``, the prune checkpoint naming
        it (in place of a regular checkpoint at the same seq); return how many went."""

        s = self.session
        count = int(s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.seq <= anchor.seq)) or 0)
        s.execute(delete(AuditEntry).where(AuditEntry.seq <= anchor.seq))
        old = s.get(AuditCheckpoint, anchor.seq)
        if old is not None:  # a regular checkpoint at the same seq names the same entry
            s.delete(old)
            s.flush()
        s.add(AuditCheckpoint(seq=anchor.seq, kind=chain.KIND_PRUNE, hash=anchor.hash, signed=signed))
        s.flush()
        return count
