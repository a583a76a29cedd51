"""``gateway serve``: the node under gunicorn (a production WSGI server, not Flask's)."""

from __future__ import annotations

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

        return AccessLog(create_app(self.node_config))


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
    }).run()
