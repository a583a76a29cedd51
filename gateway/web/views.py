"""The pages' parent blueprint: login, logout, the start page, and the shared hooks.

Every request under it passes the same gate: the session's idle timeout, the CSRF check
on POST, and the security headers on the way out. The professional and privacy-officer
blueprints are nested in it, so they inherit all three. Errors become a Dutch page whose
text is the refusal's own ``details.text``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, redirect, request, session
from werkzeug.exceptions import HTTPException

from contract.errors import GatewayError, PartnerRefusal
from gateway.config import NodeConfig
from gateway.current import node_of
from gateway.http import outcomes
from gateway.web import keep_typed, next_steps, oidc, onetime, security
from gateway.web.render import page

log = logging.getLogger(__name__)

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/web-static")


def cfg() -> NodeConfig:
    config: NodeConfig = current_app.extensions["web_config"]
    return config


def refusal_text(exc: GatewayError) -> tuple[str, str]:
    """(reason code, Dutch text) of a refusal: a partner's own OperationOutcome, or ours."""
    if isinstance(exc, PartnerRefusal):
        try:
            details = exc.body["issue"][0]["details"]  # type: ignore[index]
            return str(details["coding"][0]["code"]), str(details.get("text") or exc.detail)
        except (KeyError, IndexError, TypeError):
            return exc.reason, exc.detail
    return exc.code, exc.detail


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    if "web_config" not in current_app.extensions:
        return {}
    return {
        "csrf_token": security.csrf_token,
        "csrf_field": security.CSRF_FIELD,
        "form_once": onetime.token,
        "idle_minutes": cfg().web.session_idle_minutes,
        "next_step": next_steps.next_step,
        "node_name": cfg().node.name,
        "user": g.get("user"),
        "demo": cfg().web.demo_login,
        "roles_nl": oidc.ROLES_NL,
    }


@bp.before_request
def _gate() -> Response | None:
    g.user = security.current_user(node_of(), cfg())
    if g.user is None and keep_typed.keepable():
        # the session ended while a form was being filled in: keep it, ask to log in again
        keep_typed.keep(node_of())
        return page("login.html", 401, expired=True, kept=True)
    security.check_csrf(security.origin_of(cfg().node.url))
    return None


@bp.after_request
def _headers(resp: Response) -> Response:
    if "Content-Security-Policy" not in resp.headers:
        security.secure_headers(resp)
    return resp


@bp.errorhandler(GatewayError)
def _refused(exc: GatewayError) -> Response:
    code, text = refusal_text(exc)
    status = exc.status if isinstance(exc, PartnerRefusal) else outcomes.status_of(exc.code)
    return page("error.html", status if 400 <= status < 600 else 500, code=code, text=text)


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Response:
    if exc.code == 400 and str(exc.description).startswith("csrf"):
        text = (
            "Dit formulier is verlopen of komt niet van deze site. Ga terug, laad de pagina "
            "opnieuw en probeer het nog eens."
        )
        return page("error.html", 400, code="csrf", text=text)
    texts = {
        403: "U heeft geen toegang tot deze pagina.",
        404: "Deze pagina bestaat niet.",
        405: "Deze handeling kan zo niet.",
        413: "Het formulier is te groot.",
    }
    return page("error.html", exc.code or 500, code=str(exc.code), text=texts.get(exc.code or 500, "Er ging iets mis."))


API_PREFIXES = ("/fhir", "/oauth", "/.well-known", "/openapi.json", "/healthz", "/readyz", "/consent/", "/metrics")


@bp.app_errorhandler(404)
def _unknown_address(exc: HTTPException) -> Response:
    """An unknown address outside the API is a Dutch page, not FHIR JSON (issue 20.14)."""
    path = request.path
    if any(path == p or path.startswith(p.rstrip("/") + "/") or path == p.rstrip("/") for p in API_PREFIXES):
        return outcomes.http_error(404)
    if g.get("user") is None:
        try:
            g.user = security.current_user(node_of(), cfg())
        except Exception:  # noqa: BLE001 - the store is down: still answer the page, without the menu
            g.user = None
    return security.secure_headers(page("not_found.html", 404))


def login_required(role: str) -> Response | None:
    """Send an anonymous visitor to the login page, and refuse a user without ``role``."""
    user = g.get("user")
    if user is None:
        return redirect("/", 303)  # type: ignore[return-value]  # the start page offers the login
    if role not in user["roles"]:
        return page(
            "error.html",
            403,
            code="forbidden",
            text="Deze pagina is er alleen voor de rol " + oidc.ROLES_NL[role].lower() + ".",
        )
    return None


# --- pages -------------------------------------------------------------------------------


@bp.get("/")
def home() -> Response:
    if g.user is None:
        return page("login.html", expired=session.pop("expired", False))
    return page("home.html", kept_form=keep_typed.waiting(node_of()))


@bp.get("/inloggen")
def login() -> Response:
    if cfg().web.demo_login:
        return page("demo_login.html")
    try:
        return oidc.start(cfg())  # type: ignore[no-any-return]
    except oidc.LoginRefused as exc:
        return page("error.html", 502, code=exc.reason, text=exc.text)
    except Exception:  # noqa: BLE001 - the IdP is down or answers nonsense: say so, log the type only
        log.warning("IdP unreachable for login", exc_info=False)
        return page(
            "error.html",
            502,
            code="idp-unavailable",
            text="De inlogdienst van uw organisatie is nu niet bereikbaar. Probeer het later opnieuw.",
        )


@bp.get(oidc.CALLBACK_PATH)
def callback() -> Response:
    if cfg().web.demo_login:
        return redirect("/", 303)  # type: ignore[return-value]
    try:
        user = oidc.finish(cfg(), request.args)
    except oidc.LoginRefused as exc:
        oidc.audit_login(node_of(), None, request.remote_addr or "", exc.reason)
        return page("error.html", 403, code=exc.reason, text=exc.text)
    security.login(user)
    oidc.audit_login(node_of(), user, request.remote_addr or "")
    return redirect("/", 303)  # type: ignore[return-value]


@bp.post("/demo-inloggen")
def demo_login() -> Response:
    if not cfg().web.demo_login:
        return page("error.html", 404, code="not-found", text="Deze pagina bestaat niet.")
    user = oidc.DEMO_USERS.get(request.form.get("rol", ""))
    if user is None:
        return page("demo_login.html", 400, error="Kies een rol.")
    security.login(dict(user))
    oidc.audit_login(node_of(), user, request.remote_addr or "")
    return redirect("/", 303)  # type: ignore[return-value]


@bp.post("/uitloggen")
def logout() -> Response:
    security.logout(node_of(), cfg())
    return page("logged_out.html")
