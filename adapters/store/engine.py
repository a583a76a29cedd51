"""Engines for the two supported stores: SQLite (embedded default, WAL) and PostgreSQL.

SQLite: WAL so readers never block the writer; every transaction that may write begins
IMMEDIATE so two workers serialise on the write lock at BEGIN instead of failing on upgrade
mid-way (the audit chain needs strictly one appender at a time). A unit of work opened
read-only (execution option ``READ_ONLY``) begins DEFERRED: it reads a WAL snapshot and
never queues behind a writer. PostgreSQL: the audit head row is locked with
SELECT … FOR UPDATE instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event

#: execution option marking a connection whose transactions only read (see UnitOfWorkFactory)
READ_ONLY = "gateway_read_only"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine for ``url`` with the settings each store needs."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below rule
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, **kwargs)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
