"""locator_state and locator_rate: findable persons and PSI (contract section 8)

Revision ID: 0004_i16
Revises: 0003
Create Date: 2026-12-03

``locator_state`` is one row: the master key each epoch's PSI key derives from, and a
generation counter that grows with every findable consent recorded or revoked.
``locator_rate`` counts each partner's match requests per window, shared by all workers.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_i16"
down_revision = "0004_i15"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "locator_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("master_id", sa.String(length=32), nullable=False),
        sa.Column("master_key", sa.String(length=64), nullable=False),
        sa.Column("master_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "locator_rate",
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("partner"),
    )


def downgrade() -> None:
    op.drop_table("locator_rate")
    op.drop_table("locator_state")
