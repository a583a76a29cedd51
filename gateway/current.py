"""The node that serves the current request, for views and request helpers.

It lives apart from the app factory (``gateway.app``) so that the blueprints and pages the
factory registers can import it without importing the factory back.
"""

from __future__ import annotations

from flask import current_app

from gateway.node import Node


def node_of() -> Node:
    """The current app's node (views only)."""
    return current_app.extensions["gateway"]  # type: ignore[no-any-return]
