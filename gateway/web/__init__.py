"""The node's Dutch pages for its own professionals and privacy officers (issue 7).

Server-rendered HTML that works without JavaScript; login through the organisation's
OpenID Connect provider (``gateway.web.oidc``); a per-session CSRF token on every POST, a
signed session cookie with an idle timeout and a strict Content-Security-Policy
(``gateway.web.security``). Client data travels in POST bodies only: URLs carry opaque
ids, never a BSN or a name. Views parse a form, call one use case in ``gateway.services``,
and render; the family overview is assembled per request and never stored.

Registered by ``gateway.app.create_app`` only when ``[web] enabled`` is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:  # only the annotation: importing gateway.web (for .receipt or .present) stays light
    from gateway.node import Node

__all__ = ["init_app"]


def init_app(app: Flask, node: Node) -> None:
    """Plug the pages into ``app``: session and CSP policy, the IdP client, the blueprints."""
    from gateway.web import oidc, orgs, routes, security  # noqa: PLC0415 - the pages load only in init_app, so gateway.web.receipt and .present import light

    orgs.init_app(app)
    security.init_app(app, node.config)
    oidc.init_app(app, node.config)
    app.register_blueprint(routes.bp)
