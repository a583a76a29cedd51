"""Render one of the pages' templates as a response.

Apart from ``gateway.web.views`` so that the helpers the views use (``gateway.web.onetime``)
can render a page without importing the views back.
"""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template


def page(template: str, status: int = 200, **context: Any) -> Response:
    """Render one of our templates as a response (headers are added in ``after_request``)."""
    return make_response(render_template(f"web/{template}", **context), status)
