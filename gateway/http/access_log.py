"""The node's access log: one line per request, method, path, status, bytes, milliseconds.

Never the query string (a BSN may be in one), never a header. It replaces gunicorn's
access log, whose per-request formatting (a dictionary of every header and environ
variable) cost about a tenth of a partner request's CPU. The line keeps gunicorn's shape:
``127.0.0.1 "POST /fhir/$behaviour-summary" 200 4657 12ms``.

With ``[log] format = "json"`` (the default of ``gateway serve``) each line is one JSON
object instead: time, method, operation (the route pattern, never its values), status,
outcome (the contract reason code, or ``ok``), duration, bytes, the partner's org id
and the correlation id (``gateway.http.observe``). Every response carries its
``X-Correlation-Id``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gateway.http import observe

LOGGER = "gateway.access"

#: called with (environ, status code, seconds) when a response is done (gateway.ops.metrics)
Done = Callable[[dict[str, Any], str, float], None]


def configure(stream: Any = None, fmt: str = "text", level: str = "info") -> logging.Logger:
    """Send access lines to ``stream`` (stdout), once per process."""
    log = logging.getLogger(LOGGER)
    if not log.handlers:
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(observe.JsonFormatter() if fmt == "json" else logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(level.upper())
        log.propagate = False
    return log


class AccessLog:
    """WSGI middleware writing the line when the response has been sent."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        log: logging.Logger | None = None,
        *,
        fmt: str = "text",
        on_done: Done | None = None,
    ) -> None:
        self.app = app
        self.log = log or configure(fmt=fmt)
        self.fmt = fmt
        self.on_done = on_done

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        seen: list[str] = []
        cid = observe.correlation_id(environ)

        def recording(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[:] = [status]
            return start_response(status, [*headers, (observe.HEADER, cid)], exc_info)

        token = observe.bind(cid, environ)
        try:
            body = self.app(environ, recording)
        finally:
            observe.unbind(token)
        return _Logged(body, self, environ, seen, started)


class _Logged:
    def __init__(
        self, body: Iterable[bytes], owner: AccessLog, environ: dict[str, Any], seen: list[str], started: float
    ) -> None:
        self.body, self.owner, self.environ, self.seen, self.started = body, owner, environ, seen, started
        self.log = owner.log
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
            seconds = time.perf_counter() - self.started
            ms = int(seconds * 1000)
            if self.owner.on_done is not None:
                self.owner.on_done(e, status, seconds)
            if self.owner.fmt == "json":
                self.log.info(
                    "request",
                    extra={
                        "event": "request",
                        "method": e.get("REQUEST_METHOD", "-"),
                        "operation": e.get(observe.OPERATION, "unmatched"),
                        "status": int(status) if status.isdigit() else 0,
                        "outcome": observe.outcome_of(e, status),
                        "duration_ms": round(seconds * 1000, 1),
                        "bytes": self.sent,
                        "partner": observe.partner_of(e),
                        "correlation_id": e.get(observe.CORRELATION, ""),
                        "remote": e.get("REMOTE_ADDR", "-"),
                    },
                )
            else:
                self.log.info(
                    '%s "%s %s" %s %s %dms',
                    e.get("REMOTE_ADDR", "-"),
                    e.get("REQUEST_METHOD", "-"),
                    e.get("PATH_INFO", ""),
                    status,
                    self.sent or "-",
                    ms,
                )
