"""The region's IT service runs the operator; each IT department checks its node (contract 1, 7).

``gateway federation operator-init / add-member / remove-member / publish`` on the operator's
home, and ``status`` / ``refresh`` on a node, as an operator types them: exit 0, or one line
on stderr and exit 2 for bad input (1 when a member cannot be reached), nothing changed.
"""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from node_builders import gateway
from test_federation_node import Members

from gateway import config
from gateway.config import ConfigError
from gateway.federation import memberlist as fedlist


@pytest.fixture
def members() -> Any:
    m = Members()
    yield m
    m.server.shutdown()
    m.server.server_close()


@pytest.fixture
def op(tmp_path: Path) -> tuple[Path, str]:
    run = gateway("federation", "operator-init", tmp_path / "operator", "--id", "regio-west", "--name", "Regio West")
    assert run.code == 0, run.err
    return tmp_path / "operator", run.last_line


def test_operator_init_keeps_its_key_owner_only_and_refuses_to_overwrite(op: tuple[Path, str]) -> None:
    home, thumbprint = op
    assert fedlist.THUMBPRINT.fullmatch(thumbprint)
    assert stat.S_IMODE((home / "operator-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    again = gateway("federation", "operator-init", home, "--id", "regio-west", "--name", "Regio West")
    assert again.code == 2 and again.err.count("\n") == 1 and "already" in again.err


def test_add_member_lists_its_keys_and_a_second_run_refreshes_them(
    op: tuple[Path, str], members: Members, tmp_path: Path
) -> None:
    home, thumbprint = op
    _m, key = members.member("ggz-noord")
    args = [
        "federation",
        "add-member",
        home,
        "--org-id",
        "ggz-noord",
        "--name",
        "GGZ Noord",
        "--url",
        members.url("ggz-noord"),
        "--type",
        "adult-mental-health",
        "--contact",
        "+31 50 123 4567",
        "--contact",
        "crisis@ggz-noord.example",
        "--ura",
        "12345678",
    ]
    first = gateway(*args, "--thumbprint", key.thumbprint())
    assert first.code == 0 and "added" in first.out and first.last_line == key.thumbprint()
    again = gateway(*args)
    assert again.code == 0 and "refreshed" in again.out
    out = tmp_path / "site" / "federation.json"
    out.parent.mkdir()
    assert gateway("federation", "publish", home, "--out", out).code == 0
    second = gateway("federation", "publish", home, "--out", out, "--valid-days", "3")
    assert second.code == 0 and "version 2 with 1 member" in second.out

    listed = fedlist.verify(out.read_bytes(), [thumbprint], now=datetime.now(UTC))
    assert listed.version == 2 and listed.members[0].contact == ("+31 50 123 4567", "crisis@ggz-noord.example")
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


@pytest.mark.parametrize(
    ("extra", "code", "why"),
    [
        (["--type", "hospital"], 2, "organisation-type"),
        (["--type", "youth-care", "--thumbprint", "A" * 43], 2, "thumbprint"),
        (["--type", "youth-care", "--contact", "bel maar"], 2, "neither a phone"),
        (["--type", "youth-care", "--ura", "12"], 2, "URA"),
    ],
)
def test_add_member_refuses_bad_input_and_lists_nothing(
    op: tuple[Path, str], members: Members, extra: list[str], code: int, why: str
) -> None:
    home, _ = op
    members.member("jeugdteam-west")
    run = gateway(
        "federation",
        "add-member",
        home,
        "--org-id",
        "jeugdteam-west",
        "--name",
        "Jeugdteam West",
        "--url",
        members.url("jeugdteam-west"),
        *extra,
    )
    assert run.code == code and why in run.err and run.err.count("\n") == 1, run.err
    assert json.loads((home / "operator.json").read_text())["members"] == {}


def test_add_member_that_cannot_be_reached_is_an_operational_failure(op: tuple[Path, str]) -> None:
    run = gateway(
        "federation",
        "add-member",
        op[0],
        "--org-id",
        "ggz-noord",
        "--name",
        "GGZ Noord",
        "--url",
        "http://127.0.0.1:9",
        "--type",
        "adult-mental-health",
    )
    assert run.code == 1 and run.err.startswith("gateway: ")


def test_remove_member_of_an_unknown_org_is_refused(op: tuple[Path, str]) -> None:
    run = gateway("federation", "remove-member", op[0], "--org-id", "nobody")
    assert run.code == 2 and "not a member" in run.err


def test_publish_refuses_a_validity_it_cannot_give(op: tuple[Path, str], tmp_path: Path) -> None:
    run = gateway("federation", "publish", op[0], "--out", tmp_path / "x.json", "--valid-days", "0")
    assert run.code == 2 and not (tmp_path / "x.json").exists()


def test_status_and_refresh_on_a_node(make_home: Any, op: tuple[Path, str], members: Members, tmp_path: Path) -> None:
    home_op, thumbprint = op
    node = make_home("jeugdteam-west", "Jeugdteam West")
    assert gateway("federation", "status", node).code == 2  # no [federation] yet
    site = tmp_path / "site"
    site.mkdir()
    with open(node / "node.toml", "a", encoding="utf-8") as fh:
        fh.write(
            f'\n[federation]\nlist_url = "file://{site / "federation.json"}"\noperator_thumbprints = ["{thumbprint}"]\n'
        )
    missing = gateway("federation", "refresh", node)
    assert missing.code == 1 and "cannot read" in missing.err
    members.member("ggz-noord")
    assert (
        gateway(
            "federation",
            "add-member",
            home_op,
            "--org-id",
            "ggz-noord",
            "--name",
            "GGZ Noord",
            "--url",
            members.url("ggz-noord"),
            "--type",
            "adult-mental-health",
        ).code
        == 0
    )
    assert gateway("federation", "publish", home_op, "--out", site / "federation.json").code == 0
    applied = gateway("federation", "refresh", node)
    assert applied.code == 0 and applied.out.startswith("applied: 1 added"), applied.err
    status = gateway("federation", "status", node)
    assert status.code == 0 and "version: 1" in status.out and "members: 1" in status.out
    assert f"operator: {thumbprint}" in status.out
    # a bilateral pin of the same org at another URL: both refused, and the operator is told
    clash = gateway(
        "partner",
        "add",
        node,
        "--org-id",
        "ggz-noord",
        "--url",
        members.url("ggz-noord") + "/x/..",
        "--trust-on-first-use",
    )
    assert clash.code == 0 and "refused" in clash.err
    assert "refused ggz-noord: conflict" in gateway("federation", "status", node).out


def test_a_federation_without_operator_keys_or_over_plain_http_does_not_start(make_home: Any) -> None:
    node = make_home("jeugdteam-west", "Jeugdteam West")
    with open(node / "node.toml", "a", encoding="utf-8") as fh:
        fh.write(
            '\n[federation]\nlist_url = "http://lijst.regio-west.example/federation.json"\n'
            'operator_thumbprints = ["' + "A" * 43 + '"]\n'
        )
    with pytest.raises(ConfigError, match="loopback only"):
        config.load(node)
    env = {
        "GATEWAY_FEDERATION_LIST_URL": "https://lijst.regio-west.example/federation.json",
        "GATEWAY_FEDERATION_OPERATOR_THUMBPRINTS": "A" * 43 + ", " + "B" * 43,
    }
    assert config.load(node, env).federation.operator_thumbprints == ("A" * 43, "B" * 43)
    with pytest.raises(ConfigError, match="operator_thumbprints"):
        config.load(node, {**env, "GATEWAY_FEDERATION_OPERATOR_THUMBPRINTS": ""})
