"""Public endpoints (contract section 2): JWKS, metadata, CodeSystems, health, OAuth token."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, json, request
from sqlalchemy import text
from werkzeug.exceptions import RequestEntityTooLarge

from audit import events
from audit.events import AuditRecord, InvalidAuditRecord
from contract import jwt
from contract.errors import FederationListExpired, GatewayError, StoreUnavailable
from gateway.current import node_of
from gateway.federation.membership import expired_reason
from gateway.fhir.fhirjson import fhir_response
from gateway.http import outcomes
from gateway.http.capability import capability_statement as build
from gateway.http.openapi import document
from gateway.repositories import audit_log

bp = Blueprint("public", __name__)


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    resp = Response(json.dumps(node_of().keys.jwks()), mimetype="application/jwk-set+json")
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.get("/healthz")
def healthz() -> Response:
    return Response(json.dumps({"status": "ok"}), mimetype="application/json")


@bp.get("/readyz")
def readyz() -> Response:
    node = node_of()
    try:
        with node.uow.engine.connect() as conn:
            conn.execute(text("SELECT 1 FROM audit_head"))
    except Exception:  # noqa: BLE001 - any store failure means not ready
        # a 503 is an error like any other: an OperationOutcome with the contract's code
        return outcomes.render(StoreUnavailable.code, "De opslag van de node is niet bereikbaar.")

    expired = expired_reason(node)  # contract section 7: /readyz says why list members are refused
    if expired:
        return outcomes.render(FederationListExpired.code, f"{FederationListExpired.message_nl} ({expired})")
    return Response(json.dumps({"status": "ready"}), mimetype="application/json")


@bp.post("/oauth/token")
def token() -> Response:
    """Issue an access token; every error is RFC 6749 section 5.2 JSON (the contract's exception)."""
    try:
        resp: Response = current_app.extensions["oauth_server"].create_token_response()
    except StoreUnavailable:
        resp = _oauth_error("temporarily_unavailable", 503)
    except GatewayError as exc:  # a refusal from below authlib: still the client's fault
        resp = _oauth_error("invalid_client", 400, exc.detail)
    except RequestEntityTooLarge:
        resp = _oauth_error("invalid_request", 413)
    try:
        _audit_login(resp)
    except GatewayError:
        if resp.status_code == 200:  # no audit, no access
            resp = _oauth_error("temporarily_unavailable", 503)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _who_logs_in() -> str:
    """The client id (local) or org id (partner) that tried to log in, as far as it can be read."""

    name: object = None
    try:
        if request.authorization is not None and request.authorization.type == "basic":
            name = request.authorization.username
        elif request.form.get("client_assertion"):
            name = jwt.peek_claims(request.form["client_assertion"]).get("sub")
    except (GatewayError, RequestEntityTooLarge):
        name = None
    if isinstance(name, str) and 0 < len(name) <= 64 and name.isprintable() and " " not in name:
        return name
    return "unknown"


def _audit_login(resp: Response) -> None:
    """Audit every token request: login (success) or login-failed with the OAuth error code."""
    node = node_of()
    who = _who_logs_in()
    partner = node.partners.is_trusted(who)
    if resp.status_code == 200:
        action, outcome, reason = events.LOGIN, events.SUCCESS, ""
    else:
        error = (resp.get_json(silent=True) or {}).get("error", "invalid_request")
        action, outcome, reason = events.LOGIN_FAILED, events.REFUSED, str(error)[:40]
    try:
        rec = AuditRecord(
            actor_id=f"org:{who}" if partner else f"client:{who}",
            actor_role="partner" if partner else "client",
            access_point="oauth/token",
            peer_org=who if partner else "",
            action=action,
            outcome=outcome,
            reason_code=reason,
        )
    except InvalidAuditRecord:
        rec = AuditRecord(
            actor_id="client:unknown",
            actor_role="client",
            access_point="oauth/token",
            action=action,
            outcome=outcome,
            reason_code=reason,
        )
    with node.uow() as uow:
        audit_log.append(uow.session, node, rec)
        uow.commit()


def _oauth_error(error: str, status: int, description: str | None = None) -> Response:
    body = {"error": error, **({"error_description": description} if description else {})}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def capability_statement(org_id: str, name: str, url: str) -> dict[str, Any]:
    """Build the CapabilityStatement from the route table (gateway.http.capability)."""
    return build(document(org_id, url), org_id=org_id, name=name, url=url)


@bp.get("/fhir/metadata")
def metadata() -> Response:
    cfg = node_of().config.node
    return fhir_response(capability_statement(cfg.org_id, cfg.name, cfg.url.rstrip("/")))


@bp.get("/openapi.json")
def openapi() -> Response:
    """The node's OpenAPI description of its public, local and partner API (gateway.http.openapi)."""
    cfg = node_of().config.node
    return Response(json.dumps(document(cfg.org_id, cfg.url.rstrip("/"))), mimetype="application/json")
