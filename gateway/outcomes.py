"""The one place where errors become FHIR ``OperationOutcome`` responses.

A table maps each reason code to its HTTP status and FHIR issue type (contract section 4,
"Refusals"). Views raise domain errors; this module renders them. The OAuth token endpoint
is the single exception: it answers RFC 6749 section 5.2 JSON (see gateway.auth).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from consent import errors as e

log = logging.getLogger(__name__)

REASON_SYSTEM = "https://jggz-gateway.nl/fhir/CodeSystem/refusal-reason"

#: reason code -> (HTTP status, FHIR issue type)
TABLE: dict[str, tuple[int, str]] = {
    e.UnknownPartner.code: (401, "security"),
    e.BadSignature.code: (401, "security"),
    e.TokenExpired.code: (401, "security"),
    e.Replay.code: (401, "security"),
    e.WrongAudience.code: (403, "forbidden"),
    e.ConsentRevoked.code: (403, "forbidden"),
    e.PurposeMismatch.code: (403, "forbidden"),
    e.CategoryNotConsented.code: (403, "forbidden"),
    e.NotShareable.code: (403, "forbidden"),
    e.SubjectUnknown.code: (404, "not-found"),
    e.ConsentStatusUnavailable.code: (503, "transient"),
    e.InvalidRequest.code: (400, "invalid"),
    e.GranteeMismatch.code: (403, "forbidden"),
    e.SubjectMismatch.code: (403, "forbidden"),
    e.PartnerUnavailable.code: (502, "transient"),
    e.PartnerTimeout.code: (504, "timeout"),
    e.BadPartnerSignature.code: (502, "security"),
    e.StoreUnavailable.code: (503, "transient"),
    e.GrantorsInsufficient.code: (422, "business-rule"),
    e.NotFound.code: (404, "not-found"),
    e.Unauthenticated.code: (401, "login"),
    e.Forbidden.code: (403, "forbidden"),
    e.Conflict.code: (409, "conflict"),
    e.NodeBusy.code: (503, "transient"),
}

_HTTP = {404: ("not-found", "not-found", "Dit adres bestaat niet."),
         405: ("method-not-allowed", "not-supported", "Deze methode is hier niet toegestaan."),
         406: ("not-acceptable", "not-supported", "Deze node antwoordt alleen in FHIR JSON (_format=json)."),
         413: ("too-large", "too-long", "Het verzoek is te groot."),
         415: ("unsupported-media-type", "not-supported", "Dit inhoudstype wordt niet ondersteund.")}

#: codes the HTTP layer answers with rather than a domain error: code -> status (None: varies)
EDGE_CODES: dict[str, int | None] = {
    **{code: status for status, (code, _type, _text) in _HTTP.items()}, "internal-error": 500, "http-error": None}


def status_of(code: str) -> int:
    return TABLE.get(code, (500, "exception"))[0]


def outcome(code: str, text: str, *, issue_type: str | None = None, severity: str = "error",
            expression: tuple[str, ...] = (), diagnostics: str = "") -> dict[str, Any]:
    """Build an OperationOutcome whose first issue carries the stable reason code.

    ``details.text`` is the Dutch explanation for people; ``diagnostics`` the English one
    for programs (the Dutch text when there is none) and ``expression`` the FHIRPath of
    the elements at fault.
    """
    issue: dict[str, Any] = {
        "severity": severity,
        "code": issue_type or TABLE.get(code, (500, "exception"))[1],
        "details": {"coding": [{"system": REASON_SYSTEM, "code": code}], "text": text},
        "diagnostics": diagnostics or text,
    }
    if expression:
        issue["expression"] = list(expression)
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def render(code: str, text: str, status: int | None = None, *, expression: tuple[str, ...] = (),
           diagnostics: str = "") -> Response:
    body = outcome(code, text, expression=expression, diagnostics=diagnostics)
    resp = Response(json.dumps(body, ensure_ascii=False), status=status or status_of(code),
                    mimetype="application/fhir+json")
    if code in (e.Unauthenticated.code,):
        resp.headers["WWW-Authenticate"] = 'Bearer realm="gateway"'
    if code == e.NodeBusy.code:
        resp.headers["Retry-After"] = "2"
    return resp


def _challenge(err: e.GatewayError, resp: Response) -> Response:
    """RFC 6750 section 3: a presented but unusable token is ``error="invalid_token"``."""
    if isinstance(err, e.InvalidToken):
        resp.headers["WWW-Authenticate"] = 'Bearer realm="gateway", error="invalid_token"'
    return resp


def init_app(app: Flask) -> None:
    """Register the handlers: domain errors, HTTP errors, and the last-resort 500."""

    @app.errorhandler(e.GatewayError)
    def _domain(err: e.GatewayError) -> Response:
        if isinstance(err, e.PartnerRefusal):  # the partner's own OperationOutcome, passed through
            return Response(json.dumps(err.body, ensure_ascii=False), status=err.status,
                            mimetype="application/fhir+json")
        return _challenge(err, render(err.code, err.detail, expression=err.expression,
                                      diagnostics=err.diagnostics))

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        code, issue, text = _HTTP.get(err.code or 500, ("http-error", "exception", err.name))
        resp = Response(json.dumps(outcome(code, text, issue_type=issue), ensure_ascii=False),
                        status=err.code or 500, mimetype="application/fhir+json")
        if err.code == 405 and hasattr(err, "valid_methods") and err.valid_methods:
            resp.headers["Allow"] = ", ".join(err.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unexpected error")  # the traceback goes to the operator's log only
        return Response(json.dumps(outcome("internal-error", "Er ging iets mis op deze node.",
                                           issue_type="exception"), ensure_ascii=False),
                        status=500, mimetype="application/fhir+json")
