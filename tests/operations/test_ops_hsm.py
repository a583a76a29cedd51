"""The signing key lives in an HSM (SoftHSM2 over PKCS#11), and never leaves it.

A GGZ institution's security officer wants the node key on a token: made there, not
exportable, used by the node for every signature (access tokens, consent tokens, audit
heads), rotated there, and an old file key moved off by rotating once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pkcs11
import pytest
import requests
from joserfc import jws
from joserfc.jwk import KeySet
from ops_support import Served, set_in_section
from pkcs11 import Attribute, ObjectClass
from pkcs11.exceptions import AttributeSensitive

from gateway import config
from gateway.app import create_app
from gateway.demo.loopback import free_port, run_cli
from gateway.hsm import HsmError, Pkcs11Token
from gateway.node import build


def _init_on_hsm(tmp_path: Path, token: Any, monkeypatch: pytest.MonkeyPatch, org: str = "ggz-noord") -> Path:
    monkeypatch.setenv("GATEWAY_KEYS_BACKEND", "pkcs11")
    monkeypatch.setenv("GATEWAY_KEYS_PKCS11_MODULE", token.module)
    monkeypatch.setenv("GATEWAY_KEYS_PKCS11_TOKEN", token.label)
    home = tmp_path / org
    run_cli("init", str(home), "--org-id", org, "--name", "GGZ Noord")
    set_in_section(home, "keys", token.toml())  # what the operator keeps in node.toml
    for name in ("GATEWAY_KEYS_BACKEND", "GATEWAY_KEYS_PKCS11_MODULE", "GATEWAY_KEYS_PKCS11_TOKEN"):
        monkeypatch.delenv(name)
    return home


def _token_verifies(token: str, jwks: dict[str, Any]) -> str:
    """Verify a compact JWS with the published keys only; return the kid that signed it."""
    obj = jws.deserialize_compact(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    return str(obj.headers()["kid"])


def _access_token(client: Any, secret: str) -> str:
    resp = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + __import__("base64").b64encode(f"epd:{secret}".encode()).decode()},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return str(resp.get_json()["access_token"])


def test_a_node_made_on_the_hsm_keeps_no_private_key_file_and_signs_with_the_token(
    tmp_path: Path, hsm_token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _init_on_hsm(tmp_path, hsm_token, monkeypatch)

    files = sorted(p.name for p in (home / "keys").iterdir())
    assert files == ["keyring.json"]
    (entry,) = json.loads((home / "keys" / "keyring.json").read_text())["keys"]
    assert entry["store"] == "pkcs11" and entry["token_id"]
    secret = run_cli("client", "add", str(home), "--client-id", "epd", "--role", "ehr").strip().splitlines()[-1]
    app = create_app(config.load(home))
    try:
        client = app.test_client()
        jwks = client.get("/.well-known/jwks.json").get_json()
        assert [k["kid"] for k in jwks["keys"]] == [entry["kid"]]
        assert _token_verifies(_access_token(client, secret), jwks) == entry["kid"]
    finally:
        app.extensions["gateway"].uow.engine.dispose()
    assert "intact" in run_cli("audit", "verify", str(home))  # heads and checkpoints signed on the token


def test_the_private_key_on_the_token_is_sensitive_and_not_extractable(
    tmp_path: Path, hsm_token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _init_on_hsm(tmp_path, hsm_token, monkeypatch)
    (entry,) = json.loads((home / "keys" / "keyring.json").read_text())["keys"]
    token = pkcs11.lib(hsm_token.module).get_token(token_label=hsm_token.label)
    with token.open() as session:  # this process logged in to the token when init made the key
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=bytes.fromhex(entry["token_id"]))
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        assert private[Attribute.NEVER_EXTRACTABLE] is True
        with pytest.raises(AttributeSensitive):
            private[Attribute.VALUE]
    node = build(config.load(home))
    try:
        with pytest.raises(HsmError, match="stays on the HSM"):
            node.keys.active[2].as_pem(private=True)
    finally:
        node.uow.engine.dispose()


def test_rotation_on_the_hsm_keeps_the_old_key_verifying_for_its_window(
    tmp_path: Path, hsm_token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _init_on_hsm(tmp_path, hsm_token, monkeypatch)
    old = json.loads((home / "keys" / "keyring.json").read_text())["active"]

    new = run_cli("keys", "rotate", str(home)).strip().splitlines()[-1]

    ring = json.loads((home / "keys" / "keyring.json").read_text())
    assert ring["active"] == new != old
    assert {e["store"] for e in ring["keys"]} == {"pkcs11"}
    assert sorted(p.name for p in (home / "keys").iterdir()) == ["keyring.json"]
    node = build(config.load(home))
    try:
        assert {k["kid"] for k in node.keys.jwks()["keys"]} == {old, new}
    finally:
        node.uow.engine.dispose()
    assert "intact" in run_cli("audit", "verify", str(home))


def test_a_file_key_node_moves_its_key_into_the_hsm_by_rotating_once(tmp_path: Path, hsm_token: Any) -> None:
    home = tmp_path / "jeugdteam-west"
    old = run_cli("init", str(home), "--org-id", "jeugdteam-west", "--name", "Jeugdteam West").strip().splitlines()[-1]
    set_in_section(home, "keys", hsm_token.toml())

    new = run_cli("keys", "rotate", str(home)).strip().splitlines()[-1]

    ring = json.loads((home / "keys" / "keyring.json").read_text())
    stores = {e["kid"]: e["store"] for e in ring["keys"]}
    assert stores == {old: "file", new: "pkcs11"}
    assert not (home / "keys" / f"{new}.pem").exists()
    assert "intact" in run_cli("audit", "verify", str(home))  # the old file key still verifies its heads


def test_a_wrong_pin_stops_the_command_with_one_clear_line(
    tmp_path: Path, hsm_token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _init_on_hsm(tmp_path, hsm_token, monkeypatch)
    # a separate process, as an operator runs it (this one is logged in to the token already)
    run = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "keys", "rotate", str(home)],
        capture_output=True,
        text=True,
        env={**os.environ, "GATEWAY_KEYS_PKCS11_PIN": "0000"},
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.startswith("gateway: cannot open HSM token") and run.stderr.count("\n") == 1
    assert "PinIncorrect" in run.stderr
    monkeypatch.delenv("GATEWAY_KEYS_PKCS11_PIN")
    run = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "keys", "rotate", str(home)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "GATEWAY_KEYS_PKCS11_PIN"},
        timeout=60,
    )
    assert run.returncode == 2 and "GATEWAY_KEYS_PKCS11_PIN" in run.stderr


def test_the_pin_is_never_read_from_node_toml(tmp_path: Path, hsm_token: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _init_on_hsm(tmp_path, hsm_token, monkeypatch)
    set_in_section(home, "keys", f'pkcs11_pin = "{hsm_token.pin}"\n')
    with pytest.raises(config.ConfigError, match="GATEWAY_KEYS_PKCS11_PIN"):
        config.load(home)


def test_gunicorn_workers_sign_with_the_hsm_after_they_fork(
    tmp_path: Path, hsm_token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _init_on_hsm(tmp_path, hsm_token, monkeypatch)
    port = free_port()
    set_in_section(home, "server", f"port = {port}\nworkers = 2\n")
    secret = run_cli("client", "add", str(home), "--client-id", "epd", "--role", "ehr").strip().splitlines()[-1]
    served = Served(home)
    try:
        base = f"http://127.0.0.1:{port}"
        served.wait(lambda: requests.get(base + "/readyz", timeout=1).status_code == 200)
        jwks = requests.get(base + "/.well-known/jwks.json", timeout=5).json()
        for _ in range(6):  # new connections: both workers answer some
            resp = requests.post(
                base + "/oauth/token", data={"grant_type": "client_credentials"}, auth=("epd", secret), timeout=10
            )
            assert resp.status_code == 200, resp.text
            _token_verifies(resp.json()["access_token"], jwks)
    finally:
        served.stop()


def test_a_token_without_the_named_key_is_refused(hsm_token: Any) -> None:
    token = Pkcs11Token(hsm_token.module, hsm_token.label, hsm_token.pin)
    with pytest.raises(HsmError, match="holds no key"):
        token.key(b"\x00" * 16)
    token.close()


def test_a_node_with_its_key_on_the_hsm_is_backed_up_without_the_pin_and_restored_with_it(
    tmp_path: Path, hsm_token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _init_on_hsm(tmp_path, hsm_token, monkeypatch)
    monkeypatch.delenv("GATEWAY_KEYS_PKCS11_PIN")
    run_cli("backup", str(home), "--out", str(tmp_path / "b.tgz"))

    with tarfile.open(tmp_path / "b.tgz") as tar:
        names = tar.getnames()
    assert "keys/keyring.json" in names and not [n for n in names if n.endswith(".pem")]  # only the reference
    monkeypatch.setenv("GATEWAY_KEYS_PKCS11_PIN", hsm_token.pin)
    out = run_cli("restore", str(tmp_path / "b.tgz"), str(tmp_path / "restored"))
    assert "audit intact" in out  # the restored ring finds its key on the same token
