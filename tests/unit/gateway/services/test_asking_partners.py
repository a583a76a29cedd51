"""This node asks its partners about their side of the story (witnessed heads, receipts), through
a fake partner client: what each kind of answer leads to."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakePartners, FakePeer, Reply

from audit import events
from contract.errors import InvalidRequest, PartnerRefusal, PartnerUnavailable
from gateway.fhir import parameters
from gateway.services import reconcile, witnesses

WEST, OOST = "jeugdteam-west", "huisarts-oost"


def refusal(code: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "forbidden", "details": {"coding": [{"code": code}]}}],
    }


@pytest.fixture
def partnered(node: Any) -> Any:
    node.partners = FakePartners({WEST: "https://west.example", OOST: "https://oost.example"})
    return node


def test_a_partner_without_audit_heads_is_no_witness_but_no_alarm(partnered: Any) -> None:
    partnered.peer = FakePeer({(WEST, "audit-head"): Reply(404, refusal("not-found"))})
    partnered.peer.answers[(OOST, "audit-head")] = Reply(200, parameters.build(head=("valueString", "x")))
    verdicts = {v.partner: v for v in witnesses.check(partnered)}
    assert verdicts[WEST].ok and verdicts[WEST].reason.startswith("no witness")
    assert verdicts[OOST].ok and verdicts[OOST].reason.startswith("no head yet")
    assert sorted(org for org, op, _ in partnered.peer.calls) == [OOST, WEST]


def test_a_partner_that_cannot_be_reached_leaves_the_check_open(partnered: Any) -> None:
    partnered.peer = FakePeer({(WEST, "audit-head"): PartnerUnavailable("weg")})
    verdict = next(v for v in witnesses.check(partnered) if v.partner == WEST)
    assert not verdict.ok and verdict.reason.startswith("unavailable")


def test_an_answer_that_is_not_the_operations_parameters_is_not_believed(partnered: Any) -> None:
    partnered.peer = FakePeer({(WEST, "audit-head"): Reply(200, {"resourceType": "Bundle"})})
    verdict = next(v for v in witnesses.check(partnered) if v.partner == WEST)
    assert not verdict.ok and "not the Parameters" in verdict.reason


def test_receipts_are_asked_only_of_a_trusted_partner(partnered: Any) -> None:
    with pytest.raises(InvalidRequest):
        reconcile.reconcile(partnered, "onbekend-bureau", None)
    assert partnered.peer.calls == []


def test_a_partner_refusing_to_give_receipts_is_passed_on_and_nothing_is_compared(partnered: Any) -> None:
    partnered.peer = FakePeer({(WEST, "exchange-receipts"): Reply(403, refusal("unknown-partner"))})
    with pytest.raises(PartnerRefusal):
        reconcile.reconcile(partnered, WEST, "2026-03-01")
    assert [e.record.action for e in partnered.store.audit] == []


def test_our_receipts_for_a_partner_hold_only_our_exchanges_with_it(partnered: Any) -> None:
    with partnered.uow() as uow:
        for peer, xid in ((WEST, "x1"), (OOST, "x2")):
            uow.audit.append(
                partnered,
                events.AuditRecord(
                    action=events.DISCLOSURE_SENT,
                    outcome=events.SUCCESS,
                    peer_org=peer,
                    exchange_id=xid,
                    actor_id=f"org:{peer}",
                    actor_role="partner",
                    request_hash="a" * 64,
                    response_hash="b" * 64,
                ),
            )
        uow.commit()
    with partnered.uow(read_only=True) as uow:
        receipts = reconcile.receipts_of(uow.audit, WEST, None)
    assert [(r["exchange_id"], r["action"], r["request_hash"]) for r in receipts] == [
        ("x1", events.DISCLOSURE_SENT, "a" * 64)
    ]
