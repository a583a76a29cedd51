"""Alembic environment: always run programmatically with a connection from the node."""

from alembic import context

from adapters.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the gateway drives migrations
    raise SystemExit("run migrations through 'gateway init' / 'gateway migrate'")
context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=connection.dialect.name == "sqlite"
)
with context.begin_transaction():
    context.run_migrations()
