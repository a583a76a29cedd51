"""The scrape tells an IT department how old the federation list in force is (issue 18, with
issue 15): version, age since the operator published it, and time left before valid-until."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.store.models import FederationState
from gateway import config
from gateway.node import build
from gateway.ops.metrics import StoreCollector


def _gauges(collector: StoreCollector) -> dict[str, float]:
    return {fam.name: fam.samples[0].value for fam in collector.collect() if fam.samples}


def test_a_node_without_a_list_reports_no_list_figures(home: Path) -> None:
    gauges = _gauges(StoreCollector(config.load(home).store.url))
    assert gauges["gateway_store_up"] == 1
    assert not [name for name in gauges if name.startswith("gateway_federation_")]


def test_the_list_in_force_shows_its_version_age_and_time_left(home: Path) -> None:
    cfg = config.load(home)
    node: Any = build(cfg)
    now = datetime.now(UTC)
    with node.uow() as uow:
        state = uow.session.get(FederationState, 1)
        if state is None:
            state = FederationState(
                id=1,
                federation_id="",
                version=0,
                operator_kid="",
                list_sha256="",
                etag="",
                last_modified="",
                last_error="",
            )
            uow.session.add(state)
        state.federation_id, state.version = "regio-west", 7
        state.published_at, state.valid_until = now - timedelta(hours=2), now + timedelta(days=6)
        uow.commit()
    node.uow.engine.dispose()

    gauges = _gauges(StoreCollector(cfg.store.url))

    assert gauges["gateway_federation_list_version"] == 7
    assert 7190 < gauges["gateway_federation_list_age_seconds"] < 7300
    assert 6 * 86400 - 120 < gauges["gateway_federation_list_valid_seconds"] <= 6 * 86400
