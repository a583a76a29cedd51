"""What one request leaves for the operator: its correlation id, operation, outcome and partner.

The access log (``gateway.http.access_log``) and the metrics (``gateway.ops.metrics``) read these
from the WSGI environ when the response is done. They are codes and ids only: the route
pattern (``/fhir/Consent/<cid>``, never the id), the contract reason code, the partner's
org id. Never a BSN, a name, a token or a query string. The audit log stays the record of
who saw what; these lines are for running the node.

The correlation id travels across nodes in ``X-Correlation-Id``: a request that carries a
well-formed one (32 lowercase hex digits, as this node makes them) keeps it, anything else
gets a fresh one, and every partner call made while serving the request sends it on. A
well-formed id cannot hold a BSN or a name, so a caller cannot smuggle client data into
the log through it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from flask import request

HEADER = "X-Correlation-Id"
ENVIRON_HEADER = "HTTP_X_CORRELATION_ID"
_WELL_FORMED = re.compile(r"[0-9a-f]{32}")

# environ keys the app fills in for the access log and the metrics
OPERATION = "gateway.operation"
OUTCOME = "gateway.outcome"
PARTNER = "gateway.partner"
CORRELATION = "gateway.correlation_id"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("gateway_correlation_id", default=None)
#: what code deeper down (the partner client) notes for the request being served
_notes: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("gateway_notes", default=None)
NOTES = "gateway.notes"


def correlation_id(environ: dict[str, Any]) -> str:
    """The request's correlation id: the caller's if well formed, else a new one."""
    given = environ.get(ENVIRON_HEADER, "")
    cid = given if isinstance(given, str) and _WELL_FORMED.fullmatch(given) else uuid.uuid4().hex
    environ[CORRELATION] = cid
    return cid


def bind(cid: str | None, environ: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """Make ``cid`` the current request's id (for partner calls made while serving it)."""
    notes: dict[str, str] = {}
    if environ is not None:
        environ[NOTES] = notes
    return _current.set(cid), _notes.set(notes)


def unbind(tokens: tuple[Any, Any]) -> None:
    _current.reset(tokens[0])
    _notes.reset(tokens[1])


def note_partner_call(org_id: str) -> None:
    """The request being served called partner ``org_id`` (its log line names the partner)."""
    notes = _notes.get()
    if notes is not None:
        notes.setdefault("partner", org_id)


def partner_of(environ: dict[str, Any]) -> str:
    """The partner a request came from (a partner operation) or went to (a request we relayed)."""
    return str(environ.get(PARTNER) or (environ.get(NOTES) or {}).get("partner", ""))


def current() -> str | None:
    return _current.get()


def outbound_headers() -> dict[str, str]:
    """Headers every outbound call carries: the correlation id of the request being served."""
    cid = _current.get()
    return {HEADER: cid} if cid else {}


def note(environ: dict[str, Any], key: str, value: str) -> None:
    """Record a code for the access line (first writer of the outcome wins: the real refusal)."""
    if key == OUTCOME and key in environ:
        return
    environ[key] = value


def outcome_of(environ: dict[str, Any], status: str) -> str:
    """The request's outcome code: the reason code the app recorded, else ``ok`` or ``http-NNN``."""
    code = environ.get(OUTCOME)
    if code:
        return str(code)
    number = int(status) if status.isdigit() else 0
    return "ok" if 0 < number < 400 else f"http-{number}"


def init_app(app: Any) -> None:
    """Record each request's route pattern (never its values) as the operation."""

    @app.before_request
    def _operation() -> None:
        rule = request.url_rule
        request.environ[OPERATION] = rule.rule if rule is not None else "unmatched"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the fields passed in ``extra``."""

    FIELDS = (
        "event",
        "method",
        "operation",
        "status",
        "outcome",
        "duration_ms",
        "bytes",
        "partner",
        "correlation_id",
        "remote",
    )

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        for name in self.FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if not hasattr(record, "event"):
            out["message"] = record.getMessage()
            cid = _current.get()
            if cid:
                out["correlation_id"] = cid
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def configure_logging(level: str = "info", fmt: str = "json", stream: Any = None) -> None:
    """Set up the process's log output once: the ``gateway`` loggers, JSON or text, at ``level``."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(
        JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    for name in ("gateway", "adapters"):
        log = logging.getLogger(name)
        log.handlers[:] = [handler]
        log.setLevel(level.upper())
        log.propagate = False
