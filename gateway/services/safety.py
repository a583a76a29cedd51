"""Safety disclosure (contract section 4): holder-initiated, under meldcode or conflict of duties.

Only the holder starts it. The summary is built through the same profiles (behaviour level
only), signed, audited and flagged for the privacy officer *before* it is pushed; the
recipient verifies the signature against the holder's pinned keys and the summary against
the profiles, takes each exchange id once (a replayed push is ``replay``), audits it
flagged, and keeps it for its professionals.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.store.uow import UnitOfWork
from audit import events
from audit.events import AuditRecord, InvalidAuditRecord
from consent.model import valid_bsn
from contract.errors import BadPartnerSignature, GatewayError, InvalidRequest, NotShareable, SubjectUnknown
from gateway.fhir import parameters
from gateway.fhir.fhir_in import BSN_SYSTEM, CATEGORY_SYSTEM
from gateway.node import Node
from gateway.repositories import audit_log
from gateway.repositories import inbox as inbox_rows
from gateway.services.exchange import (
    EXCHANGE_ID,
    Sent,
    audit_refused,
    check_subject_and_categories,
    keep_pushed,
    pushed_by,
    request_hash,
    response_hash,
)
from gateway.services.registry import person_by_bsn, record_viewed, records_of
from gateway.trust import signing
from gateway.trust.peer import refusal
from profiles import catalog
from profiles.guard import check_summary
from profiles.summary import build_summary

LEGAL_GROUNDS = ("meldcode", "conflict-of-duties")
NOTHING_TO_SEND = (
    "Er staat hier niets deelbaars over deze persoon in de gekozen soorten gegevens: er is niets "
    "verstuurd. Kies andere soorten gegevens, of neem telefonisch contact op met de ontvanger."
)
RECEIVE_SPECS = {
    "summary": parameters.Spec("resource", required=True),
    "legal-ground": parameters.Spec("valueCode", required=True),
    "justification": parameters.Spec("valueString", required=True),
    "practitioner": parameters.Spec("valueIdentifier", required=True),
}


@dataclass(frozen=True)
class DisclosureRequest:
    """A ``$safety-disclosure`` (contract section 4): whom, about whom, what, and on which ground.

    Raises ``InvalidRequest`` for a BSN that is not one, no categories or one twice.
    """

    recipient: str
    subject: str
    categories: tuple[str, ...]
    legal_ground: str
    justification: str

    def __post_init__(self) -> None:
        check_subject_and_categories(self.subject, self.categories)


def request_parameters(req: DisclosureRequest) -> dict[str, Any]:
    """The request as ``$safety-disclosure`` Parameters, in one canonical form: what its
    hash (``request-sha256`` in the signed Bundle) is taken over, wherever it came from."""
    return parameters.build(
        recipient=("valueString", req.recipient),
        subject=("valueIdentifier", {"system": BSN_SYSTEM, "value": req.subject}),
        category=("valueCoding", [{"system": CATEGORY_SYSTEM, "code": c} for c in req.categories]),
        legal_ground=("valueCode", req.legal_ground),
        justification=("valueString", req.justification),
    )


def disclose(node: Node, req: DisclosureRequest, actor: audit_log.Actor) -> Sent:
    """Push a signed summary to ``req.recipient`` without consent, flagged (section 4).

    Raises ``InvalidRequest`` (a ground, justification, recipient or category this node
    does not accept, nothing shareable to send), ``SubjectUnknown``, or the recipient's
    refusal; the push is audited before it leaves, a failure after it.
    """
    recipient, ground = req.recipient, req.legal_ground
    if ground not in LEGAL_GROUNDS:
        raise InvalidRequest(f"legal-ground is {' of '.join(LEGAL_GROUNDS)}.")
    justification = req.justification.strip()
    if len(justification) < 10:
        raise InvalidRequest("Een onderbouwing (justification) van minstens enkele woorden is verplicht.")
    if not node.partners.is_trusted(recipient):
        raise InvalidRequest(f"{recipient!r} is geen vertrouwde partner van deze node.")
    _auditable(actor_id=actor.actor_id, detail={"justification": justification[:500]})
    subject, cats = req.subject, req.categories
    known = catalog.category_order()
    if any(c not in known for c in cats):
        raise InvalidRequest("Onbekende of dubbele categorie.")
    exchange_id = uuid.uuid4().hex
    rhash = request_hash(request_parameters(req))
    now = node.clock()
    with node.uow() as uow:
        bundle = _summary(uow, node, subject, cats, exchange_id, rhash, now, tag=catalog.SAFETY_DISCLOSURE)
        if not bundle.get("entry"):
            # an empty push would be confirmed as "delivered" while it told nobody anything
            raise InvalidRequest(NOTHING_TO_SEND)
        kid, alg, key = node.keys.active
        bundle = signing.sign_bundle(bundle, key, kid=kid, alg=alg, signer_ref=node.org_id, now=now)
        push = parameters.build(
            summary=("resource", bundle),
            legal_ground=("valueCode", ground),
            justification=("valueString", justification),
            practitioner=("valueIdentifier", {"value": actor.actor_id}),
        )
        # both sides hash the same bytes: the push the recipient receives (issue 20.6); the
        # professional's own request is bound inside the signed Bundle (request-sha256)
        base = audit_log.fields(
            actor,
            subject=subject,
            categories=cats,
            peer_org=recipient,
            exchange_id=exchange_id,
            legal_ground=ground,
            request_hash=request_hash(push),
            response_hash=response_hash(bundle),
            count=len(bundle.get("entry", [])),
            flagged=True,
            detail={"justification": justification[:500], "local_request_hash": rhash},
        )
        audit_log.append(
            uow.session, node, AuditRecord(action=events.SAFETY_DISCLOSURE_SENT, outcome=events.SUCCESS, **base)
        )
        uow.commit()
    try:
        reply = node.peer.call(recipient, "receive-disclosure", push)
        if reply.status != 200:
            raise refusal(reply, recipient)
    except GatewayError as exc:
        with node.uow() as uow:
            audit_log.append(
                uow.session,
                node,
                AuditRecord(
                    action=events.SAFETY_DISCLOSURE_SENT,
                    outcome=events.ERROR,
                    reason_code=getattr(exc, "reason", exc.code),
                    **{k: v for k, v in base.items() if k != "detail"},
                ),
            )
            uow.commit()
        raise
    return Sent(exchange_id)


def preview(node: Node, subject: str, cats: list[str], actor: audit_log.Actor) -> dict[str, Any]:
    """The summary a disclosure would push now, unsigned, for the confirmation step (issue 20.7).

    Built by the same profiles as the push itself; showing it is logged as looking
    (``record-viewed``, view ``safety-preview``). Raise SubjectUnknown for an unknown BSN.
    """
    now = node.clock()
    with node.uow() as uow:
        bundle = _summary(uow, node, subject, cats, "preview", "0" * 64, now)
        record_viewed(uow.session, node, actor, subject, "safety-preview", records=len(bundle.get("entry", [])))
        uow.commit()
    return bundle


def _summary(
    uow: UnitOfWork,
    node: Node,
    subject: str,
    cats: Sequence[str],
    exchange_id: str,
    rhash: str,
    now: datetime,
    tag: str | None = None,
) -> dict[str, Any]:
    """The unsigned summary of ``cats`` about ``subject``, as the push and its preview show it.

    Raises ``SubjectUnknown`` for a BSN nobody here has.
    """
    person = person_by_bsn(uow.session, subject)
    if person is None:
        raise SubjectUnknown()
    return build_summary(
        records_of(uow.session, person.id, frozenset(cats)),
        list(cats),
        holder_org=node.org_id,
        subject_bsn=subject,
        exchange_id=exchange_id,
        request_hash=rhash,
        now=now,
        tag=tag,
    )


@dataclass(frozen=True)
class ReceivedDisclosure:
    """A ``$receive-disclosure`` as read at the recipient (contract section 4): who pushed it
    (authenticated), the Bundle, the legal ground and justification, the practitioner who
    decided, and the hash of the Parameters as received. Built by ``read_disclosure``,
    which audits what it refuses."""

    sender: str
    bundle: dict[str, Any]
    legal_ground: str
    justification: str
    practitioner: str
    request_hash: str


def read_disclosure(node: Node, load: Callable[[], dict[str, Any]], sender: str) -> ReceivedDisclosure:
    """Read a pushed safety disclosure from trusted partner ``sender``; ``load`` parses the body.

    A body that does not parse, lacks a parameter or names an unknown legal ground is
    refused (``InvalidRequest``) and audited, flagged, before the error goes out; the
    Bundle inside is not looked at until it does.
    """
    base = pushed_by(sender)
    try:
        body = load()
        base["request_hash"] = request_hash(body)
        values = parameters.read(body, RECEIVE_SPECS)
        if values["legal-ground"] not in LEGAL_GROUNDS:
            raise InvalidRequest("Onbekende legal-ground.")
        if values["summary"].get("resourceType") != "Bundle":
            raise InvalidRequest("Parameter 'summary' is geen Bundle.")
        return ReceivedDisclosure(
            sender=sender,
            bundle=values["summary"],
            legal_ground=values["legal-ground"],
            justification=values["justification"],
            practitioner=parameters.practitioner(values["practitioner"]),
            request_hash=base["request_hash"],
        )
    except GatewayError as exc:
        _audit_refused(node, base, exc.code)
        raise


def receive(node: Node, pushed: ReceivedDisclosure) -> dict[str, Any]:
    """Accept a pushed safety disclosure from trusted partner ``pushed.sender``.

    Checks, in order: the Bundle's signature against the sender's pinned keys and the
    profiles' guard (``bad-partner-signature``), that it is not a consented push, its
    exchange id and its one subject (``invalid-request``), the exchange id once per sender
    (``replay``). Every outcome is audited and flagged for the privacy officer.
    """
    sender, bundle = pushed.sender, pushed.bundle
    base = dict(pushed_by(sender), actor_id=pushed.practitioner, request_hash=pushed.request_hash)
    try:
        signing.verify_bundle_from(bundle, sender, node.partners.keys_for)
        try:
            check_summary(bundle)  # behaviour level only, whoever signed it
        except NotShareable as exc:
            raise BadPartnerSignature(f"De verstrekking voldoet niet aan de profielen: {exc.detail}") from exc
        if catalog.CONSENTED_PUSH in json.dumps((bundle.get("meta") or {}).get("tag") or []):
            raise InvalidRequest(
                "Een met toestemming toegestuurde samenvatting is geen verstrekking zonder toestemming."
            )
        exchange_id = bundle["identifier"]["value"] if isinstance(bundle.get("identifier"), dict) else None
        if not isinstance(exchange_id, str) or not EXCHANGE_ID.fullmatch(exchange_id):
            raise InvalidRequest("De verstrekking draagt geen geldig exchange-id.")
        base.update(exchange_id=exchange_id, legal_ground=pushed.legal_ground, response_hash=response_hash(bundle))
        subjects = {
            ((e["resource"].get("subject") or {}).get("identifier") or {}).get("value") for e in bundle.get("entry", [])
        }
        subject = subjects.pop() if len(subjects) == 1 else ""
        subject = subject if isinstance(subject, str) and valid_bsn(subject) else ""
        if not subject:
            # nothing in it, or not about one person: a disclosure must say something about someone
            raise InvalidRequest("De verstrekking bevat geen gegevens over één persoon en is niet aangenomen.")
        base["subject"] = subject
        with node.uow(read_only=True) as uow:
            known = person_by_bsn(uow.session, subject) is not None
        now = node.clock()
        record = _auditable(
            action=events.SAFETY_DISCLOSURE_RECEIVED,
            **base,
            count=len(bundle.get("entry", [])),
            detail={"justification": pushed.justification[:500], "subject_known": known},
        )
        # one exchange id is received once: a pushed disclosure replayed is refused (replay)
        keep_pushed(
            node,
            record,
            role="safety-received",
            kind=catalog.SAFETY_DISCLOSURE,
            sender=sender,
            bundle=bundle,
            subject=subject,
            now=now,
            legal_ground=pushed.legal_ground,
        )
    except GatewayError as exc:
        _audit_refused(node, base, exc.code)
        raise
    return parameters.build(status=("valueCode", "received"))


def _audit_refused(node: Node, base: dict[str, Any], reason: str) -> None:
    """A refused safety disclosure, flagged for the privacy officer: what was read of it, or
    where that cannot be kept as it is (a credential-like text), who refused whom and why."""
    audit_refused(
        node,
        reason,
        base,
        fallback=pushed_by(base["peer_org"]),
        action=events.SAFETY_DISCLOSURE_RECEIVED,
        flagged=True,
    )


def _auditable(*, action: str = events.SAFETY_DISCLOSURE_SENT, **fields_: Any) -> AuditRecord:
    """The flagged audit record, or InvalidRequest for what the audit cannot keep (a text
    that looks like a credential, say) before anything is built, pushed or stored."""
    try:
        return AuditRecord(action=action, outcome=events.SUCCESS, flagged=True, **fields_)
    except InvalidAuditRecord as exc:
        raise InvalidRequest(f"Dit kan niet worden vastgelegd in het auditlog: {exc}.") from None


def inbox(node: Node, actor: audit_log.Actor, subject: str | None = None) -> list[dict[str, Any]]:
    """Safety disclosures received here, newest first; each person shown is audited as viewed."""
    with node.uow() as uow:
        rows = inbox_rows.newest_first(uow.session, subject)
        for bsn, count in sorted(Counter(r.subject for r in rows).items()):
            record_viewed(uow.session, node, actor, bsn, "safety-inbox", disclosures=count)
        uow.commit()
        return [json.loads(r.bundle) for r in rows]
