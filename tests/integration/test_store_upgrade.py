"""An IT department upgrades a running node: ``gateway serve`` migrates its store in place.

A store made by the first release (revision 0001), with an audit chain in it, is brought
to the newest revision; nothing is lost and the chain still verifies. And the migrations
build exactly the schema the models describe, so a node never runs on a store that differs
from what its code expects.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from adapters.store import alembic_config, make_engine, migrate, revision_of
from adapters.store.models import Base
from gateway import config
from gateway.demo import data as d
from gateway.fhir import fhir_in
from gateway.node import build
from gateway.repositories import audit_log
from gateway.services import registry


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()  # type: ignore[return-value]


def test_the_first_releases_store_is_upgraded_in_place_and_its_chain_still_verifies(make_home: Any) -> None:
    home = make_home("ggz-noord")
    cfg = config.load(home)
    node = build(cfg)
    audit_log.record_admin(node, "partner-added", peer_org="jeugdteam-west")
    registry.register_person(node, fhir_in.patient(d.patient(d.bsn(3), date(1990, 1, 2), "Sanne", "Jansen-Çelik")))
    node.uow.engine.dispose()
    engine = make_engine(cfg.store.url)
    try:
        with engine.begin() as conn:  # back to the first release's schema, data kept
            command.downgrade(alembic_config(conn), "0001")
        assert revision_of(engine) == "0001"
        assert "ended_sessions" not in inspect(engine).get_table_names()

        migrate(engine)

        assert revision_of(engine) == _head()
        assert "ended_sessions" in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_entries")).scalar_one() >= 1
            # persons registered before the name column got their name filled in
            assert conn.execute(text("SELECT search_name FROM persons")).scalar_one() == "sanne jansen-çelik"
    finally:
        engine.dispose()
    node = build(cfg)
    try:
        assert audit_log.verify(node).ok
    finally:
        node.uow.engine.dispose()


def test_the_migrations_build_the_schema_the_models_describe(make_home: Any) -> None:
    engine = make_engine(config.load(make_home("ggz-noord")).store.url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
