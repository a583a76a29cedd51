"""``$audit-head`` and the ``X-Audit-Head`` header at a node's partner API (issue 13, item 12).

A trusted partner hands over its latest signed audit head with every call; this node keeps
the highest one and answers with its own. What does not verify against the partner's
pinned keys is ignored, never a reason to refuse the call: partners that send nothing, or
nonsense, are served as before. Both stores, the Flask test client.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc.jwk import ECKey
from node_builders import reason, sign_assertion, token_form

from adapters.store.models import Partner, PartnerKey
from audit import chain, events
from audit.chain import GENESIS, StoredEntry
from audit.signer import make_signer
from gateway.http import auth
from gateway.repositories import audit_log, witnesses

PARTNER = "jeugdteam-west"
HEADER = "X-Audit-Head"


class Partner_:  # noqa: N801 - the underscore keeps the fixture name `partner` free
    """Jeugdteam West as seen from GGZ Noord: a pinned key and the heads it signs."""

    def __init__(self, app: Any) -> None:
        self.app, self.node = app, app.extensions["gateway"]
        self.key = ECKey.generate_key("P-256", private=True)
        now = datetime.now(UTC)
        with self.node.uow() as uow:
            uow.session.add(Partner(org_id=PARTNER, url="http://127.0.0.1:9", added_at=now, jwks_fetched_at=now))
            uow.session.flush()
            uow.session.add(
                PartnerKey(
                    org_id=PARTNER,
                    kid=self.key.thumbprint(),
                    added_at=now,
                    jwk=json.dumps(dict(self.key.as_dict(private=False), kid=self.key.thumbprint())),
                )
            )
            uow.commit()
        token_url = self.node.config.token_url
        now_s = int(time.time())
        assertion = sign_assertion(
            (self.key.thumbprint(), "ES256", self.key),
            {
                "iss": PARTNER,
                "sub": PARTNER,
                "aud": token_url,
                "iat": now_s,
                "exp": now_s + 60,
                "jti": uuid.uuid4().hex,
            },
        )
        resp = app.test_client().post("/oauth/token", data=token_form(assertion))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        self.token = resp.get_json()["access_token"]

    def head(
        self,
        seq: int,
        *,
        at: str | None = None,
        digest: str | None = None,
        key: Any = None,
        kind: str = chain.KIND_HEAD,
    ) -> str:
        at = at or chain.format_recorded_at(datetime.now(UTC))
        entry = StoredEntry(seq, f"e{seq}", at, None, GENESIS, digest or f"{seq:064x}")  # type: ignore[arg-type]
        return chain.sign_checkpoint(entry, kind=kind, at=at, sign=make_signer(key or self.key))

    def audit_head(self, head: str | None = None, body: Any = "none", token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if head is not None:
            headers[HEADER] = head
        if body == "none":
            return self.app.test_client().post("/fhir/$audit-head", headers=headers)
        return self.app.test_client().post(
            "/fhir/$audit-head", json=body, headers=headers, content_type="application/fhir+json"
        )


def values(resp: Any) -> dict[str, str]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {p["name"]: p["valueString"] for p in resp.get_json()["parameter"]}


@pytest.fixture
def partner(app: Any) -> Partner_:
    node = app.extensions["gateway"]
    audit_log.record_admin(node, events.PARTNER_ADDED, peer_org=PARTNER)  # our own log is not empty
    return Partner_(app)


def test_a_partner_that_sends_no_head_is_answered_with_ours_and_nothing_held(partner: Partner_) -> None:
    resp = partner.audit_head()
    got = values(resp)
    assert "witnessed" not in got
    ours = chain.read_checkpoint(got["head"], verify=audit_log.verifier(partner.node))
    assert ours.kind == chain.KIND_HEAD
    assert resp.headers[HEADER] == got["head"]  # every answer to a partner carries it


def test_the_highest_verified_head_of_the_partner_is_kept(partner: Partner_) -> None:
    h5, h9 = partner.head(5), partner.head(9)
    assert values(partner.audit_head(h5))["witnessed"] == h5
    assert values(partner.audit_head(h9))["witnessed"] == h9
    assert values(partner.audit_head(partner.head(7, at="2020-01-01T00:00:00.000Z")))["witnessed"] == h9
    assert values(partner.audit_head())["witnessed"] == h9


@pytest.mark.parametrize(
    "bad", ["nonsense", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzZXEiOjF9."], ids=["garbage", "not-base64", "alg-none"]
)
def test_a_head_that_is_not_a_signed_head_is_ignored_and_the_call_still_answered(partner: Partner_, bad: str) -> None:
    assert "witnessed" not in values(partner.audit_head(bad))


def test_a_head_signed_by_another_key_or_of_another_kind_is_not_taken(partner: Partner_) -> None:
    stranger = ECKey.generate_key("P-256", private=True)
    assert "witnessed" not in values(partner.audit_head(partner.head(5, key=stranger)))
    assert "witnessed" not in values(partner.audit_head(partner.head(100, kind=chain.KIND_CHECKPOINT)))


def test_a_partner_log_that_went_back_is_noted_and_its_held_head_kept(partner: Partner_) -> None:
    held = partner.head(40, at="2026-03-02T08:00:10.000Z")
    assert values(partner.audit_head(held))["witnessed"] == held
    went_back = partner.head(35, at="2026-03-02T09:00:00.000Z")  # a lower entry signed an hour later
    got = values(partner.audit_head(went_back))
    assert got["witnessed"] == held and got["conflict"] == went_back
    # the log grows past the held head again: the evidence stays
    assert values(partner.audit_head(partner.head(90, at="2026-03-02T09:10:00.000Z")))["witnessed"] == held


def test_audit_head_takes_no_body_or_an_empty_parameters_and_nothing_else(partner: Partner_) -> None:
    assert partner.audit_head(body={"resourceType": "Parameters"}).status_code == 200
    assert partner.audit_head(body={"resourceType": "Parameters", "parameter": []}).status_code == 200
    refused = partner.audit_head(
        body={"resourceType": "Parameters", "parameter": [{"name": "since", "valueString": "2026-01-01"}]}
    )
    assert (refused.status_code, reason(refused.get_json())) == (400, "invalid-request")


def test_no_one_but_a_trusted_partner_gets_our_head(app: Any, partner: Partner_) -> None:
    node = app.extensions["gateway"]
    secret = auth.add_client(node.uow, "epd", "ehr")
    local = (
        app.test_client()
        .post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("epd", secret))
        .get_json()["access_token"]
    )
    refused = partner.audit_head(token=local)
    assert (refused.status_code, reason(refused.get_json())) == (401, "unknown-partner")
    assert HEADER not in refused.headers
    assert HEADER not in app.test_client().get("/fhir/metadata").headers


def test_only_a_committed_head_is_ever_handed_to_partners(app: Any) -> None:
    node = app.extensions["gateway"]
    audit_log.record_admin(node, events.PARTNER_ADDED, peer_org=PARTNER)
    committed = witnesses.outgoing(node)[HEADER]
    with node.uow() as uow:  # an exchange whose transaction fails after its audit append
        audit_log.append(
            uow.session,
            node,
            events.AuditRecord(
                action=events.DISCLOSURE_SENT,
                outcome=events.SUCCESS,
                actor_id="uzi:900000202",
                actor_role="partner",
                peer_org=PARTNER,
            ),
        )
        # no commit: the unit of work rolls back
    assert witnesses.outgoing(node)[HEADER] == committed == witnesses.own_head(node)
    audit_log.record_admin(node, events.PARTNER_ADDED, peer_org=PARTNER)
    assert witnesses.outgoing(node)[HEADER] == witnesses.own_head(node) != committed
