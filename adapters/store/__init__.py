"""The store: SQLAlchemy engine, unit of work and Alembic migrations (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from adapters.store.engine import is_postgres, make_engine
from adapters.store.uow import Duplicate, UnitOfWork, UnitOfWorkFactory

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine_connection: object | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = engine_connection
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (safe to run on every start)."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


__all__ = ["Duplicate", "UnitOfWork", "UnitOfWorkFactory", "is_postgres", "make_engine", "migrate", "revision_of"]
