"""Session, CSRF and response headers for the pages (issue 7, "Quality").

- **Session**: Flask's signed cookie, ``HttpOnly``, ``SameSite=Lax``, ``Secure`` (and the
  ``__Host-`` name prefix) when the node's public URL is https. Its key is a random 256-bit
  value in ``<home>/web-session.key`` (mode 0600), created once and shared by every gunicorn
  worker. A session unused for ``[web] session_idle_minutes`` is over, and every session
  ends after ``session_max_hours``. The cookie carries who is logged in and the CSRF token,
  never client data, and a random session id. It is signed, not encrypted. Logging out
  records that id (``gateway.services.sessions``), so a cookie copied before logout is
  refused after it; a copied cookie of a session still in use lives until a timeout.
- **CSRF**: a per-session random token (synchronizer token pattern, OWASP) in a hidden
  field of every form, compared in constant time before any POST is handled; a POST whose
  ``Origin`` header names another origin is refused as well. Twenty lines we can read
  instead of Flask-WTF, which would bring WTForms for one comparison. The token is
  replaced at login, so a token planted before login is worthless after it.
- **Headers**: a strict Content-Security-Policy (``default-src 'self'``, no script at all,
  no framing, forms only to ourselves), ``no-store`` caching (pages show client data),
  ``nosniff``, ``same-origin`` referrers (URLs carry no client data anyway).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, request, session

from gateway.config import NodeConfig
from gateway.node import Node
from gateway.services import sessions

KEY_FILE = "web-session.key"
CSRF_FIELD = "csrf_token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})

CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def session_key(home: Path) -> bytes:
    """Return the node's session-signing key, creating it atomically on first use.

    Workers start at the same time: the key is written to a private temporary file and
    hard-linked into place, so exactly one key wins and nobody reads a half-written file.
    """
    path = home / KEY_FILE
    if not path.exists():
        tmp = home / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32).hex().encode())
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another worker won; use its key
        finally:
            tmp.unlink()
    key = path.read_text("ascii").strip()
    if not re.fullmatch(r"[0-9a-f]{64}", key):
        raise RuntimeError(f"{path} is not a session key (64 hex digits); remove it to make a new one")
    return bytes.fromhex(key)


def init_app(app: Flask, config: NodeConfig) -> None:
    """Configure the session cookie for the node's public URL."""
    https = config.node.url.startswith("https://")
    app.config.update(
        SECRET_KEY=session_key(config.home),
        SESSION_COOKIE_NAME="__Host-gateway" if https else "gateway",
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.web.session_max_hours),
    )
    app.extensions["web_config"] = config


# --- the session -------------------------------------------------------------------------


def login(user: dict[str, Any]) -> None:
    """Start a fresh session for ``user`` (new id and CSRF token: no fixation across login)."""
    kept = session.get("kept")  # a form kept from the session that timed out (keep_typed)
    session.clear()
    now = int(time.time())
    session.update(user=user, started=now, seen=now, sid=secrets.token_urlsafe(24), csrf=secrets.token_urlsafe(32))
    if isinstance(kept, str):
        session["kept"] = kept
    session.permanent = True


def logout(node: Node, config: NodeConfig) -> None:
    """End the session here and for any copy of its cookie (until it would have expired)."""
    sid, started = session.get("sid"), session.get("started")
    if isinstance(sid, str) and type(started) is int:
        sessions.end(node, sid, datetime.fromtimestamp(started + config.web.session_max_hours * 3600, UTC))
    session.clear()


def current_user(node: Node, config: NodeConfig) -> dict[str, Any] | None:
    """The logged-in user, or None once the session is idle, too old or logged out (then it
    is cleared). A session without an id (a cookie from before ids) counts as logged out."""
    user = session.get("user")
    if not isinstance(user, dict):
        return None
    now = int(time.time())
    seen, started, sid = session.get("seen", 0), session.get("started", 0), session.get("sid")
    if now - seen > config.web.session_idle_minutes * 60 or now - started > config.web.session_max_hours * 3600:
        old_csrf = session.get("csrf")
        session.clear()
        session["expired"] = True
        if isinstance(old_csrf, str):  # lets a form typed in that session be kept (keep_typed)
            session["expired_csrf"] = old_csrf
        return None
    if not isinstance(sid, str) or sessions.is_ended(node, sid):
        session.clear()
        return None
    if now - seen >= 30:  # refresh at most twice a minute: fewer Set-Cookie headers
        session["seen"] = now
    return user


def csrf_token() -> str:
    """The session's CSRF token, made on first use (templates call this for every form)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf(own_origin: str) -> None:
    """Refuse (400) a state-changing request without this session's token, or from elsewhere."""
    if request.method in _SAFE:
        return
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null" and origin != own_origin:
        abort(400, "csrf-origin")
    expected = session.get("csrf")
    given = request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected.encode(), given.encode()):
        abort(400, "csrf-token")


def origin_of(url: str) -> str:
    """scheme://host[:port] of a base URL (what a browser sends as ``Origin``)."""
    m = re.match(r"^(https?://[^/]+)", url)
    return m.group(1) if m else url


# --- headers -----------------------------------------------------------------------------


def style_hashes(html: str) -> list[str]:
    """CSP hashes of the ``<style>`` blocks of a self-contained page (receipt, report).

    Those pages are printed and saved on their own, so they carry their CSS inline; the
    policy allows exactly that CSS and nothing else.
    """
    out = []
    for css in re.findall(r"<style>(.*?)</style>", html, flags=re.S):
        digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return out


def secure_headers(resp: Response, inline_styles: list[str] | None = None) -> Response:
    """Add the CSP and friends to a page response."""
    csp = CSP
    if inline_styles:
        csp = csp.replace("style-src 'self'", "style-src 'self' " + " ".join(inline_styles))
    resp.headers["Content-Security-Policy"] = csp
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" would make browsers send Origin: null
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    return resp
