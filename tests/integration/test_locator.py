"""Being findable, and answering partners' blinded searches (contract section 8), in one node.

GGZ Noord records that a mother and a 13-year-old may be found by other care providers;
a partner (Jeugdteam West) fetches the PSI setup and asks with blinded BSNs, as its node
would. Bad requests, a stale epoch, a partner over its rate and a caller that is no
partner are refused with the contract's codes, audited, and reveal nothing.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from builders import HERE, PARTNER, Api, a_family, born_aged, new_bsn, reason, today
from joserfc.jwk import ECKey
from node_builders import assertion_claims, gateway, sign_assertion, token_form
from sqlalchemy import select

from adapters import psi
from adapters.store.models import AuditEntry, Partner, PartnerKey
from gateway.demo import data as d


def findable(
    pid: str,
    performers: list[str],
    start: Any,
    *,
    holders: tuple[str, ...] = (HERE,),
    recipients: tuple[str, ...] = (),
    categories: tuple[str, ...] = ("involvement",),
) -> dict[str, Any]:
    return d.consent(
        pid,
        performers,
        recipients=list(recipients),
        holders=list(holders),
        purpose="findable",
        categories=list(categories),
        start=start,
    )


@pytest.fixture
def node(app: Any) -> Any:
    return app.extensions["gateway"]


@pytest.fixture
def api(app: Any, client: Any) -> Api:
    return Api(app, client, role="professional")


class Partner_:  # noqa: N801 - the underscore keeps the fixture name `partner` free
    """The test acting as a partner node: its own key pinned here, private_key_jwt for a token."""

    def __init__(self, app: Any, client: Any, org_id: str = PARTNER) -> None:
        node = app.extensions["gateway"]
        key = ECKey.generate_key("P-256", private=True)
        jwk = dict(key.as_dict(private=False), kid=key.thumbprint())
        now = datetime.now(UTC)
        with node.uow() as uow:
            uow.session.add(Partner(org_id=org_id, url="http://127.0.0.1:9", added_at=now, jwks_fetched_at=now))
            uow.session.flush()
            uow.session.add(PartnerKey(org_id=org_id, kid=key.thumbprint(), jwk=json.dumps(jwk), added_at=now))
            uow.commit()
        claims = assertion_claims(org_id, node.config.token_url, int(time.time()))
        resp = client.post("/oauth/token", data=token_form(sign_assertion((key.thumbprint(), "ES256", key), claims)))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        self.token, self.client = resp.get_json()["access_token"], client

    def post(self, op: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if body is None:
            return self.client.post(f"/fhir/${op}", headers=headers)
        return self.client.post(f"/fhir/${op}", json=body, content_type="application/fhir+json", headers=headers)

    def setup(self) -> tuple[bytes, str, int]:
        resp = self.post("locator-setup", {"resourceType": "Parameters"})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        values = {p["name"]: p for p in resp.get_json()["parameter"]}
        return (
            base64.b64decode(values["setup"]["valueBase64Binary"]),
            values["epoch"]["valueString"],
            values["max-items"]["valueInteger"],
        )

    def match(self, epoch: str, request: bytes) -> Any:
        return self.post(
            "locator-match",
            {
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "epoch", "valueString": epoch},
                    {"name": "request", "valueBase64Binary": base64.b64encode(request).decode()},
                ],
            },
        )

    def search(self, bsns: list[str]) -> list[str]:
        setup, epoch, _max = self.setup()
        query = psi.Query(bsns)
        resp = self.match(epoch, query.request)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        response = base64.b64decode(resp.get_json()["parameter"][0]["valueBase64Binary"])
        return query.matches(setup, response)


@pytest.fixture
def partner(app: Any, client: Any) -> Partner_:
    return Partner_(app, client)


def audit_lines(node: Any) -> list[str]:
    with node.uow(read_only=True) as uow:
        return [e.record_json for e in uow.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def test_a_mother_and_a_child_of_13_who_agreed_are_found_and_a_revocation_ends_it(
    api: Api, node: Any, partner: Partner_
) -> None:
    fam = a_family(api, child_age=13)
    day = today(api.app)
    mother = api.created("/fhir/Consent", findable(fam.mother.patient, [fam.mother.self_ref], day))
    # 12 to 15: the young person and every custody holder
    api.created("/fhir/Consent", findable(fam.child.patient, [fam.child.self_ref, fam.mother.ref, fam.father.ref], day))
    node.locator.refresh()
    stranger = new_bsn()
    assert partner.search([fam.child.bsn, fam.mother.bsn, fam.father.bsn, stranger]) == [fam.child.bsn, fam.mother.bsn]
    before = partner.setup()[1]
    assert api.post(f"/fhir/Consent/{mother['id']}/$revoke").status_code == 200
    assert node.locator.epoch().id != before  # every worker sees the epoch move at its next read
    stale = partner.match(before, psi.Query([fam.mother.bsn]).request)
    assert stale.status_code == 409 and reason(stale) == "locator-epoch-changed"
    last = json.loads(audit_lines(node)[-1])
    assert (last["action"], last["outcome"], last["reason_code"]) == (
        "locator-match-answered",
        "refused",
        "locator-epoch-changed",
    )
    node.locator.refresh()
    assert partner.search([fam.mother.bsn, fam.child.bsn]) == [fam.child.bsn]


def test_a_cached_setup_from_before_the_revocation_finds_no_one_after_it(
    api: Api, node: Any, partner: Partner_
) -> None:
    mum = new_bsn()
    pid = api.created("/fhir/Patient", d.patient(mum, born_aged(api.app, 35), "Fatma", "Yilmaz"))["id"]
    consent = api.created("/fhir/Consent", findable(pid, [f"Patient/{pid}"], today(api.app)))
    node.locator.refresh()
    old_setup, _epoch, _ = partner.setup()
    api.post(f"/fhir/Consent/{consent['id']}/$revoke")
    node.locator.refresh()
    _new_setup, epoch, _ = partner.setup()
    query = psi.Query([mum])
    resp = partner.match(epoch, query.request)
    answer = base64.b64decode(resp.get_json()["parameter"][0]["valueBase64Binary"])
    assert query.matches(old_setup, answer) == []  # a new epoch is a new key: the old setup is useless


def test_a_child_of_9_is_findable_only_with_every_custody_holder(api: Api) -> None:
    fam = a_family(api, child_age=9)
    one = api.post("/fhir/Consent", findable(fam.child.patient, [fam.mother.ref], today(api.app)))
    assert one.status_code == 422 and reason(one) == "grantors-insufficient"
    both = api.post("/fhir/Consent", findable(fam.child.patient, [fam.mother.ref, fam.father.ref], today(api.app)))
    assert both.status_code == 201


@pytest.mark.parametrize("shape", ["recipient", "other-holder", "other-category"])
def test_a_findable_consent_names_this_node_alone_and_only_involvement(api: Api, shape: str) -> None:
    pid = api.created("/fhir/Patient", d.patient(new_bsn(), born_aged(api.app, 30), "Mo", "Bakr"))["id"]
    kw: dict[str, Any] = {
        "recipient": {"recipients": (PARTNER,)},
        "other-holder": {"holders": (PARTNER,)},
        "other-category": {"categories": ("involvement", "signals")},
    }[shape]
    resp = api.post("/fhir/Consent", findable(pid, [f"Patient/{pid}"], today(api.app), **kw))
    assert resp.status_code == 400 and reason(resp) == "invalid-request"


def test_a_findable_consent_issues_no_token(api: Api) -> None:
    pid = api.created("/fhir/Patient", d.patient(new_bsn(), born_aged(api.app, 30), "Mo", "Bakr"))["id"]
    consent = api.created("/fhir/Consent", findable(pid, [f"Patient/{pid}"], today(api.app)))
    resp = api.post(
        f"/fhir/Consent/{consent['id']}/$issue-token",
        {"resourceType": "Parameters", "parameter": [{"name": "grantee", "valueString": PARTNER}]},
    )
    assert resp.status_code == 400 and reason(resp) == "invalid-request"


def test_the_setup_is_built_off_the_request_path(node: Any, partner: Partner_) -> None:
    busy = partner.post("locator-setup")
    assert busy.status_code == 503 and reason(busy) == "node-busy" and busy.headers["Retry-After"]
    for _ in range(100):  # the build started in the background; it takes a moment
        if partner.post("locator-setup").status_code == 200:
            break
        time.sleep(0.05)
    setup, epoch, max_items = partner.setup()
    assert max_items == node.config.locator.max_items and epoch == node.locator.epoch().id and setup


BAD_REQUESTS = {
    "not base64": lambda epoch, max_items: {"epoch": epoch, "request": "%%%"},
    "not a PSI message": lambda epoch, max_items: {
        "epoch": epoch,
        "request": base64.b64encode(b"\xff\x00garbage").decode(),
    },
    "too many items": lambda epoch, max_items: {
        "epoch": epoch,
        "request": base64.b64encode(psi.Query([new_bsn() for _ in range(max_items + 1)]).request).decode(),
    },
    "no epoch": lambda epoch, max_items: {"request": base64.b64encode(psi.Query(["x"]).request).decode()},
    "oversized": lambda epoch, max_items: {"epoch": epoch, "request": "A" * 100_000},
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_a_malformed_match_request_is_refused_and_audited(node: Any, partner: Partner_, case: str) -> None:
    node.locator.refresh()
    _setup, epoch, max_items = partner.setup()
    values = BAD_REQUESTS[case](epoch, max_items)
    params = [{"name": "epoch", "valueString": values["epoch"]}] if "epoch" in values else []
    params.append({"name": "request", "valueBase64Binary": values["request"]})
    resp = partner.post("locator-match", {"resourceType": "Parameters", "parameter": params})
    assert resp.status_code == 400 and reason(resp) == "invalid-request"
    assert "parameter" not in resp.get_json()
    last = json.loads(audit_lines(node)[-1])
    assert last["action"] == "locator-match-answered" and last["outcome"] == "refused"
    assert last["reason_code"] == "invalid-request" and last["peer_org"] == PARTNER


@pytest.fixture
def one_moment(node: Any) -> Any:
    """The node's clock stands still, so a test's calls all fall in one rate window."""
    real, now = node.clock, node.clock()
    node.clock = lambda: now
    yield now
    node.clock = real


def test_a_partner_over_its_rate_is_told_when_to_come_back(
    app: Any, node: Any, partner: Partner_, one_moment: Any
) -> None:
    node.locator.refresh()
    _setup, epoch, _ = partner.setup()  # one call of the window
    limit = node.config.locator.rate_per_minute
    codes = [partner.match(epoch, psi.Query([new_bsn()]).request).status_code for _ in range(limit)]
    assert codes[:-1] == [200] * (limit - 1)
    assert codes[-1] == 503
    busy = partner.match(epoch, psi.Query([new_bsn()]).request)
    assert reason(busy) == "node-busy" and 1 <= int(busy.headers["Retry-After"]) <= 60
    refused = [json.loads(r) for r in audit_lines(node)]
    assert [r["reason_code"] for r in refused if r["outcome"] == "refused"][-2:] == ["node-busy", "node-busy"]


def test_a_flood_of_bad_requests_is_slowed_like_any_other(node: Any, partner: Partner_, one_moment: Any) -> None:
    node.locator.refresh()
    bad = {
        "resourceType": "Parameters",
        "parameter": [{"name": "epoch", "valueString": "old"}, {"name": "request", "valueBase64Binary": "AAAA"}],
    }
    codes = [reason(partner.post("locator-match", bad)) for _ in range(node.config.locator.rate_per_minute + 1)]
    assert set(codes[:-1]) == {"locator-epoch-changed"} and codes[-1] == "node-busy"


def test_a_local_client_is_no_partner_and_is_refused_and_audited(api: Api, node: Any, partner: Partner_) -> None:
    resp = partner.post("locator-match", {"resourceType": "Parameters"}, token=api.token)
    assert resp.status_code == 401 and reason(resp) == "unknown-partner"
    last = json.loads(audit_lines(node)[-1])
    assert (last["outcome"], last["reason_code"], last["actor_id"]) == ("refused", "unknown-partner", "client:epd")
    assert partner.post("locator-setup", token=api.token).status_code == 401
    assert partner.post("locator-setup", token="nonsense").status_code == 401


def test_the_answering_nodes_audit_holds_counts_never_a_bsn(api: Api, node: Any, partner: Partner_) -> None:
    fam = a_family(api, child_age=17)
    api.created("/fhir/Consent", findable(fam.child.patient, [fam.child.self_ref], today(api.app)))
    node.locator.refresh()
    before = len(audit_lines(node))
    asked = [fam.child.bsn, fam.mother.bsn, new_bsn()]
    assert partner.search(asked) == [fam.child.bsn]
    lines = audit_lines(node)[before:]
    records = [json.loads(line) for line in lines]
    assert [r["action"] for r in records] == ["locator-setup-served", "locator-match-answered"]
    assert records[1]["count"] == 3 and records[1]["subject"] == ""
    assert not any(b in line for b in asked for line in lines)


def test_the_epoch_also_moves_with_the_day_and_the_key(node: Any) -> None:
    first = node.locator.epoch()
    assert node.locator.rotate()
    rotated = node.locator.epoch()
    assert rotated.id != first.id and rotated.key != first.key
    lines = [json.loads(r) for r in audit_lines(node)]
    assert lines[-1]["action"] == "locator-key-rotated"
    real = node.clock
    node.clock = lambda: real().replace(year=real().year + 1)
    try:
        assert node.locator.epoch().id != rotated.id
    finally:
        node.clock = real


def test_the_key_is_replaced_on_schedule_and_partners_must_fetch_a_new_setup(node: Any, partner: Partner_) -> None:
    node.locator.refresh()
    _setup, epoch, _ = partner.setup()
    real = node.clock
    later = real() + timedelta(days=node.config.locator.key_rotation_days, hours=1)
    node.clock = lambda: later
    try:
        node.locator.refresh()  # what each worker's background loop runs
        rotated = [json.loads(r) for r in audit_lines(node) if '"locator-key-rotated"' in r]
        assert len(rotated) == 1 and rotated[0]["actor_id"] == "system:locator"
        node.locator.refresh()  # the new key is young: no second rotation
        assert sum('"locator-key-rotated"' in r for r in audit_lines(node)) == 1
    finally:
        node.clock = real
    # back on today (where the partner's access token is valid): the old setup's epoch is gone
    assert reason(partner.match(epoch, psi.Query([new_bsn()]).request)) == "locator-epoch-changed"


def test_one_partner_over_its_rate_does_not_slow_another(
    app: Any, client: Any, node: Any, partner: Partner_, one_moment: Any
) -> None:
    node.locator.refresh()
    other = Partner_(app, client, "wijkteam-oost")
    _setup, epoch, _ = partner.setup()
    for _ in range(node.config.locator.rate_per_minute):
        partner.match(epoch, psi.Query([new_bsn()]).request)
    assert reason(partner.match(epoch, psi.Query([new_bsn()]).request)) == "node-busy"
    assert other.match(epoch, psi.Query([new_bsn()]).request).status_code == 200


def test_a_locator_setup_takes_no_parameters(partner: Partner_) -> None:
    resp = partner.post(
        "locator-setup", {"resourceType": "Parameters", "parameter": [{"name": "epoch", "valueString": "x"}]}
    )
    assert resp.status_code == 400 and reason(resp) == "invalid-request"


def test_an_operator_sees_the_epoch_and_rotates_the_key_after_a_leak(api: Api, home: Any) -> None:
    pid = api.created("/fhir/Patient", d.patient(new_bsn(), born_aged(api.app, 30), "Mo", "Bakr"))["id"]
    api.created("/fhir/Consent", findable(pid, [f"Patient/{pid}"], today(api.app)))
    before = gateway("locator", "status", str(home))
    assert (
        before.code == 0
        and "findable: 1" in before.out
        and not any(c.isdigit() and len(c) == 9 for c in before.out.split())
    )
    rotated = gateway("locator", "rotate", str(home))
    assert rotated.code == 0
    epoch = [line for line in before.out.splitlines() if line.startswith("epoch: ")][0][len("epoch: ") :]
    assert rotated.last_line != epoch
    assert f"epoch: {rotated.last_line}" in gateway("locator", "status", str(home)).out


def test_the_receipt_of_a_findable_consent_says_what_it_means_in_plain_dutch(api: Api) -> None:
    pid = api.created("/fhir/Patient", d.patient(new_bsn(), born_aged(api.app, 30), "Mo", "Bakr"))["id"]
    consent = api.created("/fhir/Consent", findable(pid, [f"Patient/{pid}"], today(api.app)))
    resp = api.get(f"/consent/{consent['id']}/receipt")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "andere hulpverleners mogen zien dat wij bij u betrokken zijn, en hoe zij ons bereiken" in html
    assert "samenvatting te delen" not in html and "geen samenvatting" in html
