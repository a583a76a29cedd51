"""One-time form tokens and post/redirect/get for the pages (issue 20.1).

Reloading a confirmation page resent its POST: one consent plus F5 left two identical
consents, and a reloaded safety-disclosure confirmation sent a second disclosure. Now:

- every form carries a fresh one-time token (``form_once``, beside the CSRF token): a
  random nonce with an HMAC over the session id, so it is only good in the session that
  got the form;
- a state-changing view claims it (``claim``) after the form checked out and before it
  acts; the claim is an atomic insert into ``once_keys`` (``gateway.services.onetime``), so
  a second submit of the same form, from any worker, is known;
- on success the view redirects (303) to a page that shows the result (``done``); a
  repeat of the form is sent to that same page and nothing is done again;
- where the result cannot be shown again (a partner's summary is never kept), the repeat
  gets a page saying the form was already sent, with a way on (``shown``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from flask import Response, abort, current_app, g, redirect, request, session

from gateway.current import node_of
from gateway.services import onetime
from gateway.web.render import page

FIELD = "form_once"
SCOPE = "web"


def _mac(nonce: str) -> str:
    sid = session.get("sid") or ""
    digest = hmac.new(current_app.config["SECRET_KEY"], f"{sid}|{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def token() -> str:
    """A fresh one-time token for one form (templates call it in every form)."""
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_mac(nonce)}"


def _nonce_of_form() -> str:
    value = request.form.get(FIELD, "")
    nonce, _, mac = value.partition(".")
    if not nonce or len(value) > 100 or not hmac.compare_digest(mac.encode(), _mac(nonce).encode()):
        abort(400, "csrf-once")  # fail closed: the CSRF page explains it
    return nonce


def claim() -> Response | None:
    """Claim this form's token; None the first time, else the answer to the repeat."""
    nonce = _nonce_of_form()
    earlier = onetime.claim(node_of(), SCOPE, nonce, "")
    if earlier is None:
        g.form_once = nonce
        return None
    if earlier.status == 303 and earlier.location:
        return redirect(earlier.location, 303)  # type: ignore[return-value]
    return page("repeat.html", 409, running=earlier.status == onetime.RUNNING, back=earlier.location)


def done(location: str) -> Response:
    """The action succeeded: remember where its result is shown, and go there (PRG)."""
    onetime.finish(node_of(), SCOPE, g.form_once, 303, location)
    return redirect(location, 303)  # type: ignore[return-value]


def shown(back: str, status: int = 200) -> None:
    """The result was shown once and is not kept: a repeat is told so, with a link ``back``."""
    onetime.finish(node_of(), SCOPE, g.form_once, status, back)


def release() -> None:
    """Nothing was done (a refusal before any change): the form may be sent again."""
    if g.get("form_once"):
        onetime.release(node_of(), SCOPE, g.form_once)
