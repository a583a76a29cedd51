"""The consented push (contract section 9): ``$send-summary`` at the holder, ``$receive-summary``
at the recipient, and the inbox that keeps what was pushed.

A holder sends a summary on its own initiative where a consent covers it: a crisis
pre-announcement, a warm handover, the agreements of a meeting. It decides and builds
exactly as for ``$behaviour-summary`` (``services.exchange``: token verification, the pure
decision with the recipient as grantee, the consent's status at its issuer, the profiles'
builder and guard, the signature), audits the push before it leaves, and posts the signed
Bundle with the consent token. The recipient checks the sender, the signature, the token
(itself as grantee, the sender in ``aud``), purpose and categories, the consent's status and
the profiles, keeps the Bundle in its inbox beside safety disclosures, and audits; every
refusal on either side is audited with the contract's reason code.

Evidence for ``audit reconcile``: both sides record the request hash the sender put in the
Bundle (``request-sha256``, the hash of the ``$send-summary`` Parameters) and the hash of the
signed Bundle, so the two logs vouch for each other as for a requested summary.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit import events
from audit.events import AuditRecord
from consent import covering as cover
from consent import decision, rules, token
from consent.model import valid_bsn
from contract.errors import (
    BadPartnerSignature,
    ConsentRevoked,
    GatewayError,
    InvalidRequest,
    NotShareable,
    PartnerRefusal,
    SubjectUnknown,
)
from gateway.fhir import parameters
from gateway.fhir.fhir_in import BSN_SYSTEM, CATEGORY_SYSTEM, PURPOSE_SYSTEM
from gateway.node import Node
from gateway.repositories import audit_log, exchanges
from gateway.repositories import inbox as inbox_rows
from gateway.services import consents, exchange
from gateway.services.registry import person_by_bsn, record_viewed, records_of
from gateway.trust import signing
from gateway.trust.peer import refusal
from profiles import catalog
from profiles.catalog import CONSENTED_PUSH, DISCLOSURE_SYSTEM, SAFETY_DISCLOSURE
from profiles.guard import check_summary
from profiles.summary import build_summary, note_record

MAX_NOTE = 2000
RECEIVE_SPECS = {
    "summary": parameters.Spec("resource", required=True),
    "consent-token": parameters.Spec("valueString", required=True, max_len=16 * 1024),
}
NO_PUSH_CONSENT = (
    "Geen toestemmingstoken meegegeven en hier geen geldige toestemming die deze node als "
    "bronhouder en de ontvanger noemt, voor dit doel en deze categorieën."
)


# --- the holder: $send-summary -------------------------------------------------------------


@dataclass(frozen=True)
class SendRequest:
    """A ``$send-summary`` (contract section 9): to whom, about whom, why, what, under which token.

    Without ``consent_token`` the consent recorded here that covers the push is used.
    Raises ``InvalidRequest`` for a BSN that is not one, no categories or one twice.
    """

    recipient: str
    subject: str
    purpose: str
    categories: tuple[str, ...]
    consent_token: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        exchange.check_subject_and_categories(self.subject, self.categories)
        if self.note is not None and len(self.note) > MAX_NOTE:
            raise InvalidRequest(f"Een notitie is hoogstens {MAX_NOTE} tekens.")


def request_parameters(req: SendRequest) -> dict[str, Any]:
    """The request as ``$send-summary`` Parameters, in one canonical form: what the hash the
    Bundle carries (``request-sha256``) is taken over, wherever the request came from."""
    return parameters.build(
        recipient=("valueString", req.recipient),
        subject=("valueIdentifier", {"system": BSN_SYSTEM, "value": req.subject}),
        purpose=("valueCoding", {"system": PURPOSE_SYSTEM, "code": req.purpose}),
        category=("valueCoding", [{"system": CATEGORY_SYSTEM, "code": c} for c in req.categories]),
        consent_token=("valueString", req.consent_token),
        note=("valueString", req.note),
    )


def send(node: Node, req: SendRequest, actor: audit_log.Actor) -> exchange.Sent:
    """Push a consented summary to ``req.recipient`` for ``actor``; return what was delivered.

    Raises the contract's refusals (``InvalidRequest`` for a recipient that is not a
    trusted partner or a push with nothing in it, the decision's codes, ``ConsentRevoked``,
    ``SubjectUnknown``) or passes the recipient's refusal through; each is audited.
    """
    recipient, subject, purpose, cats = req.recipient, req.subject, req.purpose, req.categories
    if not node.partners.is_trusted(recipient):
        raise InvalidRequest(f"{recipient!r} is geen vertrouwde partner van deze node.")
    note = (req.note or "").strip() or None
    now = node.clock()
    rhash = exchange.request_hash(request_parameters(req))
    base = audit_log.fields(
        actor,
        subject=subject,
        purpose=purpose,
        categories=cats,
        peer_org=recipient,
        request_hash=rhash,
        detail={"note_chars": len(note)} if note else {},
    )
    try:
        tok = req.consent_token or _token_for(node, subject, purpose, cats, recipient, actor)
        verified = exchange.verify_consent(
            node,
            parameters.SummaryParams(subject=subject, purpose=purpose, categories=cats, consent_token=tok, note=None),
            recipient,
            int(now.timestamp()),
        )
        base["consent_id"] = f"{verified.issuer}/{verified.consent_id}"
        if verified.jti:
            base["detail"] = dict(base["detail"], token_jti=verified.jti)
        bundle = _build(node, verified, subject, purpose, cats, recipient, note, rhash, now)
        exchange_id = bundle["id"]
        base["exchange_id"] = exchange_id  # from here on the recipient can have seen it
        with node.uow() as uow:
            exchanges.claim(uow.session, "push-sent", recipient, exchange_id, subject, rhash, now)
            audit_log.append(
                uow.session,
                node,
                AuditRecord(
                    action=events.SUMMARY_PUSHED, outcome=events.SUCCESS, **exchange.bundle_facts(bundle), **base
                ),
            )
            uow.commit()
        push = parameters.build(summary=("resource", bundle), consent_token=("valueString", tok))
        reply = node.peer.call(recipient, "receive-summary", push)
        if reply.status != 200:
            raise refusal(reply, recipient)
    except PartnerRefusal as exc:
        _audit(node, events.SUMMARY_PUSH_FAILED, base, exc.reason)
        raise
    except GatewayError as exc:
        _audit(node, events.SUMMARY_PUSH_FAILED, base, exc.code)
        raise
    return exchange.Sent(exchange_id)


def _build(
    node: Node,
    verified: Any,
    subject: str,
    purpose: str,
    cats: tuple[str, ...],
    recipient: str,
    note: str | None,
    rhash: str,
    now: datetime,
) -> dict[str, Any]:
    """Decide as the holder of ``$behaviour-summary`` does, with the recipient as grantee; build, sign."""
    day = rules.day_of(int(now.timestamp()))
    with node.uow(read_only=True) as uow:
        person = person_by_bsn(uow.session, subject)
        denied: frozenset[str] = frozenset()
        if person is not None:
            denied = rules.denied_categories(
                consents.grants_of(uow.session, node, person.id), recipient, node.org_id, purpose, day
            )
    allowed = decision.check(
        verified,
        caller_org=recipient,
        holder_org=node.org_id,
        subject_bsn=subject,
        purpose=purpose,
        categories=cats,
        matrix=catalog.load_matrix(),
        denied=denied,
    )
    exchange.check_active(node, verified, recipient)
    if person is None:
        raise SubjectUnknown()
    with node.uow(read_only=True) as uow:
        records = records_of(uow.session, person.id, allowed)
    if note:
        records.append(note_record(note, sorted(allowed), now=now))
    bundle = build_summary(
        records,
        sorted(allowed),
        holder_org=node.org_id,
        subject_bsn=subject,
        exchange_id=uuid.uuid4().hex,
        request_hash=rhash,
        now=now,
        tag=CONSENTED_PUSH,
    )
    if not bundle.get("entry"):
        raise InvalidRequest("Er is niets om toe te sturen: geen gegevens in deze categorieën en geen notitie.")
    kid, alg, key = node.keys.active
    return signing.sign_bundle(bundle, key, kid=kid, alg=alg, signer_ref=node.org_id, now=now)


def _token_for(
    node: Node, subject: str, purpose: str, cats: tuple[str, ...], recipient: str, actor: audit_log.Actor
) -> str:
    """Without a token: issue one from the consent recorded here that covers the push.

    Which consent covers it is ``consents.covering`` (this node the holder, ``recipient``
    the recipient). A consent that would cover the push but is no longer honoured (a
    parent's consent for someone now 16, an ended period, an objection) is named in the
    refusal (``consent-revoked``).
    """
    day = rules.day_of(int(node.clock().timestamp()))
    ask = cover.Ask(recipient=recipient, holder=node.org_id, purpose=purpose, categories=frozenset(cats))
    with node.uow(read_only=True) as uow:
        person = person_by_bsn(uow.session, subject)
        found = consents.covering(uow, person.id if person is not None else None, ask, issuer=node.org_id, on=day)
    if found.grant is not None:
        return consents.issue_token(node, found.grant.id, recipient, actor)
    if found.why_not is not None:
        raise ConsentRevoked(f"Niet toegestuurd: {found.why_not.reason}")
    raise InvalidRequest(NO_PUSH_CONSENT)


def sending_consents(node: Node, subject_id: str, recipients: list[str]) -> frozenset[str]:
    """The ids of the consents recorded here under which this node may push to one of
    ``recipients`` about one person: ``consents.covering`` per recipient, the query
    ``send`` uses, so the send form offers only what a push would go under."""
    day = rules.day_of(int(node.clock().timestamp()))
    with node.uow(read_only=True) as uow:
        return frozenset(
            grant.id
            for org in recipients
            if org != node.org_id
            for grant in consents.covering(
                uow, subject_id, cover.Ask(recipient=org, holder=node.org_id), issuer=node.org_id, on=day
            ).grants
        )


def _audit(node: Node, action: str, base: dict[str, Any], reason: str) -> None:
    # what the partner sent may not be keepable as it is: then keep who refused whom, and why
    fallback = {
        "actor_id": base.get("actor_id") or "unknown",
        "actor_role": base.get("actor_role", ""),
        "peer_org": base.get("peer_org", ""),
    }
    exchange.audit_refused(node, reason, base, fallback=fallback, action=action)


# --- the recipient: $receive-summary --------------------------------------------------------


@dataclass(frozen=True)
class ReceivedPush:
    """A ``$receive-summary`` as read at the recipient (contract section 9): who sent it
    (authenticated), the Bundle and the consent token it carries, and the hash of the
    Parameters as received. Built by ``read_push``, which audits what it refuses."""

    sender: str
    bundle: dict[str, Any]
    consent_token: str
    peer_request_hash: str


def read_push(node: Node, load: Callable[[], dict[str, Any]], sender: str) -> ReceivedPush:
    """Read a consented push from trusted partner ``sender``; ``load`` parses the body.

    A body that does not parse, or lacks the Bundle or the token, is refused
    (``InvalidRequest``) and audited as a refused push before the error goes out.
    """
    base = exchange.pushed_by(sender)
    try:
        body = load()
        base["peer_request_hash"] = exchange.request_hash(body)
        values = parameters.read(body, RECEIVE_SPECS)
        if values["summary"].get("resourceType") != "Bundle":
            raise InvalidRequest("Parameter 'summary' is geen Bundle.")
    except GatewayError as exc:
        _audit(node, events.SUMMARY_PUSH_REFUSED, base, exc.code)
        raise
    return ReceivedPush(
        sender=sender,
        bundle=values["summary"],
        consent_token=values["consent-token"],
        peer_request_hash=base["peer_request_hash"],
    )


def receive(node: Node, push: ReceivedPush) -> dict[str, Any]:
    """Accept a consented push from trusted partner ``push.sender`` into the inbox (section 9).

    Checks, in order: the Bundle's signature against the sender's pinned keys, the
    profiles' guard and the push mark (``bad-partner-signature``); the consent token with
    only the keys of the sender or of this node as issuer, this node as grantee and the
    sender in ``aud``; subject, purpose and categories inside the token's and the purpose
    matrix; the consent's status at its issuer; the exchange id once per sender
    (``replay``). Raises the contract's codes; every outcome is audited.
    """
    now = node.clock()
    sender, bundle = push.sender, push.bundle
    base = dict(exchange.pushed_by(sender), peer_request_hash=push.peer_request_hash)
    try:
        signing.verify_bundle_from(bundle, sender, node.partners.keys_for)
        try:
            check_summary(bundle)  # behaviour level only, whoever signed it
        except NotShareable as exc:
            raise BadPartnerSignature(
                f"De toegestuurde samenvatting voldoet niet aan de profielen: {exc.detail}"
            ) from exc
        if _mark(bundle) != CONSENTED_PUSH:
            raise InvalidRequest("Deze samenvatting is niet als toegestuurd met toestemming gemarkeerd.")
        exchange_id, subject, cats, rhash = _facts(bundle)
        facts = exchange.bundle_facts(bundle)  # hashed once: the refusal audit keeps the hash too
        base.update(
            exchange_id=exchange_id,
            subject=subject if valid_bsn(subject) else "",
            categories=cats,
            request_hash=rhash,
            response_hash=facts["response_hash"],
        )
        verified = _verify_token(node, push.consent_token, sender, now)
        base.update(
            consent_id=f"{verified.issuer}/{verified.consent_id}",
            purpose=verified.purpose,
            detail={"token_jti": verified.jti},
        )
        decision.check(
            verified,
            caller_org=node.org_id,
            holder_org=sender,
            subject_bsn=subject,
            purpose=verified.purpose,
            categories=cats,
            matrix=catalog.load_matrix(),
        )
        exchange.check_active(node, verified, sender)
        record = AuditRecord(
            action=events.SUMMARY_PUSH_RECEIVED,
            outcome=events.SUCCESS,
            peer_response_hash=base["response_hash"],
            **(base | facts),
        )
        exchange.keep_pushed(
            node,
            record,
            role="push-received",
            kind=CONSENTED_PUSH,
            sender=sender,
            bundle=bundle,
            subject=subject,
            now=now,
            purpose=verified.purpose,
            consent_id=base["consent_id"][:200],
        )
    except GatewayError as exc:
        _audit(node, events.SUMMARY_PUSH_REFUSED, base, exc.code)
        raise
    return parameters.build(status=("valueCode", "received"))


def _mark(bundle: dict[str, Any]) -> str | None:
    tags = (bundle.get("meta") or {}).get("tag") or []
    codes = [t.get("code") for t in tags if isinstance(t, dict) and t.get("system") == DISCLOSURE_SYSTEM]
    return codes[0] if len(codes) == 1 else None


def _facts(bundle: dict[str, Any]) -> tuple[str, str, tuple[str, ...], str]:
    """Exchange id, the one subject, the categories and the sender's request hash of a guarded Bundle."""
    exchange_id = (bundle.get("identifier") or {}).get("value")
    if not isinstance(exchange_id, str) or not exchange.EXCHANGE_ID.fullmatch(exchange_id):
        raise InvalidRequest("De toegestuurde samenvatting draagt geen geldig exchange-id.")
    entries = [e["resource"] for e in bundle.get("entry", [])]
    subjects = {((r.get("subject") or {}).get("identifier") or {}).get("value") for r in entries}
    cats = tuple(
        sorted(
            {
                c.get("code")
                for r in entries
                for concept in r.get("category") or []
                for c in concept.get("coding") or []
                if c.get("system") == CATEGORY_SYSTEM
            }
        )
    )
    rhash = bundle["meta"]["extension"][0]["valueString"]  # the guard checked it is there, alone
    subject = subjects.pop() if len(subjects) == 1 else ""
    return exchange_id, subject if isinstance(subject, str) else "", cats, rhash


def _verify_token(node: Node, tok: str, sender: str, now: datetime) -> Any:
    """Only the parties issue: the sender, or this node itself (contract section 4)."""

    def keys_for(issuer: str, kid: str) -> Any:
        if issuer == node.org_id:
            return node.keys.verification_set()
        return node.partners.keys_for(sender, kid) if issuer == sender else None

    return token.verify(tok, keys_for=keys_for, holder=sender, now=int(now.timestamp()))


# --- the inbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One summary in the inbox, as the pages show it."""

    kind: str  # consented-push | safety-disclosure
    from_org: str
    subject: str
    received_at: datetime
    purpose: str
    legal_ground: str
    bundle: dict[str, Any]


def received(node: Node, actor: audit_log.Actor, *, subject: str | None = None, view: str = "inbox") -> list[Received]:
    """Everything pushed to this node, newest first; each person shown is audited as viewed."""
    with node.uow() as uow:
        rows = inbox_rows.newest_first(uow.session, subject)
        for bsn, count in sorted(Counter(r.subject for r in rows if r.subject).items()):
            record_viewed(uow.session, node, actor, bsn, view, summaries=count)
        uow.commit()
        return [
            Received(
                r.kind,
                r.from_org,
                r.subject,
                r.received_at,
                r.purpose,
                r.legal_ground,
                _tagged(json.loads(r.bundle), r.kind),
            )
            for r in rows
        ]


def _tagged(bundle: dict[str, Any], kind: str) -> dict[str, Any]:
    """The Bundle as signed; one pushed without its mark (by a node before this version) gets
    it added, outside its signature (documented in the README)."""
    meta = bundle.setdefault("meta", {})
    if not meta.get("tag"):
        meta["tag"] = [{"system": DISCLOSURE_SYSTEM, "code": kind, "display": catalog.codes(DISCLOSURE_SYSTEM)[kind]}]
    return bundle


def inbox_bundle(node: Node, actor: audit_log.Actor) -> dict[str, Any]:
    """``GET /fhir/Bundle``: a searchset of the pushed summaries, newest first (section 9)."""
    found = received(node, actor)
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "entry": [{"resource": r.bundle, "search": {"mode": "match"}} for r in found],
    }


__all__ = ["CONSENTED_PUSH", "SAFETY_DISCLOSURE", "Received", "inbox_bundle", "receive", "received", "send"]
