"""once_keys (one-time form tokens and API idempotency keys); who recorded and who
withdrew a consent; flags marked handled

Revision ID: 0004_i20
Revises: 0003
Create Date: 2026-12-03

Issue 20: a reloaded confirmation page or a retried API call must not do anything twice.
Each one-time form token and each ``Idempotency-Key`` is claimed by an atomic insert into
``once_keys`` (the failed insert *is* the repeat), with what the first request led to.
Consents now keep who recorded them and who withdrew them, for the receipt and the audit.
Flagged audit entries can be marked handled by a privacy officer (``flag_reviews``). The
names of professionals who logged in to the pages are kept (``professionals``), so reports
name them rather than their UZI number.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_i20"
down_revision = "0004_i17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "once_keys",
        sa.Column("scope", sa.String(length=160), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("location", sa.String(length=512), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    with op.batch_alter_table("once_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_once_keys_created_at"), ["created_at"], unique=False)
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recorded_by", sa.String(length=128), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("revoked_by", sa.String(length=128), nullable=False, server_default=""))
    op.create_table(
        "professionals",
        sa.Column("actor_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor_id"),
    )
    op.create_table(
        "flag_reviews",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("handled_by", sa.String(length=128), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )


def downgrade() -> None:
    op.drop_table("flag_reviews")
    op.drop_table("professionals")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("revoked_by")
        batch_op.drop_column("recorded_by")
    with op.batch_alter_table("once_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_once_keys_created_at"))
    op.drop_table("once_keys")
