"""persons.search_name: the name search runs in the store over the whole register

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

The web's name search read at most 20,000 persons and matched their names in Python, so in
a larger register the newest clients could not be found by name. The case-folded display
name now sits in its own column. Existing rows are filled here with the same rule as
``gateway.services.registry.search_name`` (frozen here, as a migration must be).
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _search_name(resource_json: str) -> str:
    try:
        names = json.loads(resource_json).get("name") or []
    except (ValueError, AttributeError):
        return ""
    for name in names:
        if not isinstance(name, dict):
            continue
        text = name.get("text")
        if isinstance(text, str) and text.strip():
            return text.strip().casefold()[:512]
        parts = [g for g in name.get("given") or [] if isinstance(g, str)]
        parts.append(name["family"] if isinstance(name.get("family"), str) else "")
        if " ".join(parts).strip():
            return " ".join(parts).strip().casefold()[:512]
    return ""


def upgrade() -> None:
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_name", sa.String(length=512), server_default="", nullable=False))
    conn = op.get_bind()
    persons = sa.table(
        "persons", sa.column("id", sa.String), sa.column("resource", sa.Text), sa.column("search_name", sa.String)
    )
    rows = conn.execute(sa.select(persons.c.id, persons.c.resource)).all()
    update = sa.update(persons).where(persons.c.id == sa.bindparam("pid")).values(search_name=sa.bindparam("name"))
    filled = [{"pid": pid, "name": _search_name(resource)} for pid, resource in rows]
    if filled:
        conn.execute(update, filled)


def downgrade() -> None:
    with op.batch_alter_table("persons", schema=None) as batch_op:
        batch_op.drop_column("search_name")
