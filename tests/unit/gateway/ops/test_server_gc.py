"""Each gunicorn worker parks its startup heap and relaxes young collections (gateway/ops/server.py).

Without it the cost per record of a large summary grew with the record count (benchmark 5);
the figures are the benchmark's, these tests hold the wiring.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import config
from gateway.ops import server


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_a_worker_freezes_its_startup_heap_and_raises_the_young_threshold(restored_gc: None) -> None:
    startup_objects = [{"loaded": i} for i in range(1000)]
    server.tune_gc()
    assert gc.get_threshold() == server.GC_THRESHOLDS
    assert gc.get_freeze_count() >= len(startup_objects)


def test_garbage_cycles_are_still_collected_after_tuning(restored_gc: None) -> None:
    server.tune_gc()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # type: ignore[attr-defined]
    del a, b
    assert gc.collect() >= 2


def test_serve_installs_the_hook_in_every_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def run(self: server.GatewayServer) -> None:  # gunicorn is configured, not started
        seen.update(hook=self.cfg.post_worker_init, worker_class=self.cfg.worker_class_str)

    monkeypatch.setattr(server.GatewayServer, "run", run)
    (tmp_path / "node.toml").write_text(
        config.render_toml("ggz-noord", "GGZ Noord", "https://ggz-noord.example", "sqlite:///node.db", "ES256", 8400),
        "utf-8",
    )
    server.serve(config.load(tmp_path, env={}), port=0)
    assert seen == {"hook": server.post_worker_init, "worker_class": "gthread"}
