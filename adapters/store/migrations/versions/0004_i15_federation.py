"""federation list: members, the list in force, and where each partner's trust comes from

Revision ID: 0004_i15
Revises: 0003
Create Date: 2026-12-03

Issue 15 (contract section 7). A partner is now trusted bilaterally (``partner add``),
through the federation list, or both; a listed member may pin only the keys the list names,
and is trusted only while the list is valid. ``federation_members`` is the list in force
(also the directory); ``federation_state`` is its one state row.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_i15"
down_revision = "0004_i13b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), server_default="bilateral", nullable=False))
        batch_op.add_column(sa.Column("allowed_kids", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("trusted_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("refused", sa.String(length=255), server_default="", nullable=False))
    op.create_table(
        "federation_members",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("ura", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=512), nullable=False),
        sa.Column("thumbprints", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("org_id"),
    )
    op.create_table(
        "federation_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("federation_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("operator_kid", sa.String(length=64), nullable=False),
        sa.Column("list_sha256", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("etag", sa.String(length=255), nullable=False),
        sa.Column("last_modified", sa.String(length=64), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=512), nullable=False),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(
        sa.text(
            "INSERT INTO federation_state (id, federation_id, version, operator_kid, list_sha256, "
            "etag, last_modified, last_error) VALUES (1, '', 0, '', '', '', '', '')"
        )
    )


def downgrade() -> None:
    op.drop_table("federation_state")
    op.drop_table("federation_members")
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.drop_column("refused")
        batch_op.drop_column("trusted_until")
        batch_op.drop_column("allowed_kids")
        batch_op.drop_column("source")
