"""Login through the organisation's OpenID Connect provider (authlib's Flask client).

Authorization code flow with PKCE (S256) and ``client_secret_basic`` (OpenID Connect Core
1.0 section 3.1, RFC 7636). authlib keeps state, nonce and code verifier in the session,
checks the state on return, exchanges the code, and verifies the ID token (signature
against the IdP's JWKS, ``iss``, ``aud``, ``exp``, ``nonce``). On top of that we check:

- the discovered issuer is exactly the configured one, and the authorization response's
  ``iss`` parameter (RFC 9207), when sent, is too (mix-up defence);
- the role claim (``[oidc] role_claim``, string or list) maps to ``professional`` and/or
  ``privacy-officer``; anyone else gets no session;
- a professional carries a practitioner identifier (``[oidc] practitioner_claim``, such as
  ``uzi:123456``) that becomes the audit actor, as ``X-Practitioner`` does on the API.

Claims come from the verified ID token, completed from the userinfo endpoint (same
``sub``) because providers release scope claims there. Logins and failed logins are
audited (NEN 7513: who accessed the system).

The demo login (``[web] demo_login``) skips the IdP; ``config.check`` allows it only on a
node that listens on and is addressed by loopback, and every page then says so.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from joserfc.errors import JoseError

from audit import events
from gateway.config import ConfigError, NodeConfig
from gateway.node import Node
from gateway.repositories import audit_log
from gateway.services import people
from profiles import catalog

log = logging.getLogger(__name__)

PROFESSIONAL, PRIVACY_OFFICER = "professional", "privacy-officer"
ROLES_NL = {role: catalog.label(catalog.ROLE_SYSTEM, role) for role in (PROFESSIONAL, PRIVACY_OFFICER)}
PRACTITIONER = re.compile(r"^[a-z][a-z0-9-]{1,15}:[A-Za-z0-9._-]{1,64}$")  # as X-Practitioner
_SUB = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
CALLBACK_PATH = "/auth/callback"


class LoginRefused(Exception):
    """The IdP's answer does not let this person in; ``text`` says why, in Dutch."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(text)
        self.text, self.reason = text, reason


def init_app(app: Flask, config: NodeConfig) -> None:
    """Register the IdP client (no network call until the first login)."""
    if config.web.demo_login:
        return
    o = config.oidc
    if len(o.client_secret) < 16:
        raise ConfigError("GATEWAY_OIDC_CLIENT_SECRET must be set (at least 16 characters) to serve the pages")
    oauth = OAuth(app)
    oauth.register(
        "idp",
        client_id=o.client_id,
        client_secret=o.client_secret,
        server_metadata_url=o.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": o.scope,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
            "default_timeout": config.partners.read_timeout,
        },
    )
    app.extensions["web_oauth"] = oauth


def _idp() -> Any:
    return current_app.extensions["web_oauth"].idp


def redirect_uri(config: NodeConfig) -> str:
    # from the configured public URL, never from the Host header a client sends
    return config.node.url.rstrip("/") + CALLBACK_PATH


def start(config: NodeConfig) -> Any:
    """Redirect the browser to the IdP (state, nonce and PKCE verifier go in the session)."""
    idp = _idp()
    metadata = idp.load_server_metadata()
    if metadata.get("issuer") != config.oidc.issuer:
        raise LoginRefused("De inlogdienst meldt zich met een ander adres dan ingesteld.", "issuer-mismatch")
    return idp.authorize_redirect(redirect_uri(config))


def finish(config: NodeConfig, args: Any) -> dict[str, Any]:
    """Complete the code flow; return the session user or raise ``LoginRefused``."""
    if args.get("error"):
        raise LoginRefused("De inlogdienst heeft de aanmelding niet toegestaan.", "idp-error")
    iss = args.get("iss")
    if iss is not None and iss != config.oidc.issuer:
        raise LoginRefused("Het antwoord komt niet van de ingestelde inlogdienst.", "issuer-mismatch")
    idp = _idp()
    try:
        token = idp.authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        if not claims.get("sub"):
            raise LoginRefused("De inlogdienst gaf geen geldig ID-token.", "no-id-token")
        extra = idp.userinfo(token=token)
    except (OAuthError, JoseError, ValueError, KeyError, requests.RequestException) as exc:
        log.info("login failed: %s", type(exc).__name__)  # no codes, tokens or claims in the log
        raise LoginRefused("De aanmelding is mislukt of verlopen. Probeer het opnieuw.", "oidc-failed") from None
    if extra.get("sub") != claims["sub"]:
        raise LoginRefused("De gegevens van de inlogdienst horen niet bij elkaar.", "sub-mismatch")
    for key, value in extra.items():
        claims.setdefault(key, value)
    return user_from_claims(config, claims)


def user_from_claims(config: NodeConfig, claims: dict[str, Any]) -> dict[str, Any]:
    """Map verified claims to the session user: roles, practitioner id, display name."""
    o = config.oidc
    raw = claims.get(o.role_claim)
    values = [raw] if isinstance(raw, str) else [v for v in raw if isinstance(v, str)] if isinstance(raw, list) else []
    roles = [
        role
        for role, value in ((PROFESSIONAL, o.role_professional), (PRIVACY_OFFICER, o.role_privacy_officer))
        if value in values
    ]
    if not roles:
        raise LoginRefused(
            "U heeft geen rol voor deze toepassing (professional of privacy officer). Vraag uw beheerder om toegang.",
            "no-role",
        )
    sub = str(claims["sub"])
    practitioner = claims.get(o.practitioner_claim)
    if isinstance(practitioner, str) and PRACTITIONER.fullmatch(practitioner):
        actor_id = practitioner
    elif PROFESSIONAL in roles:
        raise LoginRefused(
            "Uw account heeft geen geldig zorgverlenersnummer (bijvoorbeeld uzi:123456); "
            "dat is nodig voor het logboek.",
            "no-practitioner-id",
        )
    else:
        actor_id = "oidc:" + (sub if _SUB.fullmatch(sub) else hashlib.sha256(sub.encode()).hexdigest()[:32])
    given_name = claims.get("name")
    name = given_name if isinstance(given_name, str) else actor_id
    return {"sub": sub[:128], "name": name[:120], "roles": roles, "actor_id": actor_id, "demo": False}


DEMO_USERS = {
    PROFESSIONAL: {
        "sub": "demo-professional",
        "name": "Demo-professional",
        "roles": [PROFESSIONAL],
        "actor_id": "uzi:900000999",
        "demo": True,
    },
    PRIVACY_OFFICER: {
        "sub": "demo-privacy-officer",
        "name": "Demo-privacy officer",
        "roles": [PRIVACY_OFFICER],
        "actor_id": "demo:privacy-officer",
        "demo": True,
    },
}


def audit_login(node: Node, user: dict[str, Any] | None, access_point: str, reason: str = "") -> None:
    """Record a login (or a refused one) in the audit log."""
    if user is not None:
        actor = audit_log.Actor(
            actor_id=user["actor_id"], role=",".join(user["roles"]), client_id="web", access_point=access_point
        )
        audit_log.record_admin(node, events.LOGIN, actor=actor, detail={"demo": bool(user.get("demo"))})
        if user.get("name"):
            people.remember(node, user["actor_id"], str(user["name"]))
        return
    actor = audit_log.Actor(actor_id="web:anonymous", role="", client_id="web", access_point=access_point)
    with node.uow() as uow:
        uow.audit.append(
            node,
            events.AuditRecord(
                action=events.LOGIN_FAILED,
                outcome=events.REFUSED,
                reason_code=reason or "login-failed",
                **audit_log.fields(actor),
            ),
        )
        uow.commit()
