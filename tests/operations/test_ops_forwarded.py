"""Behind nginx: the client address comes from X-Forwarded-For only when nginx itself sent it.

The audit records where a professional looked from (``access_point``). A caller that
reaches the node directly and writes its own ``X-Forwarded-For`` must not choose what the
audit says; the proxy the node is configured to trust may.
"""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from ops_support import set_in_section
from sqlalchemy import create_engine, text
from werkzeug.test import Client

import gateway.ops.server as server
from gateway import config
from gateway.demo import data as d
from gateway.demo.loopback import run_cli
from gateway.http.proxy import ForwardedHeaders
from gateway.ops.server import wsgi_app

BSN = d.bsn(7)


def _looked_up_from(home: Path, remote: str, forwarded: str) -> list[str]:
    """Register a person, look them up with the given peer and header; return the access points audited."""
    secret = run_cli("client", "add", str(home), "--client-id", "epd", "--role", "ehr").strip().splitlines()[-1]
    cfg = config.load(home)
    app = wsgi_app(cfg)
    client = Client(app)
    env = {"REMOTE_ADDR": remote}
    basic = base64.b64encode(f"epd:{secret}".encode()).decode()
    tok = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
        environ_overrides=env,
    ).json["access_token"]
    headers = {
        "Authorization": f"Bearer {tok}",
        "X-Practitioner": "uzi:900000101",
        "Content-Type": "application/fhir+json",
        "X-Forwarded-For": forwarded,
    }
    created = client.post(
        "/fhir/Patient",
        data=json.dumps(d.patient(BSN, date(1990, 1, 1), "Eva", "de Vries")),
        headers=headers,
        environ_overrides=env,
    )
    assert created.status_code in (200, 201), created.get_data(as_text=True)
    found = client.get(
        "/fhir/Patient",
        query_string={"identifier": f"http://fhir.nl/fhir/NamingSystem/bsn|{BSN}"},
        headers=headers,
        environ_overrides=env,
    )
    assert found.status_code == 200
    engine = create_engine(cfg.store.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT record_json FROM audit_entries WHERE action = 'record-viewed'")).all()
    finally:
        engine.dispose()
    return [json.loads(r[0]).get("access_point", "") for r in rows]


@pytest.fixture
def node_home(tmp_path: Path) -> Path:
    home = tmp_path / "ggz-noord"
    run_cli("init", str(home), "--org-id", "ggz-noord", "--name", "GGZ Noord")
    return home


def test_a_forwarded_for_header_from_a_direct_caller_is_ignored(node_home: Path) -> None:
    points = _looked_up_from(node_home, "192.0.2.10", "203.0.113.99")
    assert points and set(points) == {"192.0.2.10"}


def test_the_configured_proxy_s_forwarded_for_is_the_client_address(node_home: Path) -> None:
    set_in_section(node_home, "server", 'trusted_proxies = "192.0.2.1"\n')
    points = _looked_up_from(node_home, "192.0.2.1", "198.51.100.7, 203.0.113.5")
    assert points and set(points) == {"203.0.113.5"}  # the proxy's own entry: the last one


def test_forwarding_headers_never_reach_the_app_from_an_untrusted_peer() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        start_response("200 OK", [])
        return [b""]

    Client(ForwardedHeaders(app, frozenset({"10.0.0.1"}))).get(
        "/",
        headers={"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https", "Forwarded": "for=1.2.3.4"},
        environ_overrides={"REMOTE_ADDR": "10.9.9.9"},
    )

    assert seen["REMOTE_ADDR"] == "10.9.9.9"
    assert not {"HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_FORWARDED"} & set(seen)


def test_serve_trusts_no_proxy_for_the_scheme_unless_configured(node_home: Path) -> None:
    captured: dict[str, Any] = {}

    class Recorder:
        def __init__(self, _config: Any, options: dict[str, Any]) -> None:
            captured.update(options)

        def run(self) -> None:
            pass

    original = server.GatewayServer
    server.GatewayServer = Recorder  # type: ignore[misc,assignment]
    try:
        server.serve(config.load(node_home))
        assert captured["forwarded_allow_ips"] == ""  # gunicorn's own default would trust loopback
        set_in_section(node_home, "server", 'trusted_proxies = "10.0.0.5"\n')
        server.serve(config.load(node_home))
        assert captured["forwarded_allow_ips"] == "10.0.0.5"
    finally:
        server.GatewayServer = original  # type: ignore[misc]
