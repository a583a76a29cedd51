"""A node following its region's member list, on the real stores (contract section 7).

Jeugdteam West's node follows the list of Regio West. The members' nodes are stand-ins that
serve only their JWKS (counting reads); the list is a file the operator's tooling signs.
What the IT department and the privacy officer rely on: members are trusted with only the
keys the list names, a newer list applies at once and is audited member by member, a list
that fails a check changes nothing, a conflict with a bilateral partner refuses both, and an
expired list fails closed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey
from node_builders import Clock, assertion_claims, reason, sign_assertion, token_form

from audit import events
from gateway import config
from gateway.app import create_app
from gateway.demo.loopback import StaticHost
from gateway.federation import directory
from gateway.federation import memberlist as fedlist
from gateway.federation import membership as federation_trust
from gateway.federation.memberlist import ListedMember
from gateway.keys import public_jwk
from gateway.node import build
from gateway.repositories import audit_log

OPERATOR = ECKey.generate_key("P-256", private=True)


class Members:
    """The members' nodes, as far as a JWKS goes: ``/<org>/.well-known/jwks.json``."""

    def __init__(self) -> None:
        self.keys: dict[str, list[ECKey]] = {}
        self.reads: dict[str, int] = {}
        members = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                org = self.path.strip("/").split("/")[0]
                members.reads[org] = members.reads.get(org, 0) + 1
                body = json.dumps({"keys": [public_jwk(k) for k in members.keys.get(org, [])]}).encode()
                self.send_response(200 if org in members.keys else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, org: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{org}"

    def member(
        self,
        org: str,
        org_type: str = "adult-mental-health",
        *,
        listed: list[ECKey] | None = None,
        published: list[ECKey] | None = None,
        url: str | None = None,
    ) -> tuple[ListedMember, ECKey]:
        key = ECKey.generate_key("P-256", private=True)
        self.keys[org] = published or [key]
        names = listed or self.keys[org]
        return ListedMember(
            org_id=org,
            name=org.replace("-", " ").title(),
            type=org_type,
            url=url or self.url(org),
            thumbprints=tuple(k.thumbprint() for k in names),
            contact=("+31 50 123 4567",),
        ), self.keys[org][0]


@pytest.fixture
def members() -> Iterator[Members]:
    m = Members()
    yield m
    m.server.shutdown()
    m.server.server_close()


class Follower:
    """Jeugdteam West's node, its list file, and the operator's pen."""

    def __init__(self, home: Path, list_file: Path, clock: Clock) -> None:
        self.list_file, self.clock = list_file, clock
        self.config = config.load(home)
        self.node = build(self.config, clock=clock)
        self.app = create_app(self.config, node=self.node)
        self.client = self.app.test_client()

    def publish(
        self, *members: ListedMember, version: int, valid: timedelta = timedelta(days=7), federation: str = "regio-west"
    ) -> None:
        now = self.clock()
        bundle = fedlist.build(federation, version, members, now=now - timedelta(minutes=1), valid_until=now + valid)
        self.list_file.write_text(json.dumps(fedlist.sign(bundle, OPERATOR, now=now)))

    def refresh(self) -> federation_trust.Outcome:
        return federation_trust.refresh(self.node)

    def actions(self, *wanted: str) -> list[dict[str, Any]]:
        with self.node.uow() as uow:
            found = [json.loads(e.record_json) for e in audit_log.entries(uow.session, limit=5000)]
        return [r for r in found if r["action"] in wanted]

    def login(self, org: str, key: ECKey) -> Any:
        claims = assertion_claims(org, self.config.token_url, self.clock.ts)
        return self.client.post(
            "/oauth/token", data=token_form(sign_assertion((key.thumbprint(), "ES256", key), claims))
        )


def follow(home: Path, list_url: str, **extra: Any) -> None:
    lines = [f'list_url = "{list_url}"', f'operator_thumbprints = ["{OPERATOR.thumbprint()}"]']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    with open(home / "node.toml", "a", encoding="utf-8") as fh:
        fh.write("\n[federation]\n" + "\n".join(lines) + "\n")


@pytest.fixture
def west(make_home: Any, tmp_path: Path) -> Iterator[Follower]:
    home = make_home("jeugdteam-west", "Jeugdteam West")
    list_file = tmp_path / "site" / "federation.json"
    list_file.parent.mkdir()
    follow(home, f"file://{list_file}")
    f = Follower(home, list_file, Clock())
    yield f
    f.node.uow.engine.dispose()


def test_members_become_partners_with_only_the_keys_the_list_names(west: Follower, members: Members) -> None:
    listed_key, unlisted_key = ECKey.generate_key("P-256", private=True), ECKey.generate_key("P-256", private=True)
    ggz, _ = members.member("ggz-noord", listed=[listed_key], published=[listed_key, unlisted_key])
    west.publish(ggz, version=1)
    assert west.refresh().result == "applied"
    assert west.node.partners.is_trusted("ggz-noord")
    assert west.login("ggz-noord", unlisted_key).get_json()["error"] == "invalid_client"
    assert west.login("ggz-noord", listed_key).status_code == 200
    keys = west.node.partners.keys_for("ggz-noord", unlisted_key.thumbprint())
    assert keys is not None and [k.kid for k in keys] == [listed_key.thumbprint()]


def test_a_newer_list_is_applied_and_audited_member_by_member(west: Follower, members: Members) -> None:
    ggz, _ = members.member("ggz-noord")
    vt, _ = members.member("veilig-thuis-west", "safe-at-home")
    me, _ = members.member("jeugdteam-west", "youth-care")  # the node itself is listed too
    west.publish(ggz, vt, me, version=1)
    west.refresh()
    assert {o for o, _u, _k in west.node.partners.list()} == {"ggz-noord", "veilig-thuis-west"}
    west.publish(ggz, me, version=2)
    out = west.refresh()
    assert (out.result, out.removed) == ("applied", ["veilig-thuis-west"])
    assert not west.node.partners.is_trusted("veilig-thuis-west")
    applied = west.actions(events.FEDERATION_LIST_APPLIED)
    assert [a["detail"]["version"] for a in applied] == [2, 1]
    assert sorted(a["peer_org"] for a in west.actions(events.FEDERATION_MEMBER_ADDED)) == [
        "ggz-noord",
        "veilig-thuis-west",
    ]
    assert [a["peer_org"] for a in west.actions(events.FEDERATION_MEMBER_REMOVED)] == ["veilig-thuis-west"]
    assert audit_log.verify(west.node).ok  # the entries of one list share one signed head


def test_a_list_of_hundreds_of_members_keeps_the_chain_and_its_checkpoints_verifiable(
    west: Follower, members: Members
) -> None:
    key = ECKey.generate_key("P-256", private=True)
    many = [
        ListedMember(
            org_id=f"org-{i:03d}",
            name=f"Organisatie {i}",
            type="other",
            url=f"https://org-{i:03d}.example",
            thumbprints=(key.thumbprint(),),
        )
        for i in range(250)
    ]
    west.publish(*many, version=1)
    assert len(west.refresh().added) == 250
    result = audit_log.verify(west.node)
    assert result.ok and result.checked >= 251, result


def test_a_removed_members_live_access_token_dies_with_the_list(west: Follower, members: Members) -> None:
    ggz, key = members.member("ggz-noord")
    west.publish(ggz, version=1)
    west.refresh()
    token = west.login("ggz-noord", key).get_json()["access_token"]

    def ask() -> Any:
        return west.client.post(
            "/fhir/$consent-status",
            headers={"Authorization": f"Bearer {token}"},
            json={"resourceType": "Parameters", "parameter": [{"name": "consent", "valueString": "c-1"}]},
        )

    assert reason(ask().get_json()) != "unknown-partner"
    west.publish(version=2)
    west.refresh()
    refused = ask()
    assert refused.status_code == 401 and reason(refused.get_json()) == "unknown-partner"


def test_a_refresh_that_changes_one_member_rereads_only_that_members_keys(west: Follower, members: Members) -> None:
    listed = {org: members.member(org) for org in ("ggz-noord", "wijkteam-oost", "veilig-thuis-west")}
    west.publish(*(m for m, _k in listed.values()), version=1)
    west.refresh()
    for org, (_m, key) in listed.items():
        assert west.node.partners.keys_for(org, key.thumbprint()) is not None
    assert members.reads == dict.fromkeys(listed, 1)
    rotated = ECKey.generate_key("P-256", private=True)
    members.keys["wijkteam-oost"] = [rotated]
    changed = ListedMember(**{**listed["wijkteam-oost"][0].__dict__, "thumbprints": (rotated.thumbprint(),)})
    west.publish(listed["ggz-noord"][0], changed, listed["veilig-thuis-west"][0], version=2)
    assert west.refresh().changed == ["wijkteam-oost"]
    assert west.node.partners.keys_for("wijkteam-oost", rotated.thumbprint()) is not None
    for org in ("ggz-noord", "veilig-thuis-west"):
        assert west.node.partners.keys_for(org, listed[org][1].thumbprint()) is not None
    assert members.reads == {"ggz-noord": 1, "wijkteam-oost": 2, "veilig-thuis-west": 1}


def test_a_list_failing_a_check_changes_nothing_and_says_why(west: Follower, members: Members) -> None:
    ggz, _ = members.member("ggz-noord")
    vt, _ = members.member("veilig-thuis-west", "safe-at-home")
    west.publish(ggz, version=2)
    west.refresh()
    west.publish(ggz, vt, version=2)  # the same version with other content
    assert west.refresh().result == "refused"
    west.publish(ggz, vt, version=1)  # a rollback
    out = west.refresh()
    assert out.result == "refused" and "not higher" in out.detail
    west.publish(ggz, vt, version=3, federation="regio-oost")  # another federation's list
    assert "regio-oost" in west.refresh().detail
    status = federation_trust.status(west.node)
    assert (status["version"], status["members"]) == (2, 1) and "regio-oost" in status["last_error"]
    assert not west.node.partners.is_trusted("veilig-thuis-west")
    assert len(west.actions(events.FEDERATION_LIST_REFUSED)) == 3
    again = west.refresh()  # the same refused file: refused again, not re-verified nor re-audited
    assert again.result == "refused" and "unchanged since it was refused" in again.detail
    assert "regio-oost" in federation_trust.status(west.node)["last_error"]
    assert len(west.actions(events.FEDERATION_LIST_REFUSED)) == 3


def test_the_same_list_fetched_again_changes_nothing(west: Follower, members: Members) -> None:
    ggz, _ = members.member("ggz-noord")
    west.publish(ggz, version=1)
    assert west.refresh().result == "applied"
    assert west.refresh().result == "not-modified"  # file:// compares modification time and size
    west.list_file.write_text(west.list_file.read_text())  # touched, same content
    assert west.refresh().result in ("unchanged", "not-modified")
    assert len(west.actions(events.FEDERATION_LIST_APPLIED)) == 1


def test_an_expired_list_fails_closed_and_readyz_says_why(west: Follower, members: Members) -> None:
    ggz, _ = members.member("ggz-noord")
    west.publish(ggz, version=1, valid=timedelta(hours=1))
    west.refresh()
    assert west.client.get("/readyz").status_code == 200
    west.clock.advance(3600)
    assert not west.node.partners.is_trusted("ggz-noord")
    assert directory.entry(west.node, "ggz-noord") is None
    ready = west.client.get("/readyz")
    assert ready.status_code == 503 and reason(ready.get_json()) == "federation-list-expired"
    status = federation_trust.status(west.node)
    assert (
        "expired" in status["expired"]
        and ("ggz-noord", "the federation list in force has expired") in status["refused"]
    )


def test_a_bilateral_partner_that_disagrees_with_the_list_is_refused_with_the_member(
    west: Follower, members: Members
) -> None:
    ggz, _ = members.member("ggz-noord")
    west.node.partners.add("ggz-noord", members.url("ggz-noord") + "/elsewhere/..")  # same keys, other URL
    west.publish(ggz, version=1)
    west.refresh()
    assert not west.node.partners.is_trusted("ggz-noord")
    refused = dict(federation_trust.status(west.node)["refused"])
    assert refused["ggz-noord"].startswith("conflict")
    assert west.actions(events.FEDERATION_CONFLICT)[0]["peer_org"] == "ggz-noord"
    # the IT department takes the bilateral pin back: the list alone decides
    west.node.partners.remove("ggz-noord")
    federation_trust.after_partner_change(west.node)
    assert west.node.partners.is_trusted("ggz-noord")
    assert directory.entry(west.node, "ggz-noord").source == "federation"  # type: ignore[union-attr]


def test_a_bilateral_partner_that_agrees_with_the_list_stays_trusted_after_the_list_expires(
    west: Follower, members: Members
) -> None:
    ggz, _ = members.member("ggz-noord")
    west.node.partners.add("ggz-noord", members.url("ggz-noord"))
    west.publish(ggz, version=1, valid=timedelta(hours=1))
    west.refresh()
    assert west.node.partners.is_trusted("ggz-noord") and not federation_trust.status(west.node)["refused"]
    west.clock.advance(7200)
    assert west.node.partners.is_trusted("ggz-noord")  # trusted bilaterally too


def test_the_directory_names_members_as_listed_and_bilateral_partners_by_org_id(
    west: Follower, members: Members
) -> None:
    ggz, _ = members.member("ggz-noord")
    vt, _ = members.member("veilig-thuis-west", "safe-at-home")
    members.member("huisarts-de-linde")
    west.node.partners.add("huisarts-de-linde", members.url("huisarts-de-linde"))
    west.publish(ggz, vt, version=1)
    west.refresh()
    found = {e.org_id: e for e in directory.entries(west.node)}
    assert found["veilig-thuis-west"] == directory.DirectoryEntry(
        "veilig-thuis-west",
        "Veilig Thuis West",
        "safe-at-home",
        ["+31 50 123 4567"],
        members.url("veilig-thuis-west"),
        "federation",
    )
    assert found["huisarts-de-linde"].name == "huisarts-de-linde" and found["huisarts-de-linde"].type == "other"
    assert directory.entry(west.node, "nobody") is None
    assert [label for label, _e in directory.by_type(list(found.values()))] == [
        "Ggz voor volwassenen",
        "Veilig Thuis",
        "Andere organisatie",
    ]


def test_lists_over_http_are_fetched_conditionally(make_home: Any, tmp_path: Path, members: Members) -> None:
    site = tmp_path / "site"
    site.mkdir()
    host = StaticHost(site)
    home = make_home("jeugdteam-west", "Jeugdteam West")
    follow(home, host.url + "/federation.json")
    west = Follower(home, site / "federation.json", Clock())
    try:
        ggz, _ = members.member("ggz-noord")
        west.publish(ggz, version=1)
        assert west.refresh().result == "applied"
        assert west.refresh().result == "not-modified"
        assert host.not_modified == 1
    finally:
        west.node.uow.engine.dispose()
        host.stop()


def test_one_worker_refreshes_per_interval(west: Follower, members: Members) -> None:
    ggz, _ = members.member("ggz-noord")
    west.publish(ggz, version=1)
    assert federation_trust.refresh(west.node, claim=True).result == "applied"
    assert federation_trust.refresh(west.node, claim=True).result == "skipped"  # the other worker's turn is later
    west.clock.advance(west.config.federation.refresh_seconds)
    assert federation_trust.refresh(west.node, claim=True).result == "not-modified"


def test_a_member_listed_with_a_new_url_is_reached_there(west: Follower, members: Members) -> None:
    ggz, key = members.member("ggz-noord")
    west.publish(ggz, version=1)
    west.refresh()
    members.keys["ggz-nieuw"] = [key]
    moved = ListedMember(**{**ggz.__dict__, "url": members.url("ggz-nieuw")})
    west.publish(moved, version=2)
    west.refresh()
    assert west.node.partners.url_of("ggz-noord") == members.url("ggz-nieuw")
    assert west.node.partners.keys_for("ggz-noord", key.thumbprint()) is not None
    assert members.reads.get("ggz-nieuw") == 1


def test_a_node_that_never_applied_a_list_stays_ready(west: Follower) -> None:
    # nothing is trusted through a list yet, and the operator must reach its JWKS to list it
    assert west.client.get("/readyz").status_code == 200
    assert federation_trust.status(west.node)["version"] == 0
