"""Node-to-node API (contract section 4): partner-authenticated operations."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from contract.errors import InvalidRequest, UnknownPartner
from gateway.current import node_of
from gateway.fhir import parameters
from gateway.fhir.fhirjson import fhir_response, read_body
from gateway.http import auth
from gateway.http.context import partner_caller
from gateway.services import consents, exchange, locator, push, reconcile, safety, witnesses

bp = Blueprint("partner", __name__)


def _parameters() -> dict[str, Any]:
    """The request's ``Parameters``, for a use case's reader to parse and audit if it fails."""
    return read_body("Parameters")


@bp.post("/fhir/$behaviour-summary")
def behaviour_summary() -> Response:
    try:
        who = partner_caller()
    except UnknownPartner:
        # A valid access token of ours, but not a trusted partner's (a local client, or a
        # partnership since ended): a refused disclosure, audited like every other.
        caller = auth.verify_access_token(node_of(), request.headers.get("Authorization"))
        exchange.refuse_unknown_partner(node_of(), caller.client_id, caller.role, request.remote_addr or "")
        raise
    node = node_of()
    ask = exchange.read_disclosure_ask(node, _parameters, who.client_id)
    return fhir_response(exchange.disclose_summary(node, ask))


@bp.post("/fhir/$consent-status")
def consent_status() -> Response:
    who = partner_caller()
    values = parameters.read(read_body("Parameters"), {"consent": parameters.Spec("valueString", required=True)})
    status = consents.status_for_partner(node_of(), parameters.fhir_id(values["consent"], "consent"), who.client_id)
    return fhir_response(parameters.build(status=("valueCode", status)))


@bp.post("/fhir/$receive-disclosure")
def receive_disclosure() -> Response:
    who = partner_caller()
    node = node_of()
    return fhir_response(safety.receive(node, safety.read_disclosure(node, _parameters, who.client_id)))


@bp.post("/fhir/$receive-summary")
def receive_summary() -> Response:
    """A consented push from a trusted partner (contract section 9), kept in the inbox."""
    who = partner_caller()
    node = node_of()
    return fhir_response(push.receive(node, push.read_push(node, _parameters, who.client_id)))


@bp.post("/fhir/$consent-revoked")
def consent_revoked() -> Response:
    """A best-effort notice from an issuer that a consent naming us was revoked."""
    who = partner_caller()
    values = parameters.read(read_body("Parameters"), {"consent": parameters.Spec("valueString", required=True)})
    consents.note_revocation(node_of(), parameters.fhir_id(values["consent"], "consent"), who.client_id)
    return fhir_response(parameters.build(status=("valueCode", "noted")))


@bp.post("/fhir/$exchange-receipts")
def exchange_receipts() -> Response:
    """Signed receipts of our mutual exchanges, for the partner's reconciliation."""
    who = partner_caller()
    values = parameters.read(read_body("Parameters"), {"since": parameters.Spec("valueString")})
    since = parameters.date(values["since"], "since") if "since" in values else None
    signed = reconcile.sign_receipts(node_of(), who.client_id, since)
    return fhir_response(parameters.build(receipts=("valueString", signed)))


@bp.post("/fhir/$audit-head")
def audit_head() -> Response:
    """The head of the caller's audit log we witnessed, and our own (README: witnessed heads)."""
    who = partner_caller()
    if request.get_data(cache=True):  # no input: no body, or a Parameters without parameters
        if read_body("Parameters").get("parameter"):
            raise InvalidRequest("$audit-head heeft geen parameters.")
    return fhir_response(witnesses.answer(node_of(), who.client_id))


def _locator_caller() -> str:
    """The trusted partner calling a locator operation; a non-partner's call is audited."""
    try:
        return partner_caller().client_id
    except UnknownPartner:
        caller = auth.verify_access_token(node_of(), request.headers.get("Authorization"))
        exchange.refuse_unknown_partner(node_of(), caller.client_id, caller.role, request.remote_addr or "")
        raise


@bp.post("/fhir/$locator-setup")
def locator_setup() -> Response:
    """The PSI setup of this node's findable persons (contract section 8); no input."""
    who = _locator_caller()
    if request.content_length:
        body = read_body("Parameters")
        if body.get("parameter") or set(body) - {"resourceType", "id", "meta", "parameter"}:
            raise InvalidRequest("$locator-setup neemt geen parameters.")
    return fhir_response(locator.serve_setup(node_of(), who))


@bp.post("/fhir/$locator-match")
def locator_match() -> Response:
    """Answer a blinded PSI request under the current epoch (contract section 8)."""
    who = _locator_caller()
    node = node_of()
    return fhir_response(locator.answer_match(node, locator.read_match(node, _parameters, who)))
