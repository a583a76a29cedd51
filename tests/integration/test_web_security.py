"""The pages' security as an attacker or an auditor meets it: CSRF, cookies, CSP, timeouts, roles.

Flask's test client on a real node (SQLite and PostgreSQL); the IdP is not reached here
(tests/browser runs the real one).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_builders import (
    MOTHER,
    PRIVACY_OFFICER,
    PROFESSIONAL,
    SECRET,
    WEB,
    a_family,
    csrf_of,
    dispose_all,
    logged_in,
    post,
    web_app,
)

from audit import events
from gateway import config
from gateway.app import create_app
from gateway.config import ConfigError
from gateway.node import build
from gateway.repositories import audit_log
from gateway.web import oidc, security


@pytest.fixture(autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    dispose_all()


@pytest.fixture
def app(home: Path) -> Any:
    return web_app(home)


def test_a_node_without_web_serves_no_pages(home: Path) -> None:
    cfg = config.load(home)
    node = build(cfg)
    try:
        client = create_app(cfg, node=node).test_client()

        assert client.get("/").status_code == 404
        assert client.get("/clienten").status_code == 404
    finally:
        node.uow.engine.dispose()


def test_every_page_carries_a_strict_policy_and_no_store(app: Any) -> None:
    resp = app.test_client().get("/")

    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert '<html lang="nl">' in resp.text and "<script" not in resp.text


def test_a_post_without_the_sessions_token_is_refused(app: Any) -> None:
    client = logged_in(app, PROFESSIONAL)

    assert client.post("/clienten/zoeken", data={"bsn": MOTHER}).status_code == 400
    assert client.post("/clienten/zoeken", data={"bsn": MOTHER, "csrf_token": "guessed"}).status_code == 400
    assert post(client, "/clienten/zoeken", {"bsn": MOTHER}).status_code == 200


def test_a_post_from_another_origin_is_refused_even_with_a_token(app: Any) -> None:
    client = logged_in(app, PROFESSIONAL)

    resp = post(client, "/clienten/zoeken", {"bsn": MOTHER}, headers={"Origin": "https://evil.example"})

    assert resp.status_code == 400 and "komt niet van deze site" in resp.text


def test_the_session_cookie_is_httponly_and_lax_and_carries_no_client_data(app: Any) -> None:
    client = app.test_client()
    token = csrf_of(_form_page(client))
    resp = client.post("/uitloggen", data={"csrf_token": token})
    cookie = resp.headers.get("Set-Cookie", "")

    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert MOTHER not in cookie


def _form_page(client: Any) -> str:
    with client.session_transaction() as s:
        s.update(user=dict(PROFESSIONAL), started=int(time.time()), seen=int(time.time()), sid="form-page-session")
    return client.get("/clienten").text  # type: ignore[no-any-return]


def test_on_https_the_cookie_is_secure_with_the_host_prefix(make_home: Any) -> None:
    home = make_home(url="https://gateway.jeugdteam-west.nl")
    app = web_app(home, WEB.replace('issuer = "http://127.0.0.1:9"', 'issuer = "https://login.example.nl"'))
    client = logged_in(app, PROFESSIONAL)

    resp = post(client, "/uitloggen")

    assert app.config["SESSION_COOKIE_NAME"] == "__Host-gateway"
    assert "Secure" in resp.headers["Set-Cookie"] and "Path=/" in resp.headers["Set-Cookie"]


def test_an_idle_session_ends_and_says_so(app: Any) -> None:
    client = logged_in(app, PROFESSIONAL)
    with client.session_transaction() as s:
        s["seen"] = int(time.time()) - 16 * 60  # [web] session_idle_minutes defaults to 15

    resp = client.get("/clienten")
    assert resp.status_code == 303 and resp.headers["Location"] == "/"
    assert "Uw sessie is verlopen" in client.get("/").text
    assert client.get("/clienten").status_code == 303


def test_a_long_session_ends_even_when_used(app: Any) -> None:
    client = logged_in(app, PROFESSIONAL)
    with client.session_transaction() as s:
        s["started"] = int(time.time()) - 11 * 3600

    assert client.get("/clienten").status_code == 303


def test_a_cookie_copied_before_logout_is_refused_after_it(app: Any) -> None:
    """Someone copied the professional's cookie (a shared workstation, a proxy log). Logging
    out ends that session for the copy too, not only in the browser that logged out."""
    client = logged_in(app, PROFESSIONAL)
    assert client.get("/clienten").status_code == 200
    copy = app.test_client()
    copy.set_cookie(app.config["SESSION_COOKIE_NAME"], client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value)
    assert copy.get("/clienten").status_code == 200

    assert post(client, "/uitloggen").status_code == 200

    assert copy.get("/clienten").status_code == 303
    assert client.get("/clienten").status_code == 303
    again = logged_in(app, PROFESSIONAL)  # a new login is a new session
    assert again.get("/clienten").status_code == 200


def test_a_cookie_without_a_session_id_counts_as_logged_out(app: Any) -> None:
    """Cookies signed before session ids existed: one more login after the upgrade."""
    client = logged_in(app, PROFESSIONAL)
    with client.session_transaction() as s:
        del s["sid"]

    assert client.get("/clienten").status_code == 303


def test_roles_keep_their_own_pages(app: Any) -> None:
    professional, officer = logged_in(app, PROFESSIONAL), logged_in(app, PRIVACY_OFFICER)

    assert professional.get("/clienten").status_code == 200
    assert professional.get("/privacy/logboek").status_code == 403
    assert officer.get("/privacy/logboek").status_code == 200
    assert officer.get("/clienten").status_code == 403
    assert app.test_client().get("/privacy/logboek").status_code == 303


def test_a_bsn_never_appears_in_a_url_or_a_log_line(app: Any, caplog: pytest.LogCaptureFixture) -> None:
    ids = a_family(app)
    client = logged_in(app, PROFESSIONAL)
    caplog.set_level(logging.DEBUG)

    page = post(client, "/clienten/zoeken", {"bsn": MOTHER}).text
    hrefs = re.findall(r'href="([^"]+)"', page) + re.findall(r'action="([^"]+)"', page)
    client.get(f"/clienten/{ids['mother']}")

    assert f"/clienten/{ids['mother']}" in hrefs
    assert not [h for h in hrefs if MOTHER in h]
    assert MOTHER not in caplog.text


def test_logout_ends_the_session(app: Any) -> None:
    client = logged_in(app, PROFESSIONAL)

    assert "uitgelogd" in post(client, "/uitloggen").text
    assert client.get("/clienten").status_code == 303


# --- configuration --------------------------------------------------------------------------


def test_the_demo_login_is_refused_on_a_node_others_can_reach(make_home: Any) -> None:
    home = make_home(url="https://gateway.jeugdteam-west.nl")
    (home / "node.toml").write_text((home / "node.toml").read_text() + "\n[web]\nenabled = true\ndemo_login = true\n")

    with pytest.raises(ConfigError, match="demo_login is only for the loopback demo"):
        config.load(home, env={})


def test_the_client_secret_is_refused_in_node_toml(home: Path) -> None:
    (home / "node.toml").write_text((home / "node.toml").read_text() + '\n[oidc]\nclient_secret = "oops"\n')

    with pytest.raises(ConfigError, match="GATEWAY_OIDC_CLIENT_SECRET"):
        config.load(home, env={})


def test_pages_need_an_issuer_and_refuse_to_start_without_the_secret(home: Path) -> None:
    toml = (home / "node.toml").read_text()
    (home / "node.toml").write_text(toml + "\n[web]\nenabled = true\n")
    with pytest.raises(ConfigError, match="issuer"):
        config.load(home, env={})

    (home / "node.toml").write_text(toml + WEB)
    cfg = config.load(home, env={})  # CLI commands load this config without the secret
    node = build(cfg)
    try:
        with pytest.raises(ConfigError, match="GATEWAY_OIDC_CLIENT_SECRET"):
            create_app(cfg, node=node)
    finally:
        node.uow.engine.dispose()
    assert "a-test" not in repr(config.load(home, env={"GATEWAY_OIDC_CLIENT_SECRET": SECRET}))


def test_the_session_key_is_made_once_and_kept_private(home: Path) -> None:
    first = security.session_key(home)

    assert security.session_key(home) == first and len(first) == 32
    assert (home / security.KEY_FILE).stat().st_mode & 0o077 == 0


# --- claims to roles -------------------------------------------------------------------------


def test_claims_map_to_roles_and_the_practitioner_becomes_the_audit_actor(app: Any) -> None:
    cfg = app.extensions["web_config"]

    user = oidc.user_from_claims(
        cfg, {"sub": "u1", "name": "Pien", "roles": ["professional", "other"], "practitioner_id": "uzi:900000303"}
    )
    officer = oidc.user_from_claims(cfg, {"sub": "u2", "roles": "privacy-officer"})

    assert user["roles"] == ["professional"] and user["actor_id"] == "uzi:900000303"
    assert officer["roles"] == ["privacy-officer"] and officer["actor_id"] == "oidc:u2"


@pytest.mark.parametrize(
    "claims, reason",
    [
        ({"sub": "u", "roles": ["receptionist"]}, "no-role"),
        ({"sub": "u", "roles": "professional"}, "no-practitioner-id"),
        ({"sub": "u", "roles": "professional", "practitioner_id": "uzi:1 OR 1=1"}, "no-practitioner-id"),
    ],
)
def test_no_role_or_no_practitioner_id_means_no_session(app: Any, claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(oidc.LoginRefused) as refused:
        oidc.user_from_claims(app.extensions["web_config"], claims)

    assert refused.value.reason == reason


def test_the_loopback_demo_offers_a_marked_login_that_is_audited(home: Path) -> None:
    app = web_app(home, "\n[web]\nenabled = true\ndemo_login = true\n")
    client = app.test_client()

    page = client.get("/inloggen").text
    assert "DEMO-OMGEVING" in page and "Een productie-installatie kan dit niet aanzetten" in page
    resp = client.post("/demo-inloggen", data={"rol": "privacy-officer", "csrf_token": csrf_of(page)})

    assert resp.status_code == 303
    assert client.get("/privacy/logboek").status_code == 200
    node = app.extensions["gateway"]

    with node.uow() as uow:
        login = audit_log.stored(audit_log.entries(uow.session, action=events.LOGIN, limit=1)[0]).record
    assert login.actor_id == "demo:privacy-officer" and login.detail["demo"] is True
