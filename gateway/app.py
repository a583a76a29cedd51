"""The app factory: ``create_app(config)`` builds one node's Flask app, nothing at import time."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g

from gateway import web
from gateway.config import NodeConfig
from gateway.fhir import negotiation
from gateway.http import api_conformance, api_local, api_partner, api_public, auth, observe, outcomes
from gateway.node import Node, build
from gateway.repositories import witnesses
from gateway.trust.partners import one_view_per_request


def create_app(config: NodeConfig, *, node: Node | None = None, **overrides: Any) -> Flask:
    """Build the WSGI app of the node configured by ``config``."""
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=config.security.max_request_bytes, JSON_SORT_KEYS=False, **overrides)
    node = node or build(config)
    app.extensions["gateway"] = node
    app.extensions["oauth_server"] = auth.init_app(app, node)
    outcomes.init_app(app)
    observe.init_app(app)
    negotiation.init_app(app)
    _one_partner_view_per_request(app)
    _witnessed_heads(app, node)

    app.register_blueprint(api_public.bp)
    app.register_blueprint(api_conformance.bp)
    app.register_blueprint(api_local.bp)
    app.register_blueprint(api_partner.bp)
    if config.web.enabled:  # the Dutch pages (issue 7): only on a node configured for them
        web.init_app(app, node)
    logging.getLogger("gateway").setLevel(config.log.level.upper())
    return app


def _one_partner_view_per_request(app: Flask) -> None:
    """Read each partner's entry at most once per request (gateway.trust.partners._SEEN)."""
    wsgi_app = app.wsgi_app

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        with one_view_per_request():
            return wsgi_app(environ, start_response)

    app.wsgi_app = wrapped  # type: ignore[method-assign]


def _witnessed_heads(app: Flask, node: Node) -> None:
    """Answer a trusted partner with our latest signed audit head, and keep the heads
    received during a request that appended nothing once its response has gone
    (gateway.repositories.witnesses)."""

    @app.after_request
    def _heads(response: Response) -> Response:
        if g.get("witness_partner"):
            response.headers.update(witnesses.outgoing(node))
        if node.witness is not None and node.witness.pending:
            response.call_on_close(lambda: witnesses.flush_alone(node))
        return response
