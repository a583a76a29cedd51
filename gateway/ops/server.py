"""``gateway serve``: the node under gunicorn (a production WSGI server, not Flask's)."""

from __future__ import annotations

import gc
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from gateway.app import create_app
from gateway.config import NodeConfig
from gateway.federation.membership import Refresher
from gateway.http import observe
from gateway.http.access_log import AccessLog, configure
from gateway.http.observe import JsonFormatter
from gateway.http.proxy import ForwardedHeaders
from gateway.ops import metrics, tls
from gateway.ops.startup_checks import split_bind, trusted_proxies


class GatewayServer(BaseApplication):
    """Gunicorn with our options; each worker builds its own app (own DB pool, own keys)."""

    def __init__(self, config: NodeConfig, options: dict[str, Any]) -> None:
        self.node_config = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # the worker's own log output (not in wsgi_app: tests build that in their process)
        observe.configure_logging(self.node_config.log.level, self.node_config.log.format)
        return wsgi_app(self.node_config, background=True)


#: this worker's background jobs (federation refresher, PSI setup builder): ``worker_exit``
#: stops them, so a worker never exits with one of them halfway through native code
_BACKGROUND: list[Any] = []


def wsgi_app(config: NodeConfig, *, background: bool = False) -> Any:
    """The node's app as a worker serves it: forwarded-header rule, access log and metrics."""
    app = create_app(config)
    if background:  # a serving worker: its own federation refresher and PSI setup builder
        node = app.extensions["gateway"]
        if config.federation.enabled:  # issue 15: one refresher per worker, one fetch per node
            refresher = Refresher(node)
            refresher.start()
            _BACKGROUND.append(refresher)
        node.locator.start()  # each worker keeps its PSI setup current (section 8)
        _BACKGROUND.append(node.locator)
    pool = app.extensions["gateway"].uow.engine.pool
    checked_out = getattr(pool, "checkedout", None)

    def done(environ: dict[str, Any], status: str, seconds: float) -> None:
        metrics.request_done(environ, status, seconds)
        if checked_out is not None:
            metrics.pool_in_use(checked_out())

    log = configure(fmt=config.log.format, level=config.log.level)
    return ForwardedHeaders(AccessLog(app, log, fmt=config.log.format, on_done=done), trusted_proxies(config))


#: CPython's default (700, 10, 10) runs a young collection every 700 net allocations; a
#: summary of thousands of records keeps most of its objects alive while it is built, so
#: collections that find nothing to free add up and the cost per record grows with the
#: record count (benchmark 5: x1.5 per record from 1,000 to 10,000 records at the default,
#: x1.07 here). Raising the first threshold keeps collection linear; cyclic garbage waits a
#: little longer (50,000 allocations, a few MB at most).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Per worker, once the app is loaded: park the startup heap and relax young collections.

    ``gc.freeze()`` moves every object alive now (imported modules, FHIR models, SQLAlchemy
    mappers: the bulk of the heap, never garbage) out of the collector's sight, so full
    collections during requests walk only what requests allocated.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def post_worker_init(_worker: Any) -> None:
    """Gunicorn hook (also used by the benchmark's baseline servers: the same stack)."""
    tune_gc()


def worker_exit(_server: Any, _worker: Any) -> None:
    """Gunicorn hook, in the exiting worker: stop its background jobs and wait for them."""
    while _BACKGROUND:
        _BACKGROUND.pop().stop()


def _gunicorn_logging(config: NodeConfig) -> dict[str, Any]:
    """With ``[log] format = "json"`` gunicorn's own lines (start, worker exits) are JSON too."""
    return {"logger_class": JsonGunicornLogger} if config.log.format == "json" else {}


def _json_gunicorn_logger() -> type:
    class _JsonLogger(Logger):
        """gunicorn's logger with JSON lines, and never its access log.

        Not ``logconfig_dict``: any log configuration switches gunicorn's access log on,
        whose line holds the query string (a BSN can be in one) and whose per-request
        formatting is what ``gateway.http.access_log`` replaced.
        """

        def setup(self, cfg: Any) -> None:
            super().setup(cfg)

            for handler in self.error_log.handlers:
                handler.setFormatter(JsonFormatter())

        def access(self, *_args: Any, **_kwargs: Any) -> None:
            return None

    return _JsonLogger


JsonGunicornLogger = _json_gunicorn_logger()


def _hooks(config: NodeConfig) -> dict[str, Any]:
    """Gunicorn hooks for ``[metrics]``: the scrape server in the master, dead workers marked."""
    if not config.metrics.bind:
        return {}

    metrics.prepare_multiprocess(config.home)  # before any worker imports prometheus_client
    host, port = split_bind(config.metrics.bind)

    def when_ready(_arbiter: Any) -> None:
        metrics.serve_metrics(host, port, config.store.url)

    def child_exit(_arbiter: Any, worker: Any) -> None:
        metrics.mark_dead(worker.pid)

    return {"when_ready": when_ready, "child_exit": child_exit}


def serve(config: NodeConfig, host: str | None = None, port: int | None = None) -> None:
    """Run the node until interrupted (HTTPS with ``[tls]``, metrics with ``[metrics]``)."""
    s = config.server
    GatewayServer(
        config,
        {
            "bind": f"{host or s.host}:{port or s.port}",
            "workers": s.workers,
            "threads": s.threads,
            "worker_class": "gthread",
            "timeout": s.timeout,
            "graceful_timeout": 10,
            # the access log is gateway.http.access_log (method, path, status: no query strings)
            "accesslog": None,
            "errorlog": "-",
            "preload_app": False,
            # gunicorn 27 opens a control socket under $HOME: in a container that is the data
            # volume, and two nodes of one user would share it. We do not use it.
            "control_socket_disable": True,
            "limit_request_line": 8190,
            "post_worker_init": post_worker_init,
            "worker_exit": worker_exit,
            # X-Forwarded-Proto is believed only from the configured proxies (gunicorn's default
            # trusts loopback): see gateway.http.proxy for X-Forwarded-For
            "forwarded_allow_ips": ",".join(sorted(trusted_proxies(config))),
            "loglevel": config.log.level,
            **_gunicorn_logging(config),
            **tls.server_options(config),
            **_hooks(config),
        },
    ).run()
