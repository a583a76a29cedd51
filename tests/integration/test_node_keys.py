"""Key rotation, on a node and between partners (issue 2, "keys rotate"; contract section 2).

An operator rotates a node's signing key with ``gateway keys rotate`` while it serves: the new
key signs from then on, the old one stays published for its window, so what it signed still
verifies. A partner that rotates is picked up by re-fetching its JWKS from the pinned URL,
rate-limited, so an attacker's stream of unknown ``kid``s cannot make us hammer the partner.
Jeugdteam West (B) runs for real; GGZ Noord (A) is served in-process on a hand-moved clock.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from node_builders import (
    STORES,
    Clock,
    StoreFactory,
    assertion_claims,
    gateway,
    init_home,
    sign_assertion,
    started_node,
    store_factory,
    token_form,
)

from audit import events
from contract import jwt
from gateway import config
from gateway.app import create_app
from gateway.demo.loopback import RunningNode
from gateway.keys import KeyRing
from gateway.node import build
from gateway.repositories import audit_log

A_URL = "https://ggz-noord.example"
B_ORG = "jeugdteam-west"
BSN_SEARCH = {"identifier": "http://fhir.nl/fhir/NamingSystem/bsn|999999990"}


@pytest.fixture(scope="module", params=STORES)
def stores_once(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    yield from store_factory(request.param)


@pytest.fixture(scope="module")
def node_b(tmp_path_factory: pytest.TempPathFactory, stores_once: StoreFactory) -> Iterator[RunningNode]:
    node = started_node(tmp_path_factory.mktemp("keys-b"), stores_once, B_ORG, workers=2)
    node.add_client("jeugd-epd", "ehr")
    yield node
    node.stop()


@pytest.fixture(scope="module")
def home_a(tmp_path_factory: pytest.TempPathFactory, stores_once: StoreFactory, node_b: RunningNode) -> Path:
    home, _ = init_home(tmp_path_factory.mktemp("keys-a"), stores_once, "ggz-noord", url=A_URL)
    pinned = gateway(
        "partner",
        "add",
        home,
        "--org-id",
        B_ORG,
        "--url",
        node_b.url,
        "--thumbprint",
        KeyRing(node_b.home).thumbprint(),
    )
    assert pinned.code == 0, pinned
    return home


@pytest.fixture(scope="module")
def clock(home_a: Path) -> Clock:
    return Clock()  # made after A pinned B: the pinning is A's last fetch of B's keys


@pytest.fixture(scope="module")
def node_a(home_a: Path, clock: Clock) -> Iterator[Any]:
    cfg = config.load(home_a)
    app = create_app(cfg, node=build(cfg, clock=clock))
    yield app
    app.extensions["gateway"].uow.engine.dispose()
    app.extensions["gateway"].http.close()


@pytest.fixture
def a(node_a: Any) -> Any:
    return node_a.test_client()


def rotate(home: Path, *args: str) -> str:
    run = gateway("keys", "rotate", home, *args)
    assert run.code == 0 and run.err == "", run
    return run.last_line


def served_kids(url: str) -> list[str]:
    return [k["kid"] for k in requests.get(url + "/.well-known/jwks.json", timeout=10).json()["keys"]]


def b_token(node_b: RunningNode) -> str:
    reply = requests.post(
        node_b.url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("jeugd-epd", node_b.clients["jeugd-epd"]),
        timeout=10,
    )
    assert reply.status_code == 200
    return reply.json()["access_token"]  # type: ignore[no-any-return]


def b_searches(node_b: RunningNode, token: str) -> int:
    return requests.get(
        node_b.url + "/fhir/Patient",
        params=BSN_SEARCH,
        timeout=10,
        headers={"Authorization": f"Bearer {token}", "X-Practitioner": "uzi:900000202"},
    ).status_code


def b_asserts(node_b: RunningNode, clock: Clock) -> str:
    """Jeugdteam West's next client assertion to GGZ Noord, signed with its active key."""
    return sign_assertion(KeyRing(node_b.home).active, assertion_claims(B_ORG, A_URL + "/oauth/token", clock.ts))


def pinned_kids(home: Path) -> list[str]:
    [line] = gateway("partner", "list", home).out.splitlines()
    return line.split("\t")[2].split(",")


# --- rotating a node's own key -----------------------------------------------------------------


def test_a_running_node_publishes_both_keys_after_rotation_without_restart(node_b: RunningNode) -> None:
    old = KeyRing(node_b.home).thumbprint()
    token_before = b_token(node_b)

    new = rotate(node_b.home)

    assert new != old
    assert stat.S_IMODE((node_b.home / "keys" / f"{new}.pem").stat().st_mode) == 0o600
    for _ in range(4):  # two workers: each must have noticed
        assert set(served_kids(node_b.url)) >= {old, new}
    # what the old key signed still verifies; what is signed now carries the new kid
    assert b_searches(node_b, token_before) == 200
    token_after = b_token(node_b)
    assert jwt.peek_header(token_after)["kid"] == new
    assert b_searches(node_b, token_after) == 200


def test_rotation_can_move_a_node_to_ed25519(node_b: RunningNode) -> None:
    new = rotate(node_b.home, "--alg", "EdDSA")

    keys = {k["kid"]: k for k in requests.get(node_b.url + "/.well-known/jwks.json", timeout=10).json()["keys"]}
    assert (keys[new]["kty"], keys[new]["crv"]) == ("OKP", "Ed25519")
    assert any(k["kty"] == "EC" for k in keys.values())
    assert jwt.peek_header(b_token(node_b))["kid"] == new


def test_tokens_signed_before_rotation_verify_on_the_in_process_node(a: Any, home_a: Path) -> None:
    secret = gateway("client", "add", home_a, "--client-id", "ggz-epd", "--role", "ehr").last_line
    before = a.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("ggz-epd", secret))
    old = jwt.peek_header(before.get_json()["access_token"])["kid"]

    new = rotate(home_a)

    assert {k["kid"] for k in a.get("/.well-known/jwks.json").get_json()["keys"]} == {old, new}
    headers = {"Authorization": f"Bearer {before.get_json()['access_token']}", "X-Practitioner": "uzi:900000101"}
    assert a.get("/fhir/Patient", query_string=BSN_SEARCH, headers=headers).status_code == 200
    after = a.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("ggz-epd", secret))
    assert jwt.peek_header(after.get_json()["access_token"])["kid"] == new


def test_a_retired_key_leaves_the_jwks_after_its_window_but_still_verifies_old_checkpoints(make_home: Any) -> None:
    home = make_home()
    old = KeyRing(home).thumbprint()
    new = rotate(home)
    ring = KeyRing(home, retired_key_days=30)

    later = datetime.now(UTC) + timedelta(days=31)
    assert [k["kid"] for k in ring.jwks(now=later)["keys"]] == [new]
    assert {k["kid"] for k in ring.jwks()["keys"]} == {old, new}
    assert {k.kid for k in ring.verification_set()} == {old, new}


# --- a partner rotates ---------------------------------------------------------------------------------


def test_a_partners_rotation_is_picked_up_from_its_pinned_url_and_rate_limited(
    a: Any, home_a: Path, node_b: RunningNode, clock: Clock
) -> None:
    interval = config.load(home_a).partners.jwks_refetch_interval
    assert a.post("/oauth/token", data=token_form(b_asserts(node_b, clock))).status_code == 200

    # some time later Jeugdteam West rotates; its next assertion names a kid A has not pinned
    clock.advance(2 * interval)
    first = rotate(node_b.home)
    reply = a.post("/oauth/token", data=token_form(b_asserts(node_b, clock)))
    assert reply.status_code == 200, reply.get_json()
    assert first in pinned_kids(home_a)

    # a second unknown kid within the window is refused without asking B again
    second = rotate(node_b.home)
    refused = a.post("/oauth/token", data=token_form(b_asserts(node_b, clock)))
    assert refused.status_code in (400, 401)
    assert refused.get_json()["error"] == "invalid_client"
    assert second not in pinned_kids(home_a)

    # after the window, the same (legitimate) rotation is picked up
    clock.advance(interval + 1)
    assert a.post("/oauth/token", data=token_form(b_asserts(node_b, clock))).status_code == 200
    assert second in pinned_kids(home_a)


def test_a_partner_add_again_pins_the_rotated_keys_at_once(home_a: Path, node_b: RunningNode) -> None:
    new = rotate(node_b.home)

    run = gateway("partner", "add", home_a, "--org-id", B_ORG, "--url", node_b.url, "--thumbprint", new)

    assert run.code == 0, run
    assert new in pinned_kids(home_a)


def test_a_key_the_partner_withdraws_is_unpinned_at_its_next_message(
    a: Any, home_a: Path, node_b: RunningNode, clock: Clock
) -> None:
    """Jeugdteam West fears its key leaked: it rotates and withdraws the old key at once. Its
    next assertion makes GGZ Noord re-read the JWKS, which unpins the old key; an assertion
    signed with the leaked key is refused from then on, and GGZ Noord's audit says so."""
    clock.advance(config.load(home_a).partners.jwks_refetch_interval + 1)
    leaked = KeyRing(node_b.home).active
    new = rotate(node_b.home, "--withdraw-old")
    assert served_kids(node_b.url) == [new]

    assert a.post("/oauth/token", data=token_form(b_asserts(node_b, clock))).status_code == 200
    assert pinned_kids(home_a) == [new]
    forged = sign_assertion(leaked, assertion_claims(B_ORG, A_URL + "/oauth/token", clock.ts))
    refused = a.post("/oauth/token", data=token_form(forged))
    assert refused.status_code in (400, 401) and refused.get_json()["error"] == "invalid_client"

    node = a.application.extensions["gateway"]
    with node.uow(read_only=True) as uow:
        [update] = [
            json.loads(e.record_json)
            for e in audit_log.entries(uow.session, action=events.PARTNER_KEYS_UPDATED, limit=1)
        ]
    assert update["peer_org"] == B_ORG and update["detail"]["added"] == [new]
    assert leaked[0] in update["detail"]["removed"]


# --- a key ring that is not safe or not whole stops the node ------------------------------------------


def test_a_private_key_readable_by_others_stops_the_node(make_home: Any) -> None:
    home = make_home()
    key_file = home / "keys" / f"{KeyRing(home).thumbprint()}.pem"
    key_file.chmod(0o644)  # e.g. restored from a backup without its mode

    for args in (("keys", "rotate", home), ("partner", "list", home)):
        run = gateway(*args)
        assert run.code == 2 and run.err.count("\n") == 1 and "Traceback" not in run.err, run
        assert "chmod 600" in run.err


def test_a_damaged_key_ring_index_is_one_line_not_a_traceback(make_home: Any) -> None:
    home = make_home()
    (home / "keys" / "keyring.json").write_text('{"active": "nope", "keys": [')

    run = gateway("keys", "rotate", home)

    assert run.code == 2 and run.err.count("\n") == 1 and "Traceback" not in run.err, run
    assert "keyring.json" in run.err
