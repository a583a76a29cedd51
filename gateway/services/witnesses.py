"""Witnessed audit heads as use cases (issue 13, item 12): ``$audit-head`` and
``gateway audit verify --witnesses``.

``$audit-head`` (partner-authenticated, no input) answers ``Parameters`` with
``witnessed`` (the highest signed head of the caller's log this node holds, when it holds
one), ``conflict`` (a head of the caller that contradicted it, when one came) and ``head``
(this node's own latest signed head).

``check`` asks every trusted partner for the head it holds of this node and checks that
the local chain still reaches each one (``audit.witness.reaches``): a cut tail
with an older signed head put back verifies on its own, but not against a partner that
saw the newer head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audit import chain, witness
from contract.errors import GatewayError
from gateway.fhir import parameters
from gateway.repositories import audit_log, witnesses
from gateway.trust.peer import refusal_reason

if TYPE_CHECKING:  # the composition root imports the use cases
    from gateway.node import Node

ANSWER_SPECS = {
    "witnessed": parameters.Spec("valueString", max_len=4096),
    "conflict": parameters.Spec("valueString", max_len=4096),
    "head": parameters.Spec("valueString", max_len=4096),
}


def answer(node: Node, caller: str) -> dict[str, Any]:
    """The ``$audit-head`` answer for trusted partner ``caller``."""
    held = witnesses.held_of(node, caller)
    return parameters.build(
        witnessed=("valueString", held.signed if held else None),
        conflict=("valueString", held.conflict if held and held.conflict else None),
        head=("valueString", witnesses.own_head(node)),
    )


@dataclass(frozen=True)
class WitnessCheck:
    """One partner's verdict: ``ok`` False names a cut (or a head we cannot account for)."""

    partner: str
    ok: bool
    reason: str


def check(node: Node) -> list[WitnessCheck]:
    """Ask each trusted partner for the head it holds of us; check the local log reaches it."""
    out = [_check_one(node, org_id) for org_id, _url, _kids in node.partners.list()]
    witnesses.flush_alone(node)  # their answers carried their own heads: keep those too
    return out


def _check_one(node: Node, org_id: str) -> WitnessCheck:
    try:
        reply = node.peer.call(org_id, "audit-head", {"resourceType": "Parameters"})
    except GatewayError as exc:
        return WitnessCheck(org_id, False, f"unavailable: could not ask ({exc.code})")
    if reply.status in (404, 405):
        return WitnessCheck(org_id, True, "no witness: the partner does not offer $audit-head")
    if reply.status != 200:
        return WitnessCheck(org_id, False, f"unavailable: answered {reply.status} ({refusal_reason(reply.body)})")
    try:
        values = parameters.read(reply.body, ANSWER_SPECS) if isinstance(reply.body, dict) else None
    except GatewayError:
        values = None
    if values is None:
        return WitnessCheck(org_id, False, "unavailable: the answer is not the Parameters of $audit-head")
    signed = values.get("witnessed")
    if not signed:
        return WitnessCheck(org_id, True, "no head yet: the partner holds no head of this node")
    try:
        head = witness.read_head(signed, verify=audit_log.verifier(node))
    except Exception as exc:  # noqa: BLE001 - a bad signature raises the verifier's own error
        return WitnessCheck(
            org_id, False, (f"forged: the head {org_id} holds is not signed by this node ({exc.__class__.__name__})")
        )
    reach = _reach(node, head)
    note = " (it also saw this log go back)" if values.get("conflict") else ""
    return WitnessCheck(org_id, reach.ok, f"{reach.reason}{note}")


def _reach(node: Node, head: chain.Checkpoint) -> witness.Reach:
    with node.uow(read_only=True) as uow:
        local = uow.audit.hash_at(head.seq)
        last = uow.audit.last_seq()
        prune = uow.audit.prune_seq()
    return witness.reaches(head, local_hash=local, last_seq=max(last, prune), prune_seq=prune)
