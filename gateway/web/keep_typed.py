"""A session that timed out keeps what was typed (issue 20.5, WCAG 2.2.1 "Timing adjustable").

The pages use no JavaScript, so they cannot count down. Instead:

- every form says when the session will end without activity (``[web] session_idle_minutes``);
- a form sent after the session ended is not thrown away with "formulier is verlopen": if
  it carries the CSRF token of the session that just ended (so it is that user's own form,
  not a forged one), its fields are kept in the store for ``KEEP_MINUTES`` under a random
  key that only this browser's cookie names, and the user is asked to log in again;
- after login the start page offers to restore it: the form page opens filled in with what
  was typed, nothing is done until the user sends it again.

Kept forms are the organisation's own data in its own store, never in a cookie, URL or
log, and are deleted when restored or after ``KEEP_MINUTES``.
"""

from __future__ import annotations

import hmac
import secrets

from flask import request, session

from gateway.node import Node
from gateway.services import onetime

KEEP_MINUTES = int(onetime.KEEP_FORM.total_seconds() // 60)
#: the forms whose typing is worth keeping (path patterns end in these)
FORMS = ("/toestemming", "/samenvatting", "/veiligheidsmelding")
_SKIP = {"csrf_token", "form_once"}


def keepable() -> bool:
    """This POST came after the user's own session ended, to a form worth keeping."""
    if request.method != "POST" or not request.path.startswith("/clienten/"):
        return False
    if not request.path.endswith(FORMS):
        return False
    expected = session.get("expired_csrf")
    given = request.form.get("csrf_token", "")
    return isinstance(expected, str) and hmac.compare_digest(expected.encode(), given.encode())


def keep(node: Node) -> None:
    """Store the posted fields; the cookie names them (``kept``) for after the next login."""
    fields = {k: v for k, v in request.form.lists() if k not in _SKIP}
    key = secrets.token_urlsafe(24)
    onetime.keep_form(node, key, request.path, fields)
    session.pop("expired_csrf", None)
    session["kept"] = key


def waiting(node: Node) -> str | None:
    """The path of the form kept for this browser, if any (the start page offers it)."""
    key = session.get("kept")
    if not isinstance(key, str):
        return None
    path = onetime.kept_form_path(node, key)
    if path is None:
        session.pop("kept", None)
    return path


def take(node: Node, path: str) -> dict[str, list[str]] | None:
    """The fields kept for the form at ``path`` (then forgotten), or None."""
    key = session.get("kept")
    if not isinstance(key, str):
        return None
    fields = onetime.take_form(node, key, path)
    if fields is not None:
        session.pop("kept", None)
    return fields
