"""Prometheus metrics (``prometheus_client``), served on ``[metrics] bind``, never the partner port.

What is counted: requests and their latency per operation (the route pattern) and outcome
(the contract reason code, or ``ok``), partner calls and their latency per partner org id,
operation and status, audit appends, store errors, database connections in use, and at
scrape time from the store: the audit chain's length and the number of trusted partners.
Labels are codes and org ids only: never a BSN, a name, a token or a URL's values.

With several gunicorn workers, each worker writes its samples to files in a directory
of its own (``prometheus_client``'s multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``, set
by ``gateway serve`` before any worker starts and emptied at each start). The gunicorn
master serves ``GET /metrics`` from a small HTTP server thread on the metrics bind and adds
up every worker's files at each scrape; a worker that exits is marked dead so its live
gauges drop out. ``prometheus_client`` is imported lazily, after the directory is set:
the value class it picks at import decides whether samples go to files.
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from adapters.store import make_engine
from adapters.store.models import FederationState
from gateway.http import observe

#: request latency buckets (seconds): an exchange is 15-150 ms here, a family overview seconds
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ENV = "PROMETHEUS_MULTIPROC_DIR"


_made: list[Any] = []
_making = threading.Lock()


def _m() -> Any:
    """The process's metric objects, made once (after the multiprocess directory is known).

    Under a lock: two threads of a fresh worker answering their first requests together
    would otherwise both register the metrics, and the second registration fails.
    """
    if _made:
        return _made[0]
    with _making:
        if not _made:
            _made.append(_create())
    return _made[0]


def _create() -> Any:
    from prometheus_client import Counter, Gauge, Histogram  # noqa: PLC0415 - after PROMETHEUS_MULTIPROC_DIR is set (module docstring)

    return SimpleNamespace(
        requests=Counter(
            "gateway_requests", "Requests answered, per operation and outcome code", ["operation", "outcome", "status"]
        ),
        latency=Histogram(
            "gateway_request_duration_seconds", "Time to answer a request", ["operation", "outcome"], buckets=BUCKETS
        ),
        partner=Histogram(
            "gateway_partner_call_duration_seconds",
            "Calls to partner nodes",
            ["partner", "operation", "status"],
            buckets=BUCKETS,
        ),
        audit=Counter("gateway_audit_appends", "Audit entries appended by this node"),
        store_errors=Counter("gateway_store_errors", "Requests refused because the store failed"),
        pool=Gauge("gateway_db_connections_in_use", "Database connections checked out", multiprocess_mode="livesum"),
    )


def request_done(environ: dict[str, Any], status: str, seconds: float) -> None:
    """Count one answered request (the access log's ``on_done``)."""
    operation = environ.get(observe.OPERATION, "unmatched")
    outcome = observe.outcome_of(environ, status)
    m = _m()
    m.requests.labels(operation, outcome, status).inc()
    m.latency.labels(operation, outcome).observe(seconds)


def partner_call(partner: str, operation: str, status: int | str, seconds: float) -> None:
    _m().partner.labels(partner, operation, str(status)).observe(seconds)


def audit_appended(count: int = 1) -> None:
    _m().audit.inc(count)


def store_error() -> None:
    _m().store_errors.inc()


def pool_in_use(count: int) -> None:
    _m().pool.set(count)


def prepare_multiprocess(home: Path) -> Path:
    """Empty ``HOME/run/metrics`` and point ``prometheus_client`` at it (before any worker)."""
    directory = Path(home) / "run" / "metrics"
    shutil.rmtree(directory, ignore_errors=True)  # samples of an earlier run are not this run's
    directory.mkdir(parents=True, mode=0o700)
    os.environ[ENV] = str(directory)
    return directory


class StoreCollector:
    """Figures read from the store at scrape time (the master holds no app, so it asks the DB)."""

    def __init__(self, store_url: str) -> None:
        # NullPool: the master forks workers; it must keep no connection open across a fork
        self.engine = (
            make_engine(store_url, poolclass=NullPool) if store_url.startswith("sqlite") else _pg_engine(store_url)
        )

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily  # noqa: PLC0415 - after PROMETHEUS_MULTIPROC_DIR is set (module docstring)

        up = GaugeMetricFamily("gateway_store_up", "1 when the store answered this scrape")
        try:
            with self.engine.connect() as conn:
                seq = conn.execute(text("SELECT seq FROM audit_head")).scalar()
                partners = conn.execute(text("SELECT count(*) FROM partners")).scalar()
                fed = conn.execute(
                    select(FederationState.version, FederationState.published_at, FederationState.valid_until)
                ).first()
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "gateway_audit_chain_length", "Entries in the audit chain (head seq)", value=int(seq or 0)
        )
        yield GaugeMetricFamily("gateway_partners_trusted", "Trusted partner nodes", value=int(partners or 0))
        yield from _federation_figures(fed)


def _federation_figures(fed: Any) -> Any:
    """The federation list in force (issue 15): its version, age and time left; none without a list."""
    from prometheus_client.core import GaugeMetricFamily  # noqa: PLC0415 - after PROMETHEUS_MULTIPROC_DIR is set (module docstring)

    if fed is None or not fed.version:
        return
    now = datetime.now(UTC)

    def aware(moment: datetime) -> datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    yield GaugeMetricFamily(
        "gateway_federation_list_version", "Version of the federation list in force", value=int(fed.version)
    )
    if fed.published_at is not None:
        yield GaugeMetricFamily(
            "gateway_federation_list_age_seconds",
            "Seconds since the list in force was published by the operator",
            value=(now - aware(fed.published_at)).total_seconds(),
        )
    if fed.valid_until is not None:
        yield GaugeMetricFamily(
            "gateway_federation_list_valid_seconds",
            "Seconds until the list in force passes its valid-until (negative: expired)",
            value=(aware(fed.valid_until) - now).total_seconds(),
        )


def _pg_engine(url: str) -> Any:
    return create_engine(url, poolclass=NullPool)


def registry(store_url: str | None) -> Any:
    """A registry adding up every worker's samples (multiprocess mode) plus the store figures."""
    from prometheus_client import CollectorRegistry  # noqa: PLC0415 - after PROMETHEUS_MULTIPROC_DIR is set (module docstring)
    from prometheus_client.multiprocess import MultiProcessCollector  # noqa: PLC0415 - after PROMETHEUS_MULTIPROC_DIR is set (module docstring)

    reg = CollectorRegistry()
    MultiProcessCollector(reg)
    if store_url:
        reg.register(StoreCollector(store_url))
    return reg


def serve_metrics(host: str, port: int, store_url: str | None) -> Any:
    """Start ``GET /metrics`` on ``host:port`` in a daemon thread; return the HTTP server."""
    from prometheus_client import start_http_server  # noqa: PLC0415 - after PROMETHEUS_MULTIPROC_DIR is set (module docstring)

    try:
        server, _thread = start_http_server(port, addr=host, registry=registry(store_url))
    except OSError as exc:  # the node does not run unmonitored by surprise: serve stops (exit 1)
        raise OSError(f"metrics.bind {host}:{port}: cannot listen ({exc.strerror or exc})") from None
    return server


def mark_dead(pid: int) -> None:
    """A worker exited: its live gauges leave the sum (gunicorn ``child_exit``)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess  # noqa: PLC0415 - after PROMETHEUS_MULTIPROC_DIR is set (module docstring)

        multiprocess.mark_process_dead(pid)
