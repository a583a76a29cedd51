"""Engines for the two supported stores: SQLite (embedded default, WAL) and PostgreSQL.

SQLite: WAL so readers never block the writer; every transaction that may write begins
IMMEDIATE so two workers serialise on the write lock at BEGIN instead of failing on upgrade
mid-way (the audit chain needs strictly one appender at a time). A unit of work opened
read-only (execution option ``READ_ONLY``) begins DEFERRED: it reads a WAL snapshot and
never queues behind a writer. PostgreSQL: the audit head row is locked with
SELECT … FOR UPDATE instead.

Durability (SECURITY.md, "Durable before it leaves"): a use case commits its audit entry
before anything leaves the node, so a commit must survive a power cut, not only a crash
of the process. SQLite runs ``synchronous=FULL`` on every connection: in WAL mode the WAL
is synced at every commit (``NORMAL`` syncs only at checkpoints, and a commit can vanish on
an OS crash). Nearly every writing transaction carries an audit entry, so the whole store
runs FULL. PostgreSQL commits durably when ``fsync`` is on (a server setting) and the
session's ``synchronous_commit`` is not ``off``; a connection that arrives with ``off``
(from the server, database or role defaults, or the URL's ``options``) is set to ``on``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event

#: execution option marking a connection whose transactions only read (see UnitOfWorkFactory)
READ_ONLY = "gateway_read_only"

#: SQLite ``PRAGMA synchronous`` on every connection (benchmarks compare it with NORMAL)
SQLITE_SYNCHRONOUS = "FULL"
_SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")


def make_engine(url: str, *, sqlite_synchronous: str = SQLITE_SYNCHRONOUS, **kwargs: Any) -> Engine:
    """Create the engine for ``url`` with the settings each store needs.

    ``sqlite_synchronous`` exists for the benchmark that measures what durability costs;
    the node always runs the default.
    """
    if sqlite_synchronous not in _SYNCHRONOUS_LEVELS:
        raise ValueError(f"unknown SQLite synchronous level {sqlite_synchronous!r}")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below rule
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, **kwargs)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _durable_commits)
    return engine


def _durable_commits(dbapi_conn: Any, _rec: Any) -> None:
    """Make sure a PostgreSQL session waits for its commits to reach disk.

    ``local``, ``remote_write``, ``remote_apply`` and ``on`` all flush the local WAL before
    the commit returns; only ``off`` does not, so only ``off`` is changed (a stronger
    setting chosen for a synchronous standby stays).
    """
    cur = dbapi_conn.cursor()
    try:
        cur.execute("SHOW synchronous_commit")
        if str(cur.fetchone()[0]).lower() == "off":
            cur.execute("SET synchronous_commit = on")
    finally:
        cur.close()
    dbapi_conn.commit()  # a SET in a transaction that later rolls back would be undone


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
