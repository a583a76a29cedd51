"""inbox.kind, purpose, consent_id: the inbox keeps consented pushes beside safety disclosures

Revision ID: 0004_i17
Revises: 0003
Create Date: 2026-12-03

Contract section 9: a holder may push a summary under a consent ($send-summary to the
recipient's $receive-summary), and the recipient keeps it in the same inbox as safety
disclosures. ``kind`` tells them apart (``safety-disclosure`` for every existing row),
``purpose`` and ``consent_id`` say under which consent a push came.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_i17"
down_revision = "0004_i16"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=32), server_default="safety-disclosure", nullable=False))
        batch_op.add_column(sa.Column("purpose", sa.String(length=64), server_default="", nullable=False))
        batch_op.add_column(sa.Column("consent_id", sa.String(length=200), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_column("consent_id")
        batch_op.drop_column("purpose")
        batch_op.drop_column("kind")
