"""Render the self-contained documents a person keeps: the consent receipt and the AVG report.

They are printed, saved and handed over on their own, outside the pages' layout, so they
come from their own Jinja environment over ``templates/documents`` rather than the app's:
usable without an application context (the CLI prints the report). Autoescape is on for
every template and an undefined name raises instead of printing nothing, so a value can
neither inject markup nor silently drop out of a document.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

__all__ = ["render"]


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("gateway.web", "templates/documents"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """Return ``template`` (a file in ``templates/documents``) rendered with ``context``, escaped."""
    return _environment().get_template(template).render(**context)
