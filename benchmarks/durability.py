"""What a durable audit commit costs (issue 13, item 11), measured side by side.

The node commits every audit entry durably: SQLite ``synchronous=FULL`` (the WAL is synced
at every commit), PostgreSQL ``synchronous_commit=on``. This appends to the audit log
through ``audit_log.append`` in real units of work, alternating between an engine with the
node's setting and one with the setting it replaced (SQLite ``NORMAL``, PostgreSQL
``synchronous_commit=off``: both keep a commit across a crash of the process but may lose
it to an OS crash or power cut). Alternating rounds on one store, so a burst of load on a
shared machine hits both settings, not one.

``python -m benchmarks.durability [--stores sqlite,postgresql] [--seconds 1.5]`` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from adapters.store.engine import make_engine
from benchmarks import nodes
from benchmarks.micro import _node_home, _record
from gateway import config
from gateway.node import build
from gateway.repositories import audit_log

#: (label of the node's setting, label of the weaker one) per store
SETTINGS = {"sqlite": ("FULL", "NORMAL"), "postgresql": ("synchronous_commit=on", "synchronous_commit=off")}


def _weaker_engine(url: str, store: str) -> Engine:
    if store == "sqlite":
        return make_engine(url, sqlite_synchronous="NORMAL")
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _asynchronous(dbapi_conn: Any, _rec: Any) -> None:  # runs after the node's own hook
        cur = dbapi_conn.cursor()
        cur.execute("SET synchronous_commit = off")
        cur.close()
        dbapi_conn.commit()

    return engine


def _appends_per_second(node: Any, threads: int, seconds: float) -> float:
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def work(slot: int) -> None:
        i = 0
        while time.monotonic() < stop:
            with node.uow() as uow:
                audit_log.append(uow.session, node, _record(i))
                uow.commit()
            counts[slot] += 1
            i += 1

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    t0 = time.monotonic()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return sum(counts) / (time.monotonic() - t0)


def measure(
    root: Path, store: str, db: str | None, *, threads: tuple[int, ...] = (1, 8), seconds: float = 1.5, rounds: int = 2
) -> dict[str, Any]:
    """Appends per second with the node's durable setting and the weaker one, per thread count."""
    home = _node_home(root, f"durability-{store}", db)
    node = build(config.load(home))
    durable_engine = node.uow.engine
    weaker_engine = _weaker_engine(durable_engine.url.render_as_string(hide_password=False), store)
    durable, weaker = SETTINGS[store]
    out: dict[str, Any] = {"durable": durable, "weaker": weaker}
    try:
        for n in threads:
            best = {durable: 0.0, weaker: 0.0}
            for _ in range(rounds):
                for label, engine in ((durable, durable_engine), (weaker, weaker_engine)):
                    node.uow.rebind(engine)
                    best[label] = max(best[label], _appends_per_second(node, n, seconds))
            out[f"threads_{n}"] = {label: round(v, 1) for label, v in best.items()} | {
                "cost_pct": round(100 * (1 - best[durable] / best[weaker]), 1) if best[weaker] else None
            }
        node.uow.rebind(durable_engine)
        out["chain_intact_after"] = audit_log.verify(node).ok
    finally:
        weaker_engine.dispose()
        durable_engine.dispose()
    return out


def render(results: dict[str, Any]) -> list[str]:
    """Lines for the benchmark table."""
    lines = ["4b. Durable audit commits (audit_log.append, appends/s: the node's setting vs the weaker one)"]
    for store, r in results.items():
        for key, v in r.items():
            if key.startswith("threads_"):
                lines.append(
                    f"   {store:<10} {key.split('_')[1]:>2} thread(s): {r['durable']} "
                    f"{v[r['durable']]}/s vs {r['weaker']} {v[r['weaker']]}/s, durability costs "
                    f"{v['cost_pct']}%"
                )
        lines.append(f"   {store:<10} chain intact after: {r['chain_intact_after']}")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.durability", description=__doc__.splitlines()[0])
    ap.add_argument("--stores", default="sqlite,postgresql")
    ap.add_argument("--seconds", type=float, default=1.5)
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gateway-durability-"))
    results: dict[str, Any] = {}
    for store in [s for s in args.stores.split(",") if s]:
        schemas = nodes.Schemas() if store == "postgresql" else None
        try:
            results[store] = measure(root / store, store, schemas.url() if schemas else None, seconds=args.seconds)
        finally:
            if schemas:
                schemas.cleanup()
    print("\n".join(render(results)))
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
