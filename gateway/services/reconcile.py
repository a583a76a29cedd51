"""Reconciliation: do both sides' logs tell the same story of their mutual exchanges?

Each side records the other side's request and response hashes (SECURITY.md: "the two
logs vouch for each other"). ``gateway audit reconcile`` asks the partner for its signed
receipts (``$exchange-receipts``: a JWS of typ ``exchange-receipts+jwt`` over the ids,
outcomes and hashes of every exchange with us since a date), verifies them against the
partner's pinned keys, and compares them with our own log exchange by exchange.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from audit import events
from contract import jwt
from contract.errors import BadPartnerSignature, InvalidRequest
from gateway.fhir import parameters
from gateway.repositories import audit_log
from gateway.repositories.ports import AuditLogRepository
from gateway.services.auditing import ALL, logged_read
from gateway.trust.peer import refusal

if TYPE_CHECKING:  # the composition root imports the use cases
    from gateway.node import Node

TYP = "exchange-receipts+jwt"
EXCHANGE_ACTIONS = (
    events.DISCLOSURE_SENT,
    events.DISCLOSURE_REFUSED,
    events.SUMMARY_RECEIVED,
    events.SUMMARY_REQUEST_FAILED,
    events.SAFETY_DISCLOSURE_SENT,
    events.SAFETY_DISCLOSURE_RECEIVED,
    events.SUMMARY_PUSHED,
    events.SUMMARY_PUSH_FAILED,
    events.SUMMARY_PUSH_RECEIVED,
    events.SUMMARY_PUSH_REFUSED,
)
#: what the other side must have recorded for each of our actions
COUNTERPART = {
    events.SUMMARY_RECEIVED: events.DISCLOSURE_SENT,
    events.DISCLOSURE_SENT: events.SUMMARY_RECEIVED,
    events.SUMMARY_REQUEST_FAILED: events.DISCLOSURE_REFUSED,
    events.DISCLOSURE_REFUSED: events.SUMMARY_REQUEST_FAILED,
    events.SAFETY_DISCLOSURE_SENT: events.SAFETY_DISCLOSURE_RECEIVED,
    events.SAFETY_DISCLOSURE_RECEIVED: events.SAFETY_DISCLOSURE_SENT,
    events.SUMMARY_PUSHED: events.SUMMARY_PUSH_RECEIVED,
    events.SUMMARY_PUSH_RECEIVED: events.SUMMARY_PUSHED,
    events.SUMMARY_PUSH_FAILED: events.SUMMARY_PUSH_REFUSED,
    events.SUMMARY_PUSH_REFUSED: events.SUMMARY_PUSH_FAILED,
}
#: failures that never reached the partner: nothing to find on the other side
NOT_DELIVERED = ("partner-unavailable", "partner-timeout")


def receipts_of(log: AuditLogRepository, peer: str, since: str | None) -> list[dict[str, Any]]:
    """Our exchanges with ``peer`` in ``log`` (a unit of work's ``audit``) as plain receipts
    (ids, outcomes, hashes; no bodies), oldest first."""
    out = []
    entries = list(reversed(log.entries(since=since, limit=ALL)))
    # a push recorded before it left and then refused: the refusal is the receipt that counts
    failed_pushes = {e.record.exchange_id for e in entries if e.record.action == events.SUMMARY_PUSH_FAILED}
    for e in entries:
        r = e.record
        if r.action == events.SUMMARY_PUSHED and r.exchange_id in failed_pushes:
            continue
        if r.peer_org != peer or r.action not in EXCHANGE_ACTIONS or not r.exchange_id:
            continue
        if r.action == events.SAFETY_DISCLOSURE_SENT and r.outcome != events.SUCCESS:
            continue  # the push failed after the disclosure was recorded; the success row counts
        out.append(
            {
                "exchange_id": r.exchange_id,
                "action": r.action,
                "outcome": r.outcome,
                "reason_code": r.reason_code,
                "request_hash": r.request_hash,
                "response_hash": r.response_hash,
                "recorded_at": e.recorded_at,
            }
        )
    return out


def sign_receipts(node: Node, caller: str, since: str | None) -> str:
    """Answer ``$exchange-receipts`` for partner ``caller``; reading the log is logged."""
    partner = audit_log.Actor(actor_id=f"org:{caller}", role="partner")
    items = logged_read(
        node,
        partner,
        lambda log: receipts_of(log, caller, since),
        peer_org=caller,
        detail={"receipts_since": since or ""},
    )
    now = int(node.clock().timestamp())
    kid, alg, key = node.keys.active
    return jwt.sign(
        {
            "iss": node.org_id,
            "aud": caller,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "since": since or "",
            "exchanges": items,
        },
        key,
        kid=kid,
        alg=alg,
        typ=TYP,
    )


@dataclass(frozen=True)
class Difference:
    exchange_id: str
    problem: str


def reconcile(node: Node, partner: str, since: str | None) -> tuple[int, list[Difference]]:
    """Compare our log with the partner's signed receipts; return (compared, differences)."""
    if not node.partners.is_trusted(partner):
        raise InvalidRequest(f"{partner!r} is geen vertrouwde partner.")
    reply = node.peer.call(partner, "exchange-receipts", parameters.build(since=("valueString", since)))
    if reply.status != 200:
        raise refusal(reply, partner)
    values = parameters.read(reply.body, {"receipts": parameters.Spec("valueString", required=True, max_len=4_000_000)})
    signed = values["receipts"]
    _, _, claims = jwt.decode(signed, node.partners.keys_for, typ=TYP, issuer=partner, error=BadPartnerSignature)
    if (
        claims.get("iss") != partner
        or claims.get("aud") != node.org_id
        or not isinstance(claims.get("exchanges"), list)
    ):
        raise BadPartnerSignature("De ontvangstbewijzen zijn niet van deze partner of niet voor ons.")
    theirs: dict[str, list[dict[str, Any]]] = {}
    for item in claims["exchanges"]:
        if isinstance(item, dict) and isinstance(item.get("exchange_id"), str):
            theirs.setdefault(item["exchange_id"], []).append(item)
    mine = logged_read(
        node,
        audit_log.SYSTEM,
        lambda log: receipts_of(log, partner, since),
        peer_org=partner,
        detail={"reconcile_since": since or ""},
    )
    diffs: list[Difference] = []
    seen: set[str] = set()
    for r in mine:
        xid = r["exchange_id"]
        seen.add(xid)
        other = [t for t in theirs.get(xid, []) if t.get("action") == COUNTERPART[r["action"]]]
        if not other:
            if r["reason_code"] in NOT_DELIVERED:
                continue
            diffs.append(Difference(xid, f"alleen hier vastgelegd ({r['action']})"))
            continue
        t = other[0]
        if t.get("request_hash") != r["request_hash"]:
            diffs.append(Difference(xid, "verzoek-hash verschilt"))
        if r["outcome"] == events.SUCCESS and t.get("response_hash") != r["response_hash"]:
            diffs.append(Difference(xid, "antwoord-hash verschilt"))
        if r["reason_code"] != t.get("reason_code", ""):
            diffs.append(Difference(xid, f"reden verschilt ({r['reason_code']} / {t.get('reason_code')})"))
    for xid, items in theirs.items():
        if xid not in seen:
            diffs.append(Difference(xid, f"alleen bij {partner} vastgelegd ({items[0].get('action')})"))
    return len(seen | set(theirs)), diffs
