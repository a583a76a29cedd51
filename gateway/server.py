"""``gateway serve``: the node under gunicorn (a production WSGI server, not Flask's)."""

from __future__ import annotations

import gc
from typing import Any

from gunicorn.app.base import BaseApplication

from gateway.config import NodeConfig


class GatewayServer(BaseApplication):  # type: ignore[misc]
    """Gunicorn with our options; each worker builds its own app (own DB pool, own keys)."""

    def __init__(self, config: NodeConfig, options: dict[str, Any]) -> None:
        self.node_config = config
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from gateway.access_log import AccessLog
        from gateway.app import create_app

        app = create_app(self.node_config)
        if self.node_config.federation.enabled:  # issue 15: one refresher per worker, one fetch per node
            from gateway.federation_trust import Refresher

            Refresher(app.extensions["gateway"]).start()
        app.extensions["gateway"].locator.start()  # each worker keeps its PSI setup current (section 8)
        return AccessLog(app)


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


def serve(config: NodeConfig, host: str | None = None, port: int | None = None) -> None:
    """Run the node until interrupted."""
    s = config.server
    GatewayServer(config, {
        "bind": f"{host or s.host}:{port or s.port}",
        "workers": s.workers,
        "threads": s.threads,
        "worker_class": "gthread",
        "timeout": s.timeout,
        "graceful_timeout": 10,
        # the access log is gateway.access_log (method, path, status: no query strings)
        "accesslog": None,
        "errorlog": "-",
        "preload_app": False,
        # gunicorn 27 opens a control socket under $HOME: in a container that is the data
        # volume, and two nodes of one user would share it. We do not use it.
        "control_socket_disable": True,
        "limit_request_line": 8190,
        "post_worker_init": post_worker_init,
    }).run()
