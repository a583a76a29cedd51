"""The one-hop baseline: the same server stack as a node (gunicorn gthread + Flask, same
workers and threads) answering ``POST /fhir/$behaviour-summary`` with a prebuilt signed
summary Bundle: the body is read and parsed as strict I-JSON, the bearer header is read,
and the stored bytes go back. No consent, no audit, no database, no outbound call.

Run as ``python -m benchmarks.baseline PORT WORKERS THREADS BUNDLE_FILE`` (the benchmark
starts it as a subprocess, exactly as ``gateway serve`` starts a node).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication

from contract import ijson
from gateway.http.access_log import AccessLog
from gateway.ops.server import post_worker_init


def create_app(bundle: bytes) -> Flask:
    app = Flask(__name__)

    @app.post("/fhir/$behaviour-summary")
    def summary() -> Response:
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return Response(b"{}", status=401, mimetype="application/fhir+json")
        body = ijson.loads(request.get_data(cache=False))
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            return Response(b"{}", status=400, mimetype="application/fhir+json")
        return Response(bundle, mimetype="application/fhir+json")

    @app.get("/readyz")
    def readyz() -> Response:
        return Response(b'{"status":"ready"}', mimetype="application/json")

    return app


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return AccessLog(self.application)


def serve(app: Flask, port: int, workers: int, threads: int) -> None:
    """The node's gunicorn options (gateway/ops/server.py), its GC tuning and access log middleware."""
    _Server(
        app,
        {
            "bind": f"127.0.0.1:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": 30,
            "accesslog": None,
            "errorlog": "-",
            "preload_app": False,
            "control_socket_disable": True,
            "post_worker_init": post_worker_init,
        },
    ).run()


def main(argv: list[str]) -> None:
    port, workers, threads, bundle_file = int(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    serve(create_app(Path(bundle_file).read_bytes()), port, workers, threads)


if __name__ == "__main__":
    main(sys.argv[1:])
