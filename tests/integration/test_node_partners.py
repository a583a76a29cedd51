"""Organisations' IT departments make their nodes trust each other (contract section 1).

``gateway partner add`` fetches the partner's JWKS over HTTP and pins it, checked against the
thumbprint the partner read out over the phone. GGZ Noord runs for real (gunicorn, two
workers), so "takes effect on a running node without a restart" and "a jti is used once
across workers" are tested as an IT department meets them; Zorg Oost, freshly initialised,
pins GGZ Noord. Jeugdteam West is a small web server publishing a key the test holds, which
also lets a test serve JWKS documents no honest node would publish.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from joserfc.jwk import ECKey, OKPKey
from node_builders import (
    STORES,
    Run,
    StoreFactory,
    assertion_claims,
    gateway,
    init_home,
    sign_assertion,
    started_node,
    store_factory,
    token_form,
)
from test_node_cli import assert_one_line_refusal

from contract import jwt
from gateway import config
from gateway.demo.loopback import RunningNode, free_port
from gateway.keys import KeyRing
from gateway.node import build

A_ORG = "ggz-noord"
B_ORG = "jeugdteam-west"


class FakePartner:
    """A web server posing as a partner node, serving whatever JWKS a test gives it."""

    def __init__(self) -> None:
        self.status, self.body, self.headers = 200, b"{}", {"Content-Type": "application/json"}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(owner.status)
                for name, value in owner.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, body: Any, status: int = 200, **headers: str) -> None:
        self.status, self.body = status, json.dumps(body).encode()
        self.headers = {"Content-Type": "application/json", **headers}


def public_jwk(key: ECKey | OKPKey) -> dict[str, Any]:
    return {**key.as_dict(private=False), "kid": key.thumbprint()}


@pytest.fixture(scope="module", params=STORES)
def stores_once(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    yield from store_factory(request.param)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, stores_once: StoreFactory) -> Path:
    return tmp_path_factory.mktemp(f"partners-{stores_once.kind}")


@pytest.fixture(scope="module")
def node_a(root: Path, stores_once: StoreFactory) -> Iterator[RunningNode]:
    node = started_node(root, stores_once, A_ORG, workers=2)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePartner]:
    partner = FakePartner()
    yield partner
    partner.server.shutdown()
    partner.server.server_close()


@pytest.fixture(scope="module")
def b_key() -> ECKey:
    """Jeugdteam West's signing key."""
    return ECKey.generate_key("P-256", private=True)


@pytest.fixture(scope="module")
def a_pins_b(node_a: RunningNode, fake: FakePartner, b_key: ECKey) -> Run:
    """GGZ Noord's operator pins Jeugdteam West, with the thumbprint read out by its operator."""
    fake.serve({"keys": [public_jwk(b_key)]})
    return gateway(
        "partner", "add", node_a.home, "--org-id", B_ORG, "--url", fake.url, "--thumbprint", b_key.thumbprint()
    )


@pytest.fixture
def fresh_home(root: Path, stores_once: StoreFactory, request: pytest.FixtureRequest) -> Path:
    """Zorg Oost, just initialised, trusting nobody yet."""
    name = "".join(c if c.isalnum() else "-" for c in request.node.name)
    home, _ = init_home(root / name, stores_once, "zorg-oost")
    return home


def listed(home: Path) -> str:
    run = gateway("partner", "list", home)
    assert run.code == 0, run
    return run.out


def b_assertion(node_a: RunningNode, b_key: ECKey) -> str:
    claims = assertion_claims(B_ORG, node_a.url + "/oauth/token", int(time.time()))
    return sign_assertion((b_key.thumbprint(), "ES256", b_key), claims)


# --- pinning ------------------------------------------------------------------------------------


def test_an_operator_pins_a_partner_by_its_thumbprint(
    a_pins_b: Run, node_a: RunningNode, fake: FakePartner, b_key: ECKey
) -> None:
    kid = b_key.thumbprint()

    assert a_pins_b.code == 0 and a_pins_b.err == ""
    assert a_pins_b.last_line == kid
    assert f"{B_ORG}\t{fake.url}\t{kid}" in listed(node_a.home).splitlines()


def test_the_pinned_partner_is_trusted_by_the_running_node_at_once(
    a_pins_b: Run, node_a: RunningNode, b_key: ECKey
) -> None:
    reply = requests.post(node_a.url + "/oauth/token", data=token_form(b_assertion(node_a, b_key)), timeout=10)

    assert reply.status_code == 200, reply.text
    assert reply.json()["token_type"] == "Bearer"


def test_an_assertion_is_used_once_even_when_workers_race_for_it(
    a_pins_b: Run, node_a: RunningNode, b_key: ECKey
) -> None:
    assertion = b_assertion(node_a, b_key)

    def post(_: int) -> int:
        return requests.post(node_a.url + "/oauth/token", data=token_form(assertion), timeout=30).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(post, range(12)))

    assert statuses.count(200) == 1, statuses
    assert all(s in (400, 401) for s in statuses if s != 200), statuses


def test_two_nodes_that_trust_each_other_get_partner_tokens_with_their_own_code(
    fresh_home: Path, node_a: RunningNode, fake: FakePartner
) -> None:
    # Zorg Oost publishes its key ring's JWKS (here from a plain web server), each side pins the other
    fake.serve(KeyRing(fresh_home).jwks())
    oost_kid, a_kid = KeyRing(fresh_home).thumbprint(), KeyRing(node_a.home).thumbprint()
    assert (
        gateway(
            "partner", "add", node_a.home, "--org-id", "zorg-oost", "--url", fake.url, "--thumbprint", oost_kid
        ).code
        == 0
    )
    assert (
        gateway("partner", "add", fresh_home, "--org-id", A_ORG, "--url", node_a.url, "--thumbprint", a_kid).code == 0
    )

    oost = build(config.load(fresh_home))
    try:
        token = oost.peer.access_token(A_ORG)  # private_key_jwt, exactly as an exchange starts
    finally:
        oost.uow.engine.dispose()
        oost.http.close()

    header, claims = jwt.peek_header(token), jwt.peek_claims(token)
    assert (header["kid"], claims["iss"], claims["sub"], claims["role"]) == (a_kid, A_ORG, "zorg-oost", "partner")


def test_a_registered_client_works_on_the_running_node_at_once(node_a: RunningNode) -> None:
    secret = node_a.add_client("ggz-epd-live", "ehr")

    reply = requests.post(
        node_a.url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("ggz-epd-live", secret),
        timeout=10,
    )

    assert reply.status_code == 200


def test_a_wrong_thumbprint_pins_nothing(fresh_home: Path, node_a: RunningNode) -> None:
    # a thumbprint of another node (Zorg Oost's own), as a mistaken or attacked phone call gives it
    run = gateway(
        "partner",
        "add",
        fresh_home,
        "--org-id",
        A_ORG,
        "--url",
        node_a.url,
        "--thumbprint",
        KeyRing(fresh_home).thumbprint(),
    )

    assert_one_line_refusal(run)
    assert "thumbprint" in run.err
    assert listed(fresh_home) == ""
    # once the right thumbprint is read out, pinning works
    kid = KeyRing(node_a.home).thumbprint()
    right = gateway("partner", "add", fresh_home, "--org-id", A_ORG, "--url", node_a.url, "--thumbprint", kid)
    assert right.code == 0, right
    assert listed(fresh_home).splitlines() == [f"{A_ORG}\t{node_a.url}\t{kid}"]


def test_an_unreachable_partner_is_a_one_line_failure(fresh_home: Path) -> None:
    run = gateway(
        "partner",
        "add",
        "--trust-on-first-use",
        fresh_home,
        "--org-id",
        A_ORG,
        "--url",
        f"http://127.0.0.1:{free_port()}",
    )

    assert_one_line_refusal(run, code=1)
    assert listed(fresh_home) == ""


def test_a_url_that_is_no_gateway_pins_nothing(fresh_home: Path, node_a: RunningNode) -> None:
    run = gateway(
        "partner", "add", "--trust-on-first-use", fresh_home, "--org-id", A_ORG, "--url", node_a.url + "/fhir/metadata"
    )

    assert_one_line_refusal(run, code=1)
    assert listed(fresh_home) == ""


def test_bad_partner_input_is_refused_in_one_line(fresh_home: Path, node_a: RunningNode) -> None:
    for org_id, url in (
        ("GGZ Noord", None),
        ("x", None),
        ("ggz-noord\n", None),
        ("", None),
        (A_ORG, "ftp://ggz-noord.example"),
        (A_ORG, "ggz-noord.example"),
        (A_ORG, "http://"),
        ("zorg-oost", None),  # the node itself
    ):
        assert_one_line_refusal(
            gateway(
                "partner", "add", "--trust-on-first-use", fresh_home, "--org-id", org_id, "--url", url or node_a.url
            )
        )

    assert listed(fresh_home) == ""


def test_a_local_client_id_cannot_become_a_partner(fresh_home: Path, node_a: RunningNode) -> None:
    gateway("client", "add", fresh_home, "--client-id", A_ORG, "--role", "ehr")

    assert_one_line_refusal(
        gateway("partner", "add", "--trust-on-first-use", fresh_home, "--org-id", A_ORG, "--url", node_a.url)
    )
    assert listed(fresh_home) == ""


def test_a_partner_org_id_cannot_become_a_local_client(fresh_home: Path, node_a: RunningNode) -> None:
    assert (
        gateway("partner", "add", "--trust-on-first-use", fresh_home, "--org-id", A_ORG, "--url", node_a.url).code == 0
    )

    assert_one_line_refusal(gateway("client", "add", fresh_home, "--client-id", A_ORG, "--role", "ehr"))


# --- what a partner's JWKS may hold -----------------------------------------------------------------


def test_a_jwks_with_an_ed25519_key_is_pinned(fresh_home: Path, fake: FakePartner) -> None:
    key = OKPKey.generate_key("Ed25519", private=True)
    fake.serve({"keys": [public_jwk(key)]})

    run = gateway(
        "partner", "add", fresh_home, "--org-id", "ggz-zuid", "--url", fake.url, "--thumbprint", key.thumbprint()
    )

    assert run.code == 0, run
    assert key.thumbprint() in listed(fresh_home)


def private_member_jwks() -> dict[str, Any]:
    return {"keys": [ECKey.generate_key("P-256", private=True).as_dict(private=True)]}


def wrong_kid_jwks() -> dict[str, Any]:
    return {"keys": [{**ECKey.generate_key("P-256", private=True).as_dict(private=False), "kid": "key-1"}]}


def other_curve_jwks() -> dict[str, Any]:
    return {"keys": [ECKey.generate_key("P-384", private=True).as_dict(private=False)]}


def test_a_jwks_holding_anything_but_public_p256_or_ed25519_keys_pins_nothing(
    fresh_home: Path, fake: FakePartner
) -> None:
    for name, jwks in (
        ("a private key", private_member_jwks()),
        ("a kid that is not the thumbprint", wrong_kid_jwks()),
        ("a P-384 key", other_curve_jwks()),
        ("an RSA key", {"keys": [{"kty": "RSA", "n": "sXch", "e": "AQAB"}]}),
        ("a symmetric key", {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        ("no keys", {"keys": []}),
        ("no key list", {"keys": "none"}),
        ("a list", [1, 2]),
    ):
        fake.serve(jwks)
        run = gateway("partner", "add", "--trust-on-first-use", fresh_home, "--org-id", "ggz-zuid", "--url", fake.url)
        assert run.code != 0, name
        assert_one_line_refusal(run, code=run.code)

    assert listed(fresh_home) == ""


def off_curve_jwk() -> dict[str, Any]:
    """A P-256 public key whose y coordinate is changed: the point is on no curve we know."""
    jwk = ECKey.generate_key("P-256", private=True).as_dict(private=False)
    y = bytearray(base64.urlsafe_b64decode(jwk["y"] + "=="))
    y[7] ^= 0x01
    return {**jwk, "y": base64.urlsafe_b64encode(bytes(y)).rstrip(b"=").decode()}


@pytest.mark.parametrize(
    "answer",
    ["off-curve", "off-curve-beside-a-good-key", "bad-base64", "short-ed25519", "empty", "not-json", "oversized"],
)
def test_a_jwks_that_cannot_be_used_is_bad_input_in_one_line(fresh_home: Path, fake: FakePartner, answer: str) -> None:
    """Issue 13 item 4: exit 2 and one line, never a traceback; nothing is pinned."""
    good = public_jwk(ECKey.generate_key("P-256", private=True))
    bodies: dict[str, Any] = {
        "off-curve": {"keys": [off_curve_jwk()]},
        "off-curve-beside-a-good-key": {"keys": [good, off_curve_jwk()]},
        "bad-base64": {"keys": [{**good, "x": "!!not base64!!", "kid": "k"}]},
        "short-ed25519": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]},
    }
    if answer in bodies:
        fake.serve(bodies[answer])
    else:
        fake.status, fake.headers = 200, {"Content-Type": "application/json"}
        fake.body = {
            "empty": b"",
            "not-json": b"<html>gateway</html>",
            "oversized": json.dumps({"keys": [good] * 400}).encode(),
        }[answer]

    run = gateway("partner", "add", fresh_home, "--org-id", "ggz-zuid", "--url", fake.url)

    assert_one_line_refusal(run, code=2)
    assert "jwks" in run.err.lower() or "key" in run.err.lower()
    assert listed(fresh_home) == ""


def test_a_redirect_is_not_followed_to_another_host(fresh_home: Path, fake: FakePartner, node_a: RunningNode) -> None:
    fake.serve({}, status=302, Location=node_a.url + "/.well-known/jwks.json")

    run = gateway("partner", "add", "--trust-on-first-use", fresh_home, "--org-id", A_ORG, "--url", fake.url)

    assert_one_line_refusal(run, code=1)
    assert listed(fresh_home) == ""


# --- issue 20.13: no silent trust on first use, one key per organisation, English lines --


def test_without_a_thumbprint_a_script_must_say_it_trusts_on_first_use(fresh_home: Path, node_a: RunningNode) -> None:
    run = gateway("partner", "add", fresh_home, "--org-id", A_ORG, "--url", node_a.url)

    assert_one_line_refusal(run)
    assert "--thumbprint" in run.err and "--trust-on-first-use" in run.err
    assert listed(fresh_home) == ""


def test_one_key_cannot_be_pinned_for_two_organisations(fresh_home: Path, fake: FakePartner) -> None:
    key = ECKey.generate_key("P-256", private=True)
    fake.serve({"keys": [public_jwk(key)]})
    assert (
        gateway(
            "partner", "add", fresh_home, "--org-id", "ggz-zuid", "--url", fake.url, "--thumbprint", key.thumbprint()
        ).code
        == 0
    )

    again = gateway(
        "partner", "add", fresh_home, "--org-id", "ggz-west", "--url", fake.url, "--thumbprint", key.thumbprint()
    )

    assert_one_line_refusal(again)
    assert "pinned for partner ggz-zuid already" in again.err
    assert [line.split("\t")[0] for line in listed(fresh_home).splitlines()] == ["ggz-zuid"]


def test_an_unreachable_partner_is_reported_in_english(fresh_home: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    run = gateway("partner", "add", fresh_home, "--org-id", A_ORG, "--url", url, "--trust-on-first-use")

    assert_one_line_refusal(run, code=1)
    assert run.err.strip() == f"gateway: cannot connect to {url}/.well-known/jwks.json" or run.err.startswith(
        f"gateway: cannot connect to {url}"
    ), run.err
