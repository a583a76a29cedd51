"""FHIR content negotiation at the edge (FHIR R4 http.html#mime-type, RFC 9110 12.5.1).

The node speaks FHIR JSON only. ``_format`` asking for anything else (``xml``, ``ttl``,
``html``) is answered 406 with an OperationOutcome, as is an ``Accept`` header that names
only FHIR XML or Turtle; a request body that is not JSON is 415 (``gateway.fhir.fhirjson``).
Web pages and ``/oauth/token`` are outside ``/fhir`` and untouched.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import NotAcceptable

JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})
_NOT_JSON = ("xml", "turtle", "ttl")


def _format_ok(value: str) -> bool:
    mime = value.split(";", 1)[0].strip().lower()
    return mime in JSON_FORMATS


def _accept_ok() -> bool:
    """False only when Accept names FHIR XML/Turtle and nothing JSON or wildcard beside it."""
    accept = request.headers.get("Accept", "")
    if not accept.strip():
        return True
    kinds = [part.split(";", 1)[0].strip().lower() for part in accept.split(",") if part.strip()]
    return not all(any(n in k for n in _NOT_JSON) for k in kinds)


def check() -> None:
    if not request.path.startswith("/fhir"):
        return
    fmt = request.args.get("_format")
    if fmt is not None and not _format_ok(fmt):
        raise NotAcceptable()
    if fmt is None and not _accept_ok():
        raise NotAcceptable()


def init_app(app: Flask) -> None:
    app.before_request(check)
