"""The node's access log: one line per request, method, path, status, bytes, milliseconds.

Never the query string (a BSN may be in one), never a header. It replaces gunicorn's
access log, whose per-request formatting (a dictionary of every header and environ
variable) cost about a tenth of a partner request's CPU. The line keeps gunicorn's shape:
``127.0.0.1 "POST /fhir/$behaviour-summary" 200 4657 12ms``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

LOGGER = "gateway.access"


def configure(stream: Any = None) -> logging.Logger:
    """Send access lines to ``stream`` (stdout), once per process."""
    log = logging.getLogger(LOGGER)
    if not log.handlers:
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


class AccessLog:
    """WSGI middleware writing the line when the response has been sent."""

    def __init__(self, app: Callable[..., Iterable[bytes]], log: logging.Logger | None = None) -> None:
        self.app = app
        self.log = log or configure()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        seen: list[str] = []

        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[:] = [status]
            return start_response(status, headers, exc_info)

        return _Logged(self.app(environ, recording), self.log, environ, seen, started)


class _Logged:
    def __init__(self, body: Iterable[bytes], log: logging.Logger, environ: dict[str, Any], seen: list[str],
                 started: float) -> None:
        self.body, self.log, self.environ, self.seen, self.started = body, log, environ, seen, started
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            e = self.environ
            status = self.seen[0].split(" ", 1)[0] if self.seen else "-"
            ms = int((time.perf_counter() - self.started) * 1000)
            self.log.info('%s "%s %s" %s %s %dms', e.get("REMOTE_ADDR", "-"), e.get("REQUEST_METHOD", "-"),
                          e.get("PATH_INFO", ""), status, self.sent or "-", ms)
