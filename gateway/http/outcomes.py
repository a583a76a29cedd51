"""The one place where errors become FHIR ``OperationOutcome`` responses.

A table maps each reason code to its HTTP status and FHIR issue type (contract section 4,
"Refusals"). Views raise domain errors; this module renders them. The OAuth token endpoint
is the single exception: it answers RFC 6749 section 5.2 JSON (see gateway.http.auth).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Flask, Response, has_request_context, json, request
from werkzeug.exceptions import HTTPException

from contract import errors as e
from contract.systems import REFUSAL_REASON_SYSTEM
from gateway.http import observe
from gateway.ops import metrics
from profiles import catalog

log = logging.getLogger(__name__)

_CODE = re.compile(r"[a-z0-9-]{1,40}")
REASON_SYSTEM = REFUSAL_REASON_SYSTEM

#: reason code -> HTTP status (None: it varies), read from the refusal-reason CodeSystem: the
#: one place each code's status is written (contract section 4, "Refusals")
STATUS: dict[str, int | None] = catalog.http_statuses(REFUSAL_REASON_SYSTEM)

#: reason code -> FHIR issue type (OperationOutcome.issue.code) for the domain's errors
ISSUE_TYPES: dict[str, str] = {
    e.UnknownPartner.code: "security",
    e.BadSignature.code: "security",
    e.TokenExpired.code: "security",
    e.Replay.code: "security",
    e.WrongAudience.code: "forbidden",
    e.ConsentRevoked.code: "forbidden",
    e.PurposeMismatch.code: "forbidden",
    e.CategoryNotConsented.code: "forbidden",
    e.NotShareable.code: "forbidden",
    e.SubjectUnknown.code: "not-found",
    e.ConsentStatusUnavailable.code: "transient",
    e.InvalidRequest.code: "invalid",
    e.GranteeMismatch.code: "forbidden",
    e.SubjectMismatch.code: "forbidden",
    e.PartnerUnavailable.code: "transient",
    e.PartnerTimeout.code: "timeout",
    e.BadPartnerSignature.code: "security",
    e.StoreUnavailable.code: "transient",
    e.IssuerNotParty.code: "forbidden",
    e.GrantorsInsufficient.code: "business-rule",
    e.NotFound.code: "not-found",
    e.Unauthenticated.code: "login",
    e.Forbidden.code: "forbidden",
    e.Conflict.code: "conflict",
    e.NodeBusy.code: "transient",
    e.FederationListExpired.code: "transient",
    e.LocatorEpochChanged.code: "conflict",
    e.IdempotencyKeyReused.code: "business-rule",
}

#: codes the HTTP layer answers with rather than a domain error: code -> (issue type, Dutch text)
_HTTP_CODES: dict[str, tuple[str, str]] = {
    "not-found": ("not-found", "Dit adres bestaat niet."),
    "method-not-allowed": ("not-supported", "Deze methode is hier niet toegestaan."),
    "not-acceptable": ("not-supported", "Deze node antwoordt alleen in FHIR JSON (_format=json)."),
    "too-large": ("too-long", "Het verzoek is te groot."),
    "unsupported-media-type": ("not-supported", "Dit inhoudstype wordt niet ondersteund."),
}
_LAST_RESORT = ("http-error", "internal-error")  # any other HTTP error; the unexpected 500


def _status(code: str) -> int:
    status = STATUS.get(code)
    if status is None:  # a data error: stop the node at start-up, not at the first refusal
        raise ValueError(f"refusal-reason CodeSystem gives no http-status for {code!r}")
    return status


#: reason code -> (HTTP status, FHIR issue type)
TABLE: dict[str, tuple[int, str]] = {code: (_status(code), issue) for code, issue in ISSUE_TYPES.items()}

_HTTP: dict[int, tuple[str, str, str]] = {
    _status(code): (code, issue, text) for code, (issue, text) in _HTTP_CODES.items()
}

#: codes the HTTP layer answers with rather than a domain error: code -> status (None: varies)
EDGE_CODES: dict[str, int | None] = {
    **{code: _status(code) for code in _HTTP_CODES},
    **{code: STATUS.get(code) for code in _LAST_RESORT},
}


def answerable() -> dict[str, int | None]:
    """Every reason code this node can answer, with its HTTP status (None: it varies).

    The domain table, the HTTP-level errors, ``http-error`` for any other HTTP error and
    ``internal-error`` for the last-resort 500. README's code table and the refusal-reason
    CodeSystem list exactly these (a test compares them).
    """
    codes: dict[str, int | None] = {code: status for code, (status, _) in TABLE.items()}
    codes.update(EDGE_CODES)
    return codes


def status_of(code: str) -> int:
    return TABLE.get(code, (500, "exception"))[0]


def outcome(
    code: str,
    text: str,
    *,
    issue_type: str | None = None,
    severity: str = "error",
    expression: tuple[str, ...] = (),
    diagnostics: str = "",
) -> dict[str, Any]:
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


def _noted(code: str) -> None:
    """Leave the reason code for the access log and the metrics (gateway.http.observe)."""
    if has_request_context():
        if code not in TABLE and not _CODE.fullmatch(code):  # a partner's code: bounded, or not at all
            code = "partner-refusal"
        observe.note(request.environ, observe.OUTCOME, code)
        if code == e.StoreUnavailable.code:
            metrics.store_error()


def render(
    code: str,
    text: str,
    status: int | None = None,
    retry_after: int = 2,
    *,
    expression: tuple[str, ...] = (),
    diagnostics: str = "",
) -> Response:
    _noted(code)
    body = outcome(code, text, expression=expression, diagnostics=diagnostics)
    resp = Response(
        json.dumps(body, ensure_ascii=False), status=status or status_of(code), mimetype="application/fhir+json"
    )
    if code in (e.Unauthenticated.code,):
        resp.headers["WWW-Authenticate"] = 'Bearer realm="gateway"'
    if code == e.NodeBusy.code:
        resp.headers["Retry-After"] = str(retry_after)
    return resp


def http_error(status: int, name: str = "") -> Response:
    """An HTTP-level error (unknown address, wrong method) as an OperationOutcome."""
    code, issue, text = _HTTP.get(status, ("http-error", "exception", name))
    _noted(code)
    return Response(
        json.dumps(outcome(code, text, issue_type=issue), ensure_ascii=False),
        status=status,
        mimetype="application/fhir+json",
    )


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
            _noted(err.reason if isinstance(getattr(err, "reason", None), str) else "partner-refusal")
            return Response(
                json.dumps(err.body, ensure_ascii=False), status=err.status, mimetype="application/fhir+json"
            )
        # an error may carry its own status where the contract pins one for that case
        # (NotAParty: 422 invalid-request at POST /fhir/Consent)
        return _challenge(
            err,
            render(
                err.code,
                err.detail,
                getattr(err, "http_status", None),
                retry_after=getattr(err, "retry_after", 2),
                expression=err.expression,
                diagnostics=err.diagnostics,
            ),
        )

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        resp = http_error(err.code or 500, err.name)
        if err.code == 405 and hasattr(err, "valid_methods") and err.valid_methods:
            resp.headers["Allow"] = ", ".join(err.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unexpected error")  # noqa: LOG004 - Flask calls this inside its except block; the traceback goes to the operator's log only
        _noted("internal-error")
        return Response(
            json.dumps(
                outcome("internal-error", "Er ging iets mis op deze node.", issue_type="exception"), ensure_ascii=False
            ),
            status=500,
            mimetype="application/fhir+json",
        )
