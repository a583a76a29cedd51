"""A regional federation on real nodes: four organisations trust each other through one list.

GGZ Noord, Jeugdteam West, Jeugdbescherming Noord and Veilig Thuis West each run a node.
The region's IT service runs the federation operator: it lists every member once, signs the
list and puts it on a static web server. No IT department runs ``partner add``. Then life
happens: an organisation leaves the region, one rotates its key, someone plants a forged,
an old and an expired list on the web server, and the operator goes quiet past the list's
valid-until. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from contract import jwt
from gateway.cli.main import main as gateway_main
from gateway.demo import data as d
from gateway.demo import runner as demo
from gateway.demo.loopback import Operator, RunningNode, run_cli
from gateway.federation import operator
from gateway.keys import KeyRing
from tests.conftest import STORES, StoreFactory

MOTHER = demo.MOTHER
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def gateway(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = gateway_main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def reason(resp: requests.Response) -> str | None:
    try:
        return resp.json()["issue"][0]["details"]["coding"][0]["code"]  # type: ignore[no-any-return]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


class Region:
    def __init__(self, nodes: dict[str, RunningNode], op: Operator, ids: dict[str, Any]) -> None:
        self.nodes, self.op, self.ids = nodes, op, ids
        self.ggz, self.jeugd = nodes["ggz-noord"], nodes["jeugdteam-west"]
        self.vt = nodes["veilig-thuis-west"]

    def ask(self) -> requests.Response:
        """Jeugdteam West asks GGZ Noord for the mother's signals under a consent it records now."""
        j = self.jeugd.session("jeugd-epd", "uzi:900000202")
        consent = j.post(
            "/fhir/Consent",
            d.consent(
                self.ids["mother_jeugd"],
                [f"Patient/{self.ids['mother_jeugd']}"],
                recipients=[self.jeugd.org_id],
                holders=[self.ggz.org_id],
                purpose="joint-safety-planning",
                categories=["signals"],
                start=date.today() - timedelta(days=1),
            ),
        )
        assert consent.status_code == 201, consent.text
        return j.post(
            "/fhir/$request-summary", d.summary_request(self.ggz.org_id, MOTHER, "joint-safety-planning", ["signals"])
        )

    def republish(self, **kwargs: Any) -> None:
        """The operator publishes the list as it stands; every node applies it at once."""
        if kwargs:
            operator.publish(self.op.home, self.op.list_file, now=datetime.now(UTC), **kwargs)
        else:
            self.op.publish()
        for node in self.nodes.values():
            node.refresh_list()

    def partner_token(self, caller: RunningNode, holder: RunningNode) -> requests.Response:
        """``caller`` logs in at ``holder`` with private_key_jwt, as its node does."""

        kid, alg, key = KeyRing(caller.home).active
        now = int(time.time())
        assertion = jwt.sign(
            {
                "iss": caller.org_id,
                "sub": caller.org_id,
                "aud": holder.url + "/oauth/token",
                "iat": now,
                "exp": now + 60,
                "jti": uuid.uuid4().hex,
            },
            key,
            kid=kid,
            alg=alg,
            typ="JWT",
        )
        return requests.post(
            holder.url + "/oauth/token",
            timeout=10,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )

    def status(self, node: RunningNode) -> str:
        return run_cli("federation", "status", str(node.home))


@pytest.fixture(scope="module", params=STORES)
def region(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    stores = StoreFactory(request.param)
    root = tmp_path_factory.mktemp(f"region-{request.param}")
    nodes: dict[str, RunningNode] = {}
    op: Operator | None = None
    try:
        # GGZ Noord's refresher rounds every 10 s, in both of its workers (see the last test)
        nodes, op = demo.build_region(root, {org: stores.url() for org, *_ in demo.REGION})
        ggz = nodes["ggz-noord"]
        ggz.stop()
        toml = ggz.home / "node.toml"
        toml.write_text(
            toml.read_text()
            .replace("refresh_seconds = 300", "refresh_seconds = 10")
            .replace("workers = 1", "workers = 2")
        )
        ggz.start()  # fetches the list at start: the one in force
        ids = demo.load_families(nodes["ggz-noord"], nodes["jeugdteam-west"])
        yield Region(nodes, op, ids)
    finally:
        for node in nodes.values():
            node.stop()
        if op is not None:
            op.stop()
        stores.cleanup()


def test_four_organisations_join_through_one_list_and_exchange_a_summary_without_partner_add(region: Region) -> None:
    for node in region.nodes.values():
        listed = [line.split("\t")[0] for line in run_cli("partner", "list", str(node.home)).splitlines()]
        assert sorted(listed) == sorted(o for o in region.nodes if o != node.org_id)
        assert "version: 1" in region.status(node) and "members: 4" in region.status(node)
    answer = region.ask()
    assert answer.status_code == 200, answer.text
    assert answer.json()["signature"]["who"]["identifier"]["value"] == "ggz-noord"
    # GGZ Noord was restarted after the list was applied: serve fetched it before its workers started
    assert "federation list: not-modified" in (region.ggz.home / "serve.log").read_text()


def test_a_member_removed_from_the_list_is_refused_at_its_next_call_live_token_included(region: Region) -> None:
    login = region.partner_token(region.vt, region.ggz)
    assert login.status_code == 200, login.text
    live = login.json()["access_token"]

    def consent_status() -> requests.Response:
        return requests.post(
            region.ggz.url + "/fhir/$consent-status",
            timeout=10,
            json={"resourceType": "Parameters", "parameter": [{"name": "consent", "valueString": "onbekend-1"}]},
            headers={"Authorization": f"Bearer {live}", "Content-Type": "application/fhir+json"},
        )

    assert reason(consent_status()) != "unknown-partner"
    region.op.remove(region.vt)
    try:
        region.republish()
        refused = consent_status()  # the access token has minutes left: it dies with the membership
        assert refused.status_code == 401 and reason(refused) == "unknown-partner", refused.text
        assert region.partner_token(region.vt, region.ggz).json()["error"] == "invalid_client"
        assert "members: 3" in region.status(region.ggz)
    finally:
        region.op.add(region.vt, "safe-at-home", "0800 2000")
        region.republish()
    assert region.partner_token(region.vt, region.ggz).status_code == 200


def test_a_member_rotates_its_key_the_operator_republishes_and_traffic_continues(region: Region) -> None:
    run_cli("keys", "rotate", str(region.jeugd.home), "--withdraw-old")
    refused = region.ask()  # GGZ Noord pins only listed keys: the new one is not listed yet
    assert refused.status_code in (401, 403), refused.text
    assert reason(refused) in ("unknown-partner", "bad-signature"), refused.text
    out = region.op.add(region.jeugd, "youth-care", "+31 20 765 4321")
    assert "refreshed" in out
    region.republish()
    answer = region.ask()
    assert answer.status_code == 200, answer.text


def _refresh_refused(node: RunningNode) -> str:
    code, _out, err = gateway("federation", "refresh", str(node.home))
    assert code == 2, (code, err)
    return err


def test_forged_rolled_back_and_expired_lists_are_refused_and_the_old_list_stays(
    region: Region, tmp_path: Path
) -> None:
    region.republish()
    good = region.op.list_file.read_bytes()
    in_force = json.loads(good)["meta"]["versionId"]
    old = tmp_path / "old.json"
    shutil.copy(region.op.list_file, old)
    region.republish()  # one version up: the copy is now a rollback
    in_force = json.loads(region.op.list_file.read_bytes())["meta"]["versionId"]
    try:
        forged = json.loads(region.op.list_file.read_bytes())
        forged["entry"][0]["resource"]["name"] = "Nep Organisatie"  # not re-signed
        region.op.list_file.write_text(json.dumps(forged))
        assert "signature does not verify" in _refresh_refused(region.ggz)

        shutil.copy(old, region.op.list_file)
        assert "not higher" in _refresh_refused(region.ggz)

        other = Operator(tmp_path / "rogue", "regio-west", "Nep-regio")  # an operator nobody accepts
        try:
            for node in region.nodes.values():
                other.add(node, "other")
            other.publish()
            shutil.copy(other.list_file, region.op.list_file)
            assert "does not accept" in _refresh_refused(region.ggz)
        finally:
            other.stop()

        operator.publish(
            region.op.home,
            region.op.list_file,
            now=datetime.now(UTC) - timedelta(hours=2),
            valid_for=timedelta(hours=1),
        )
        assert "expired" in _refresh_refused(region.ggz)

        status = region.status(region.ggz)
        assert f"version: {in_force}" in status and "members: 4" in status and "expired" in status
        assert region.ask().status_code == 200  # the list in force stays

        region.op.list_file.unlink()  # the operator's web server lost the file: keep the list in force
        code, _out, err = gateway("federation", "refresh", str(region.ggz.home))
        assert code == 1 and "HTTP 404" in err, err
        assert "last refresh refused or failed" in region.status(region.ggz)
        assert region.ask().status_code == 200
    finally:
        region.republish()


def test_a_list_past_valid_until_fails_closed_for_list_only_members(region: Region) -> None:
    region.republish(valid_for=timedelta(seconds=6))
    until = datetime.now(UTC) + timedelta(seconds=6)
    assert region.ask().status_code == 200
    assert requests.get(region.ggz.url + "/readyz", timeout=5).status_code == 200
    live = region.partner_token(region.jeugd, region.ggz).json()["access_token"]
    try:
        time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.5)
        # no refresher ran: the list's own valid-until ends the trust, on both sides
        refused = region.ask()
        assert refused.status_code == 400 and "geen vertrouwde partner" in refused.text, refused.text
        late = requests.post(
            region.ggz.url + "/fhir/$consent-status",
            timeout=10,
            json={"resourceType": "Parameters", "parameter": [{"name": "consent", "valueString": "onbekend-1"}]},
            headers={"Authorization": f"Bearer {live}", "Content-Type": "application/fhir+json"},
        )
        assert late.status_code == 401 and reason(late) == "unknown-partner", late.text
        assert region.partner_token(region.jeugd, region.ggz).json()["error"] == "invalid_client"
        ready = requests.get(region.ggz.url + "/readyz", timeout=5)
        assert ready.status_code == 503 and reason(ready) == "federation-list-expired", ready.text
        assert "expired" in ready.json()["issue"][0]["details"]["text"]
        assert "EXPIRED" in region.status(region.ggz)
    finally:
        region.republish()
    assert requests.get(region.ggz.url + "/readyz", timeout=5).status_code == 200
    assert region.ask().status_code == 200


def test_the_nodes_own_refresher_applies_a_new_list_with_nobody_running_refresh(region: Region) -> None:
    region.op.remove(region.vt)
    try:
        region.op.publish()
        deadline = time.monotonic() + 25  # refresh_seconds 10, jittered: one round within 10 s
        while time.monotonic() < deadline and "members: 4" in region.status(region.ggz):
            time.sleep(0.5)
        assert "members: 3" in region.status(region.ggz)
        assert region.partner_token(region.vt, region.ggz).json()["error"] == "invalid_client"
        assert "members: 4" in region.status(region.jeugd)  # its refresher has not come round yet (300 s)
    finally:
        region.op.add(region.vt, "safe-at-home", "0800 2000")
        region.republish()
