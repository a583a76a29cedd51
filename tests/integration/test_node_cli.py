"""An IT department installs a node with the ``gateway`` command (contract section 1).

``init`` makes the home, the key and the store; ``client add`` registers an EHR. Every
mistake an operator can make ends in one line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from node_builders import Run, gateway
from sqlalchemy import select

from adapters.store import make_engine, revision_of
from adapters.store.models import AuditHead, Client, Partner
from gateway import config
from gateway.app import create_app
from gateway.demo import data as d

UNREACHABLE_PG = "postgresql+psycopg://nobody@127.0.0.1:1/nowhere"


def rfc7638(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint, computed here independently of the gateway's key library."""
    required = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def assert_one_line_refusal(run: Run, code: int = 2) -> None:
    assert run.code == code, run
    assert run.err.startswith("gateway: "), run
    assert run.err.strip().count("\n") == 0, run.err
    assert "Traceback" not in run.err + run.out


def init_args(home: Path, stores: Any, org_id: str = "ggz-noord", *extra: str) -> list[str]:
    args = ["init", str(home), "--org-id", org_id, "--name", "GGZ Noord", "--url", "http://127.0.0.1:8400", *extra]
    db = stores.url()
    return args + ["--db", db] if db else args


def served_jwks(home: Path) -> dict[str, Any]:
    app = create_app(config.load(home))
    try:
        return app.test_client().get("/.well-known/jwks.json").get_json()  # type: ignore[no-any-return]
    finally:
        app.extensions["gateway"].uow.engine.dispose()


# --- init ------------------------------------------------------------------------------


def test_an_it_department_initialises_a_node_and_reads_its_thumbprint(tmp_path: Path, stores: Any) -> None:
    home = tmp_path / "ggz"
    run = gateway(*init_args(home, stores))

    assert run.code == 0 and run.err == ""
    assert "ggz-noord" in run.out
    thumbprint = run.last_line
    keys = served_jwks(home)["keys"]
    assert [k["kid"] for k in keys] == [thumbprint]
    assert rfc7638(keys[0]) == thumbprint


def test_the_private_key_is_readable_by_its_owner_only(tmp_path: Path, stores: Any) -> None:
    home = tmp_path / "ggz"
    thumbprint = gateway(*init_args(home, stores)).last_line

    key_file = home / "keys" / f"{thumbprint}.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "keys").stat().st_mode) == 0o700
    assert b"PRIVATE KEY" in key_file.read_bytes()


def test_the_configuration_file_is_not_readable_by_others(tmp_path: Path, stores: Any) -> None:
    # --db may carry a database password; node.toml must not leak it to other users
    home = tmp_path / "ggz"
    gateway(*init_args(home, stores))

    assert stat.S_IMODE((home / "node.toml").stat().st_mode) & 0o077 == 0


def test_init_leaves_an_empty_migrated_store_with_an_audit_head(tmp_path: Path, stores: Any) -> None:
    home = tmp_path / "ggz"
    gateway(*init_args(home, stores))

    cfg = config.load(home)
    engine = make_engine(cfg.store.url)
    try:
        assert revision_of(engine) is not None
        with engine.connect() as conn:
            assert conn.execute(select(Client)).all() == []
            assert conn.execute(select(Partner)).all() == []
            assert conn.execute(select(AuditHead.seq)).scalar_one() == 0
    finally:
        engine.dispose()
    if stores.kind == "sqlite":
        assert cfg.store.url == f"sqlite:///{home.resolve() / 'node.db'}"
        assert stat.S_IMODE((home / "node.db").stat().st_mode) & 0o077 == 0
    else:
        assert cfg.store.url.startswith("postgresql+psycopg://")


def test_init_with_eddsa_publishes_an_ed25519_key(tmp_path: Path, stores: Any) -> None:
    home = tmp_path / "jeugd"
    run = gateway(*init_args(home, stores, "jeugdteam-west", "--alg", "EdDSA"))

    assert run.code == 0
    [key] = served_jwks(home)["keys"]
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert key["kid"] == run.last_line == rfc7638(key)


def test_init_refuses_to_overwrite_an_existing_node(tmp_path: Path, stores: Any) -> None:
    home = tmp_path / "ggz"
    first = gateway(*init_args(home, stores))
    key_file = home / "keys" / f"{first.last_line}.pem"
    before = (key_file.read_bytes(), (home / "node.toml").read_text())

    again = gateway(*init_args(home, stores))

    assert_one_line_refusal(again)
    assert "already" in again.err
    assert (key_file.read_bytes(), (home / "node.toml").read_text()) == before
    assert [p.name for p in (home / "keys").glob("*.pem")] == [key_file.name]


def test_init_refuses_a_store_that_holds_another_node(tmp_path: Path, stores: Any) -> None:
    first = tmp_path / "ggz"
    gateway(*init_args(first, stores))
    shared = config.load(first).store.url

    run = gateway("init", tmp_path / "second", "--org-id", "ggz-zuid", "--name", "GGZ Zuid", "--db", shared)

    assert_one_line_refusal(run)
    assert "holds a node already" in run.err
    assert not (tmp_path / "second" / "keys").exists()


@pytest.mark.parametrize("org_id", ["GGZ-Noord", "g", "ggz noord", "-ggz", "ggz_noord", "x" * 64])
def test_init_refuses_a_malformed_org_id(tmp_path: Path, org_id: str) -> None:
    home = tmp_path / "node"
    run = gateway("init", home, "--org-id", org_id, "--name", "X")

    assert_one_line_refusal(run)
    assert "org_id" in run.err
    assert not (home / "node.toml").exists() and not (home / "keys").exists()


@pytest.mark.parametrize("db", ["mysql://root@localhost/gateway", "postgresql://root@localhost/x", "sqlite:", "x"])
def test_init_refuses_an_unsupported_store_url(tmp_path: Path, db: str) -> None:
    home = tmp_path / "node"
    run = gateway("init", home, "--org-id", "ggz-noord", "--name", "X", "--db", db)

    assert_one_line_refusal(run)
    assert "store" in run.err
    assert not (home / "keys").exists()


@pytest.mark.parametrize("db", [UNREACHABLE_PG, "sqlite:////nonexistent-dir/for/sure/node.db"])
def test_init_with_an_unreachable_store_says_so_and_can_be_retried(tmp_path: Path, stores: Any, db: str) -> None:
    home = tmp_path / "node"
    run = gateway("init", home, "--org-id", "ggz-noord", "--name", "X", "--db", db)

    assert_one_line_refusal(run)
    assert "store" in run.err
    # nothing half-made stays behind: the operator fixes --db and runs init again
    retry = gateway(*init_args(home, stores))
    assert retry.code == 0, retry


def test_an_unreachable_store_is_reported_without_its_password(tmp_path: Path) -> None:
    run = gateway(
        "init",
        tmp_path / "n",
        "--org-id",
        "ggz-noord",
        "--name",
        "X",
        "--db",
        "postgresql+psycopg://gateway:s3cr3t-pw@127.0.0.1:1/nowhere",
    )

    assert_one_line_refusal(run)
    assert "s3cr3t-pw" not in run.err + run.out


@pytest.mark.parametrize("url", ["ftp://ggz.example", "http://ggz.example:notaport", "ggz.example", "http://"])
def test_init_refuses_a_malformed_public_url(tmp_path: Path, url: str) -> None:
    run = gateway("init", tmp_path / "n", "--org-id", "ggz-noord", "--name", "X", "--url", url)

    assert_one_line_refusal(run)
    assert not (tmp_path / "n" / "keys").exists()


def test_init_refuses_an_unknown_algorithm(tmp_path: Path) -> None:
    run = gateway("init", tmp_path / "n", "--org-id", "ggz-noord", "--name", "X", "--alg", "RS256")

    assert_one_line_refusal(run)


# --- client add ------------------------------------------------------------------------


def test_registering_an_ehr_prints_its_secret_alone_on_the_last_line(make_home: Any) -> None:
    home = make_home()
    run = gateway("client", "add", home, "--client-id", "ggz-epd", "--role", "ehr")

    assert run.code == 0 and run.err == ""
    secret = run.last_line
    assert len(secret) >= 32 and " " not in secret
    assert secret not in run.out.strip().splitlines()[0]
    app = create_app(config.load(home))
    try:
        reply = app.test_client().post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("ggz-epd", secret)
        )
        assert reply.status_code == 200
    finally:
        app.extensions["gateway"].uow.engine.dispose()


def test_the_client_secret_is_stored_hashed(make_home: Any) -> None:
    home = make_home()
    secret = gateway("client", "add", home, "--client-id", "ggz-epd", "--role", "ehr").last_line

    engine = make_engine(config.load(home).store.url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(select(Client.secret_hash)).scalar_one()
    finally:
        engine.dispose()
    assert secret not in stored


def test_an_unknown_role_or_unusable_client_id_registers_nothing(make_home: Any) -> None:
    home = make_home()
    for role in ("root", "partner", "EHR", ""):
        assert_one_line_refusal(gateway("client", "add", home, "--client-id", "ggz-epd", "--role", role))
    # a colon splits basic auth (RFC 7617); the rest could never be typed into an EHR's settings
    for client_id in ("", "ggz:epd", "ggz epd", "x" * 129, "epd\u00e9", "-epd"):
        assert_one_line_refusal(gateway("client", "add", home, "--client-id", client_id, "--role", "ehr"))

    engine = make_engine(config.load(home).store.url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(Client)).all() == []
    finally:
        engine.dispose()


def test_a_client_id_is_registered_once(make_home: Any) -> None:
    home = make_home()
    gateway("client", "add", home, "--client-id", "ggz-epd", "--role", "ehr")

    again = gateway("client", "add", home, "--client-id", "ggz-epd", "--role", "admin")

    assert_one_line_refusal(again)


def test_commands_on_a_missing_home_say_so_in_one_line(tmp_path: Path) -> None:
    for args in (
        ["client", "add", tmp_path / "nope", "--client-id", "epd", "--role", "ehr"],
        ["partner", "list", tmp_path / "nope"],
        ["keys", "rotate", tmp_path / "nope"],
        ["serve", tmp_path / "nope"],
    ):
        assert_one_line_refusal(gateway(*args))


def test_a_directory_that_is_no_node_is_refused(tmp_path: Path) -> None:
    run = gateway("partner", "list", tmp_path)

    assert_one_line_refusal(run)
    assert "gateway init" in run.err


def test_serve_refuses_a_broken_configuration_before_starting(make_home: Any) -> None:
    home = make_home()
    toml = home / "node.toml"
    toml.write_text(toml.read_text().replace("workers = 2", "workres = 2"))

    run = gateway("serve", home)

    assert_one_line_refusal(run)


def test_serve_with_its_database_down_says_so_in_one_line(make_home: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    home = make_home()
    monkeypatch.setenv("GATEWAY_STORE_URL", "postgresql+psycopg://gateway:s3cr3t-pw@127.0.0.1:1/nowhere")

    run = gateway("serve", home)

    assert_one_line_refusal(run, code=1)
    assert "store" in run.err and "s3cr3t-pw" not in run.err


# --- issue 20.13: what an IT department needs on a bad day ------------------------------


def a_node(tmp_path: Path, stores: Any) -> Path:
    home = tmp_path / "node"
    assert gateway(*init_args(home, stores)).code == 0
    return home


def token_for(home: Path, client_id: str, secret: str) -> int:
    app = create_app(config.load(home))
    try:
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        return (
            app.test_client()
            .post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},  # type: ignore[no-any-return]
                headers={"Authorization": f"Basic {basic}"},
            )
            .status_code
        )
    finally:
        app.extensions["gateway"].uow.engine.dispose()


def test_a_leaked_ehr_secret_is_replaced_and_a_retired_client_removed(tmp_path: Path, stores: Any) -> None:
    home = a_node(tmp_path, stores)
    old = gateway("client", "add", home, "--client-id", "epd", "--role", "ehr").last_line

    rotated = gateway("client", "rotate-secret", home, "--client-id", "epd")

    assert rotated.code == 0 and rotated.last_line != old
    assert token_for(home, "epd", old) == 401 and token_for(home, "epd", rotated.last_line) == 200
    removed = gateway("client", "remove", home, "--client-id", "epd")
    assert removed.code == 0 and token_for(home, "epd", rotated.last_line) == 401
    assert_one_line_refusal(gateway("client", "remove", home, "--client-id", "epd"))
    assert_one_line_refusal(gateway("client", "rotate-secret", home, "--client-id", "nobody"))
    exported = gateway("audit", "export", home, "--format", "csv").out
    assert "client-secret-rotated" in exported and "client-removed" in exported and old not in exported


def test_the_report_reads_the_bsn_from_stdin_not_the_command_line(
    tmp_path: Path, stores: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = a_node(tmp_path, stores)
    monkeypatch.setattr("sys.stdin", io.StringIO(d.bsn(7) + "\n"))

    run = gateway("audit", "report", home, "--subject-file", "-")

    assert run.code == 0 and "<html" in run.out and run.err == ""
    monkeypatch.setattr("sys.stdin", io.StringIO("123\n"))
    assert_one_line_refusal(gateway("audit", "report", home, "--subject-file", "-"))
    assert_one_line_refusal(gateway("audit", "report", home))
    warned = gateway("audit", "report", home, "--subject", d.bsn(7))
    assert warned.code == 0 and "shell history" in warned.err


def test_version_and_serve_help_say_what_they_are() -> None:
    version = gateway("--version")
    help_text = gateway("serve", "--help")

    assert version.code == 0 and version.out.startswith("gateway ")
    assert help_text.code == 0 and "gunicorn" in help_text.out and "--port" in help_text.out
    assert "Bind address" in help_text.out
