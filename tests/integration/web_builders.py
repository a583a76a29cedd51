"""Builders for the page tests: a node with its pages on, logged-in clients, a family."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from adapters.store.models import Partner
from gateway import config
from gateway.app import create_app
from gateway.demo import data as d
from gateway.fhir import fhir_in
from gateway.services import registry

PROFESSIONAL = {
    "sub": "pien",
    "name": "Pien de Wit",
    "roles": ["professional"],
    "actor_id": "uzi:900000303",
    "demo": False,
}
PRIVACY_OFFICER = {
    "sub": "piet",
    "name": "Piet Privacy",
    "roles": ["privacy-officer"],
    "actor_id": "oidc:piet",
    "demo": False,
}
SECRET = "a-test-client-secret-of-some-length"
WEB = """
[web]
enabled = true
overview_deadline = 1.0

[oidc]
issuer = "http://127.0.0.1:9"
client_id = "gateway-test"
"""


CREATED: list[Any] = []  # apps whose engines a test module disposes after each test


def web_app(home: Path, extra: str = WEB, env: dict[str, str] | None = None) -> Any:
    """The node's app with its pages on (IdP configured but never reached by these tests)."""
    with open(home / "node.toml", "a", encoding="utf-8") as f:
        f.write(extra)
    cfg = config.load(home, env={"GATEWAY_OIDC_CLIENT_SECRET": SECRET, **(env or {})})
    app = create_app(cfg)
    CREATED.append(app)
    return app


def dispose_all() -> None:
    while CREATED:
        CREATED.pop().extensions["gateway"].uow.engine.dispose()


def logged_in(app: Any, user: dict[str, Any]) -> Any:
    """A test client whose session holds ``user`` as if the IdP had just let them in."""
    client = app.test_client()
    now = int(time.time())
    with client.session_transaction() as s:
        s.update(user=dict(user), started=now, seen=now, sid=secrets.token_urlsafe(24), csrf="test-csrf-token")
    return client


def once_token(client: Any) -> str:
    """A fresh one-time form token for this client's session, as a rendered form carries it."""
    with client.session_transaction() as s:
        sid = s.get("sid") or ""
    nonce = secrets.token_urlsafe(18)
    key = client.application.config["SECRET_KEY"]
    mac = base64.urlsafe_b64encode(hmac.new(key, f"{sid}|{nonce}".encode(), hashlib.sha256).digest()[:18]).decode()
    return f"{nonce}.{mac}"


def post(client: Any, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """POST a form with this session's CSRF token and a fresh one-time form token (a form
    just rendered); pass ``form_once`` in ``data`` to send a token again (a reload)."""
    fields = {"csrf_token": "test-csrf-token", "form_once": once_token(client), **(data or {})}
    return client.post(url, data=fields, **kw)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


MOTHER, CHILD, FATHER, TEEN = d.bsn(11), d.bsn(12), d.bsn(13), d.bsn(14)


def a_family(app: Any) -> dict[str, str]:
    """Mother (with custody) and father (with custody) of a 7-year-old; a 14-year-old with mother only."""
    node = app.extensions["gateway"]
    today = date.today()
    ids = {}
    for key, bsn, born, given in (
        ("mother", MOTHER, date(1990, 3, 1), "Sanne"),
        ("father", FATHER, date(1988, 5, 2), "Bram"),
        ("child", CHILD, date(today.year - 7, 1, 15), "Noor"),
        ("teen", TEEN, date(today.year - 14, 1, 15), "Sem"),
    ):
        ids[key] = registry.register_person(node, fhir_in.patient(d.patient(bsn, born, given, "Jansen")))[0]["id"]
    registry.add_relation(node, fhir_in.related_person(d.parent_of(ids["child"], MOTHER)))
    registry.add_relation(node, fhir_in.related_person(d.parent_of(ids["child"], FATHER, mother=False)))
    registry.add_relation(node, fhir_in.related_person(d.parent_of(ids["teen"], MOTHER)))
    return ids


def a_partner(app: Any, org_id: str = "ggz-noord") -> None:
    """A trusted partner row (no keys: these tests never call it; the use case is stubbed)."""
    node = app.extensions["gateway"]
    with node.uow() as uow:
        uow.session.add(Partner(org_id=org_id, url=f"http://127.0.0.1:9/{org_id}", added_at=datetime.now(UTC)))
        uow.commit()
