"""A hospital data centre asks for mutual TLS: real handshakes on loopback with our own PKI.

The node (gunicorn) terminates TLS 1.2+ itself and, with ``client_auth = "required"``,
accepts only partners whose client certificate chains to the configured CA bundle. The
partner client trusts a configured bundle (a private root, as PKIoverheid's is not in
certifi), checks the host name, and presents its own client certificate.
"""

from __future__ import annotations

import http.client
import ssl
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ops_support import CA, Served, set_in_section

from adapters.http import StrictClient
from contract.errors import PartnerUnavailable
from gateway import config
from gateway.config import ConfigError
from gateway.demo.loopback import free_port, run_cli
from gateway.ops import tls


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("pki")
    ziekenhuis, partners, wrong = CA(d, "ziekenhuis"), CA(d, "partners"), CA(d, "onbekend")
    return {
        "server_ca": ziekenhuis,
        "partner_ca": partners,
        "wrong_ca": wrong,
        "server": ziekenhuis.issue("ggz-noord", hosts=("127.0.0.1", "localhost")),
        "server_other_name": ziekenhuis.issue("elders", hosts=("gateway.elders.example",)),
        "server_expired": ziekenhuis.issue("verlopen", expired=True),
        "client": partners.issue("jeugdteam-west", server=False),
        "client_expired": partners.issue("jeugdteam-west", server=False, expired=True),
        "client_wrong_ca": wrong.issue("indringer", server=False),
    }


def _tls_home(root: Path, pki: dict[str, Any], server_cert: Any, port: int, client_auth: str = "required") -> Path:
    home = root / "ggz-noord"
    run_cli("init", str(home), "--org-id", "ggz-noord", "--name", "GGZ Noord", "--url", f"https://127.0.0.1:{port}")
    set_in_section(home, "server", f"port = {port}\nworkers = 1\n")
    set_in_section(
        home,
        "tls",
        f'certfile = "{server_cert.cert}"\nkeyfile = "{server_cert.key}"\n'
        f'client_ca = "{pki["partner_ca"].pem}"\nclient_auth = "{client_auth}"\n',
    )
    return home


def _client(
    pki: dict[str, Any], *, trust: Any = None, cert: Any = None, max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str((trust or pki["server_ca"]).pem))
    if cert is not None:
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
    if max_version is not None:
        with warnings.catch_warnings():  # the old versions are deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = max_version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1: the node must say no
    return ctx


def _get(port: int, ctx: ssl.SSLContext, path: str = "/readyz") -> int:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.fixture(scope="module")
def mtls_node(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Any]) -> Iterator[int]:
    port = free_port()
    home = _tls_home(tmp_path_factory.mktemp("node"), pki, pki["server"], port)
    served = Served(home)
    try:
        served.wait(lambda: _get(port, _client(pki, cert=pki["client"])) == 200)
        yield port
    finally:
        served.stop()


def test_a_partner_with_a_certificate_from_the_agreed_ca_gets_through(mtls_node: int, pki: dict[str, Any]) -> None:
    ctx = _client(pki, cert=pki["client"])
    conn = http.client.HTTPSConnection("127.0.0.1", mtls_node, context=ctx, timeout=5)
    conn.request("GET", "/fhir/metadata")
    resp = conn.getresponse()
    assert resp.status == 200
    assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")  # type: ignore[union-attr]
    conn.close()


@pytest.mark.parametrize(
    "who",
    [None, "client_wrong_ca", "client_expired"],
    ids=["no-certificate", "certificate-from-another-ca", "expired-certificate"],
)
def test_a_caller_without_a_valid_client_certificate_is_refused_in_the_handshake(
    mtls_node: int, pki: dict[str, Any], who: str | None
) -> None:
    ctx = _client(pki, cert=pki[who] if who else None)
    with pytest.raises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
        _get(mtls_node, ctx)


def test_tls_1_1_is_refused_and_1_2_is_taken(mtls_node: int, pki: dict[str, Any]) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _get(mtls_node, _client(pki, cert=pki["client"], max_version=ssl.TLSVersion.TLSv1_1))
    assert _get(mtls_node, _client(pki, cert=pki["client"], max_version=ssl.TLSVersion.TLSv1_2)) == 200


def test_a_client_that_trusts_another_root_does_not_accept_the_node(mtls_node: int, pki: dict[str, Any]) -> None:
    ctx = _client(pki, trust=pki["wrong_ca"], cert=pki["client"])
    with pytest.raises(ssl.SSLCertVerificationError):
        _get(mtls_node, ctx)


def test_the_partner_client_presents_its_certificate_and_trusts_the_configured_bundle(
    mtls_node: int, pki: dict[str, Any]
) -> None:
    ctx = tls.client_context(
        ca_bundle=str(pki["server_ca"].pem), certfile=str(pki["client"].cert), keyfile=str(pki["client"].key)
    )
    reply = StrictClient(ssl_context=ctx).request("GET", f"https://127.0.0.1:{mtls_node}/.well-known/jwks.json")
    assert reply.status == 200 and reply.body["keys"]


def test_the_partner_client_without_its_certificate_is_turned_away(mtls_node: int, pki: dict[str, Any]) -> None:
    ctx = tls.client_context(ca_bundle=str(pki["server_ca"].pem))
    with pytest.raises(PartnerUnavailable):
        StrictClient(ssl_context=ctx).request("GET", f"https://127.0.0.1:{mtls_node}/.well-known/jwks.json")


def test_the_public_bundle_does_not_trust_a_private_root(mtls_node: int, pki: dict[str, Any]) -> None:
    # certifi, the default: a PKIoverheid-style private root needs partners.ca_bundle
    ctx = tls.client_context(certfile=str(pki["client"].cert), keyfile=str(pki["client"].key))
    with pytest.raises(PartnerUnavailable):
        StrictClient(ssl_context=ctx).request("GET", f"https://127.0.0.1:{mtls_node}/healthz")


@pytest.mark.parametrize("cert", ["server_other_name", "server_expired"], ids=["wrong-host-name", "expired"])
def test_the_partner_client_refuses_a_server_certificate_for_another_host_or_expired(
    tmp_path: Path, pki: dict[str, Any], cert: str
) -> None:
    port = free_port()
    home = _tls_home(tmp_path, pki, pki[cert], port, client_auth="none")
    served = Served(home)
    try:
        lax = ssl.create_default_context()
        lax.check_hostname, lax.verify_mode = False, ssl.CERT_NONE
        served.wait(lambda: _get(port, lax) == 200)
        ctx = tls.client_context(ca_bundle=str(pki["server_ca"].pem))
        with pytest.raises(PartnerUnavailable):
            StrictClient(ssl_context=ctx).request("GET", f"https://127.0.0.1:{port}/healthz")
    finally:
        served.stop()


def test_a_node_configured_for_mtls_adds_a_partner_over_it(tmp_path: Path, mtls_node: int, pki: dict[str, Any]) -> None:
    home = tmp_path / "jeugdteam-west"
    run_cli("init", str(home), "--org-id", "jeugdteam-west", "--name", "Jeugdteam West")
    set_in_section(
        home,
        "partners",
        f'ca_bundle = "{pki["server_ca"].pem}"\n'
        f'client_certfile = "{pki["client"].cert}"\n'
        f'client_keyfile = "{pki["client"].key}"\n',
    )
    out = run_cli(
        "partner",
        "add",
        str(home),
        "--org-id",
        "ggz-noord",
        "--url",
        f"https://127.0.0.1:{mtls_node}",
        "--trust-on-first-use",
    )
    assert "ggz-noord" in out


def test_tls_settings_that_cannot_work_stop_the_node_at_start_up(tmp_path: Path, pki: dict[str, Any]) -> None:
    home = tmp_path / "n"
    run_cli("init", str(home), "--org-id", "ggz-noord", "--name", "GGZ Noord")
    base = (home / "node.toml").read_text()
    cases = {
        f'[tls]\ncertfile = "{pki["server"].cert}"\n': "go together",
        f'[tls]\ncertfile = "{pki["server"].cert}"\nkeyfile = "{pki["server"].key}"\nclient_auth = "required"\n': "client_ca",
        f'[tls]\ncertfile = "{pki["server"].cert}"\nkeyfile = "{pki["server"].key}"\nmin_version = "TLSv1.1"\n': "min_version",
        '[tls]\ncertfile = "missing.pem"\nkeyfile = "missing.key"\n': "cannot read",
        f'[tls]\ncertfile = "{pki["server"].cert}"\nkeyfile = "{pki["client"].key}"\n': "do not belong together",
    }
    for extra, message in cases.items():
        (home / "node.toml").write_text(base + "\n" + extra)
        with pytest.raises(ConfigError, match=message):
            config.load(home, env={})
    pki["server"].key.chmod(0o644)
    try:
        (home / "node.toml").write_text(
            base + f'\n[tls]\ncertfile = "{pki["server"].cert}"\nkeyfile = "{pki["server"].key}"\n'
        )
        with pytest.raises(ConfigError, match="readable by others"):
            config.load(home, env={})
    finally:
        pki["server"].key.chmod(0o600)
    pki["client"].key.chmod(0o644)
    try:
        (home / "node.toml").write_text(
            base + f'\n[partners]\nclient_certfile = "{pki["client"].cert}"\nclient_keyfile = "{pki["client"].key}"\n'
        )
        with pytest.raises(ConfigError, match="client_keyfile .* readable by others"):
            config.load(home, env={})
    finally:
        pki["client"].key.chmod(0o600)
