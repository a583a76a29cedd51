"""The exchange (contract section 4): the requester's ``$request-summary`` and the holder's
``$behaviour-summary``, each one use case, each audited before anything is returned.

Binding response to request: the requester sends an ``exchange-id``; the holder hashes
the Parameters it received (SHA-256 over their RFC 8785 form) and puts both in the
signed Bundle (``Bundle.identifier`` and ``Bundle.meta.extension`` request-sha256). The
requester checks both against what it sent, and runs the profiles' guard on the summary,
before it trusts it (any failure is ``bad-partner-signature``), and keeps a receipt (ids
and hashes), never the body.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit import events
from audit.events import AuditRecord, InvalidAuditRecord
from consent import covering as cover
from consent import decision, local, rules, token
from consent.model import VerifiedConsent, valid_bsn
from contract import jwt
from contract.errors import (
    BadPartnerSignature,
    ConsentRevoked,
    ConsentStatusUnavailable,
    GatewayError,
    InvalidRequest,
    NotShareable,
    PartnerRefusal,
    StoreUnavailable,
    SubjectUnknown,
    UnknownPartner,
)
from gateway.fhir import parameters
from gateway.fhir.fhir_in import PURPOSE_SYSTEM
from gateway.node import Node
from gateway.repositories import audit_log, exchanges
from gateway.repositories import consents as consent_rows
from gateway.repositories import inbox as inbox_rows
from gateway.services import consents
from gateway.services.registry import person_by_bsn, records_of
from gateway.trust import signing
from gateway.trust.peer import refusal
from profiles import catalog
from profiles.guard import check_summary
from profiles.summary import build_summary

HOLDER_SPECS = dict(
    parameters.SUMMARY_SPECS,
    **{
        "practitioner": parameters.Spec("valueIdentifier", required=True),
        "exchange-id": parameters.Spec("valueString", required=True),
    },
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


EXCHANGE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_ORG = re.compile(r"[a-z0-9][a-z0-9.-]{1,62}")
NO_CONSENT = "Geen toestemmingstoken en geen passende toestemming hier vastgelegd."
NO_COVERING_CONSENT = (
    "Er is hier geen geldige toestemming die deze vraag dekt (deze organisatie, dit doel en "
    "al deze soorten gegevens). Leg eerst de toestemming vast, of vraag minder soorten gegevens."
)


def request_hash(params: dict[str, Any]) -> str:
    """SHA-256 over the RFC 8785 form; a body JCS would rewrite (floats, big ints) is refused."""
    try:
        return sha256(signing.canonical(params))
    except ValueError as exc:
        raise InvalidRequest(
            "Het verzoek bevat een getal dat niet ondertekend kan worden (kommagetal of buiten ±2^53)."
        ) from exc


def response_hash(bundle: dict[str, Any]) -> str:
    return sha256(signing.canonical(bundle))


def bundle_facts(bundle: dict[str, Any]) -> dict[str, Any]:
    """What the audit keeps of a summary sent or received: its hash, its size, its resource types."""
    entries = bundle.get("entry", [])
    return {
        "response_hash": response_hash(bundle),
        "count": len(entries),
        "resource_types": tuple(sorted({e["resource"]["resourceType"] for e in entries})),
    }


def pushed_by(sender: str) -> dict[str, Any]:
    """The audit fields of a push received from ``sender``, whatever becomes of it."""
    return {"actor_id": f"org:{sender}", "actor_role": "partner", "peer_org": sender, "on_behalf_of": f"org:{sender}"}


def keep_pushed(
    node: Node,
    record: AuditRecord,
    *,
    role: str,
    kind: str,
    sender: str,
    bundle: dict[str, Any],
    subject: str,
    now: datetime,
    **inbox_fields: str,
) -> None:
    """File a Bundle pushed by ``sender`` in the inbox and audit it, in one unit of work.

    The record's exchange id is claimed once per ``role`` (``push-received``,
    ``safety-received``): a push replayed is refused with ``Replay`` and nothing is kept
    (contract sections 4, 9).
    """
    exchange_id = record.exchange_id
    with node.uow() as uow:
        exchanges.claim(uow.session, role, sender, exchange_id, subject, record.request_hash, now)
        inbox_rows.keep(
            uow.session,
            exchange_id=exchange_id,
            from_org=sender,
            subject=subject,
            received_at=now,
            bundle=bundle,
            kind=kind,
            **inbox_fields,
        )
        audit_log.append(uow.session, node, record)
        uow.commit()


# --- holder ------------------------------------------------------------------------------


def verify_consent(node: Node, p: parameters.SummaryParams, caller: str, now: int) -> VerifiedConsent:
    """Verify the token, or find a consent recorded here (no I/O beyond our own store)."""
    me = node.org_id
    if p.consent_token:

        def keys_for(issuer: str, kid: str) -> Any:
            return node.keys.verification_set() if issuer == me else node.partners.keys_for(issuer, kid)

        return token.verify(p.consent_token, keys_for=keys_for, holder=me, now=now)
    return _local_consent(node, p, caller, now)


def check_active(node: Node, verified: VerifiedConsent, caller: str) -> None:
    """Revocation is checked at disclosure time, at the issuer (contract section 4)."""
    if verified.issuer == node.org_id:
        status = _local_status(node, verified.consent_id, caller)
    else:
        status = _remote_status(node, verified.issuer, verified.consent_id)
    if status != "active":
        raise ConsentRevoked()


def _local_consent(node: Node, p: parameters.SummaryParams, caller: str, now: int) -> VerifiedConsent:
    """A consent recorded here that names ``caller`` as recipient.

    Without a token a partner must not learn who is in care here: an unknown person, a
    known one without consents, and one whose consents name other organisations all get
    the same answer. Only a consent naming the caller may explain its own refusal.
    """
    with node.uow(read_only=True) as uow:
        person = person_by_bsn(uow.session, p.subject)
        last: GatewayError = InvalidRequest(NO_CONSENT)
        if person is None:
            raise last
        for row in consent_rows.permits_for(uow.session, person.id, p.purpose):
            grant = consents.grant_of(row, person, node.org_id)
            if caller not in grant.recipients:
                continue
            try:
                return local.vouch(grant, caller, node.org_id, now)
            except GatewayError as exc:
                last = exc
        raise last


def _local_status(node: Node, consent_id: str, caller: str) -> str:
    """The status of a consent recorded here; unknown or not naming the caller is inactive.

    A store that cannot answer stays store-unavailable (503), not a revocation.
    """
    try:
        return consents.status_for_partner(node, consent_id, caller)
    except StoreUnavailable:
        raise
    except GatewayError:
        return "inactive"


def _remote_status(node: Node, issuer: str, consent_id: str) -> str:
    """Ask the issuer; anything but a clear answer is a refusal (never guess)."""
    try:
        reply = node.peer.call(issuer, "consent-status", parameters.build(consent=("valueString", consent_id)))
    except GatewayError as exc:
        raise ConsentStatusUnavailable() from exc
    if reply.status != 200:
        raise ConsentStatusUnavailable(f"De uitgever antwoordde met status {reply.status}.")
    try:
        values = parameters.read(reply.body, {"status": parameters.Spec("valueCode", required=True)})
    except GatewayError as exc:
        raise ConsentStatusUnavailable() from exc
    status = values["status"]
    if not isinstance(status, str) or status not in ("active", "inactive"):
        raise ConsentStatusUnavailable()
    return status


@dataclass(frozen=True)
class DisclosureAsk:
    """A trusted partner's ``$behaviour-summary`` as read at the holder (contract section 4).

    ``caller`` is who authenticated, the rest is what it sent: the summary asked for, the
    exchange id it binds the answer to, the practitioner who asks and the hash of the
    Parameters as received. Built by ``read_disclosure_ask``, which audits what it refuses.
    """

    caller: str
    params: parameters.SummaryParams
    exchange_id: str
    practitioner: str
    request_hash: str

    def audit_fields(self) -> dict[str, Any]:
        """The fields every audit record of this ask carries, refused or disclosed."""
        p = self.params
        return {
            "actor_id": self.practitioner,
            "actor_role": "partner",
            "peer_org": self.caller,
            "request_hash": self.request_hash,
            "on_behalf_of": f"org:{self.caller}",
            "subject": p.subject,
            "purpose": p.purpose,
            "categories": p.categories,
            "exchange_id": self.exchange_id,
            "detail": {"consent_note": p.note} if p.note else {},
        }


def read_disclosure_ask(node: Node, load: Callable[[], dict[str, Any]], caller: str) -> DisclosureAsk:
    """Read ``$behaviour-summary`` from trusted partner ``caller``; ``load`` parses the body.

    A body that does not parse, lacks a parameter, or carries what the audit could not keep
    is refused (``InvalidRequest``) and audited with whatever was read before it failed.
    """
    base: dict[str, Any] = {"actor_id": "", "actor_role": "partner", "peer_org": caller}
    try:
        body = load()
        base["request_hash"] = request_hash(body)
        values = parameters.read(body, HOLDER_SPECS)
        p = parameters.summary(values)
        if not EXCHANGE_ID.fullmatch(values["exchange-id"]):
            raise InvalidRequest("exchange-id is een FHIR-id (ASCII-letters, cijfers, '-', max. 64).")
        ask = DisclosureAsk(
            caller=caller,
            params=p,
            exchange_id=values["exchange-id"],
            practitioner=parameters.practitioner(values["practitioner"]),
            request_hash=base["request_hash"],
        )
        base = ask.audit_fields()
        _auditable(base)
        return ask
    except GatewayError as exc:
        _audit_refusal(node, base, exc, caller)
        raise


def disclose_summary(node: Node, ask: DisclosureAsk) -> dict[str, Any]:
    """Answer ``$behaviour-summary`` for trusted partner ``ask.caller`` (contract section 4).

    Every outcome is audited: a disclosure in the same transaction as its replay guard,
    committed before the Bundle is returned; a refusal in its own transaction before the
    OperationOutcome goes out. If the audit cannot be written nothing is disclosed.
    """
    now = node.clock()
    caller, p, exchange_id, rhash = ask.caller, ask.params, ask.exchange_id, ask.request_hash
    base = ask.audit_fields()
    try:
        verified = verify_consent(node, p, caller, int(now.timestamp()))
        base.update(
            consent_id=f"{verified.issuer}/{verified.consent_id}",
            detail=dict(base["detail"], token_jti=verified.jti) if verified.jti else base["detail"],
        )
        _auditable(base)
        day = rules.day_of(int(now.timestamp()))
        with node.uow(read_only=True) as uow:
            person = person_by_bsn(uow.session, p.subject)
            subject_id = person.id if person is not None else None
            denied: frozenset[str] = frozenset()
            if person is not None:
                local = consents.grants_of(uow.session, node, person.id)
                denied = rules.denied_categories(local, caller, node.org_id, p.purpose, day)
        # The pure decision first, then the issuer (I/O), then whether we know the person:
        # a request the token does not cover never makes us query the issuer about it.
        allowed = decision.check(
            verified,
            caller_org=caller,
            holder_org=node.org_id,
            subject_bsn=p.subject,
            purpose=p.purpose,
            categories=p.categories,
            matrix=catalog.load_matrix(),
            denied=denied,
            registrars=frozenset(node.config.consent.registrars),
        )
        check_active(node, verified, caller)
        # Build and sign from a read snapshot; the write that follows is short: the
        # single-use claim of the exchange id and the audit entry, committed together
        # before the Bundle leaves (a replay is refused there, its Bundle thrown away).
        if subject_id is None:
            raise SubjectUnknown()
        with node.uow(read_only=True) as uow:
            records = records_of(uow.session, subject_id, allowed)
            bundle = build_summary(
                records,
                sorted(allowed),
                holder_org=node.org_id,
                subject_bsn=p.subject,
                exchange_id=exchange_id,
                request_hash=rhash,
                now=now,
            )
        kid, alg, key = node.keys.active
        bundle = signing.sign_bundle(bundle, key, kid=kid, alg=alg, signer_ref=node.org_id, now=now)
        with node.uow() as uow:
            exchanges.claim(uow.session, "holder", caller, exchange_id, p.subject, rhash, now)
            audit_log.append(
                uow.session,
                node,
                AuditRecord(action=events.DISCLOSURE_SENT, outcome=events.SUCCESS, **bundle_facts(bundle), **base),
            )
            uow.commit()
        return bundle
    except GatewayError as exc:
        _audit_refusal(node, base, exc, caller)
        raise


def _auditable(base: dict[str, Any]) -> None:
    """Refuse, before anything happens, what the audit could not keep (a practitioner or note
    that looks like a credential, a lone surrogate, a note too long for the log line)."""
    try:
        AuditRecord(action=events.DISCLOSURE_SENT, outcome=events.SUCCESS, **base)
    except InvalidAuditRecord as exc:
        raise InvalidRequest(f"Het verzoek kan niet worden vastgelegd in het auditlog: {exc}.") from None


def _audit_refusal(node: Node, base: dict[str, Any], exc: GatewayError, caller: str) -> None:
    fields_ = {k: v for k, v in base.items() if k != "actor_id"}
    audit_refused(
        node,
        exc.code,
        dict(fields_, actor_id=base.get("actor_id") or f"org:{caller}"),
        # keep who refused whom, and why
        fallback={
            "actor_id": f"org:{caller}",
            "actor_role": "partner",
            "peer_org": caller,
            "request_hash": base.get("request_hash", ""),
        },
    )


def refuse_unknown_partner(node: Node, client_id: str, role: str, access_point: str) -> None:
    """Audit a call to the partner API by a caller that is not (or no longer) a trusted partner."""
    who = client_id[:64]
    audit_refused(
        node,
        UnknownPartner.code,
        {
            "actor_id": f"org:{who}" if role == "partner" else f"client:{who}",
            "actor_role": role,
            "peer_org": who,
            "access_point": access_point,
        },
        fallback={"actor_id": "unknown", "actor_role": role},
    )


def audit_refused(
    node: Node,
    code: str,
    fields_: dict[str, Any],
    *,
    fallback: dict[str, Any],
    action: str = events.DISCLOSURE_REFUSED,
    flagged: bool = False,
) -> None:
    """Audit a refused partner call with ``fields_``, or with ``fallback`` alone where what the
    caller sent cannot be kept as it is (a credential-like text, an id too long for the log)."""
    try:
        record = AuditRecord(action=action, outcome=events.REFUSED, reason_code=code, flagged=flagged, **fields_)
    except InvalidAuditRecord:
        record = AuditRecord(action=action, outcome=events.REFUSED, reason_code=code, flagged=flagged, **fallback)
    with node.uow() as uow:
        audit_log.append(uow.session, node, record)
        uow.commit()


# --- requester ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryRequest:
    """A professional's ``$request-summary`` (contract section 3), from the API or a page.

    Raises ``InvalidRequest`` for a BSN that is not one, no categories or one twice.
    """

    partner: str
    subject: str
    purpose: str
    categories: tuple[str, ...]
    consent_token: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        check_subject_and_categories(self.subject, self.categories)


@dataclass(frozen=True)
class Sent:
    """What a recipient confirmed of a push (safety disclosure or consented push)."""

    exchange_id: str
    status: str = "delivered"


def check_subject_and_categories(subject: str, categories: tuple[str, ...]) -> None:
    """Refuse (``InvalidRequest``) a BSN that is not one, no categories, or one twice."""
    if not valid_bsn(subject):
        raise InvalidRequest("Het BSN is geen geldig burgerservicenummer.")
    if not categories or len(set(categories)) != len(categories):
        raise InvalidRequest("Noem minstens één categorie, elk één keer.")


def request_summary(node: Node, req: SummaryRequest, actor: audit_log.Actor) -> dict[str, Any]:
    """Ask ``req.partner`` for a summary on behalf of ``actor``; verify, audit, return (section 3).

    Without a token in the request one is issued from the consent recorded here that
    covers it (``consents.covering``). Returns the verified, guarded Bundle.
    """
    p, partner = req, req.partner
    try:
        if not node.partners.is_trusted(partner):
            raise InvalidRequest(f"{partner!r} is geen vertrouwde partner van deze node.")
        tok = p.consent_token or _token_for(node, p, partner, actor)
    except GatewayError as exc:
        # refused here, before anything left: audited all the same (nothing to reconcile)
        _audit_failure(node, _local_fields(actor, p, partner), exc.code)
        raise
    exchange_id = uuid.uuid4().hex
    out = parameters.build(
        subject=("valueIdentifier", {"system": parameters.BSN_SYSTEM, "value": p.subject}),
        purpose=("valueCoding", {"system": PURPOSE_SYSTEM, "code": p.purpose}),
        category=("valueCoding", [{"system": parameters.CATEGORY_SYSTEM, "code": c} for c in p.categories]),
        consent_token=("valueString", tok),
        consent_note=("valueString", p.note),
        practitioner=("valueIdentifier", {"value": actor.actor_id}),
        exchange_id=("valueString", exchange_id),
    )
    rhash = request_hash(out)
    base = _asked(actor, p, peer_org=partner, exchange_id=exchange_id, request_hash=rhash, consent_id=_consent_of(tok))
    try:
        reply = node.peer.call(partner, "behaviour-summary", out)
        if reply.status != 200:
            raise refusal(reply, partner)
        bundle = reply.body
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise BadPartnerSignature("Het antwoord van de partner is geen Bundle.")
        signing.verify_bundle_from(bundle, partner, node.partners.keys_for)
        _check_binding(bundle, exchange_id, rhash)
        try:
            check_summary(bundle)  # a holder that signs a diagnosis is not believed either
        except NotShareable as exc:
            raise BadPartnerSignature(
                f"De samenvatting van de partner voldoet niet aan de profielen: {exc.detail}"
            ) from exc
    except PartnerRefusal as exc:
        _audit_failure(node, base, exc.reason)
        raise
    except GatewayError as exc:
        _audit_failure(node, base, exc.code)
        raise
    facts = bundle_facts(bundle)
    with node.uow() as uow:
        exchanges.received(uow.session, partner, exchange_id, p.subject, rhash, facts["response_hash"], node.clock())
        audit_log.append(
            uow.session,
            node,
            AuditRecord(
                action=events.SUMMARY_RECEIVED,
                outcome=events.SUCCESS,
                peer_request_hash=rhash,
                peer_response_hash=facts["response_hash"],
                **facts,
                **base,
            ),
        )
        uow.commit()
    return bundle


def _consent_of(tok: str) -> str:
    """``issuer/consent-id`` from the token we send (ours, or the EHR's), for the audit's legal
    ground column; '' when it cannot be read (the holder refuses such a token anyway)."""
    try:
        claims = jwt.peek_claims(tok)
    except GatewayError:
        return ""
    iss, cid = claims.get("iss"), claims.get("consent")
    if isinstance(iss, str) and isinstance(cid, str) and EXCHANGE_ID.fullmatch(cid) and _ORG.fullmatch(iss):
        return f"{iss}/{cid}"[:64]
    return ""


def _check_binding(bundle: dict[str, Any], exchange_id: str, rhash: str) -> None:
    ident = bundle.get("identifier") or {}
    exts = (bundle.get("meta") or {}).get("extension") or []
    hashes = [
        e.get("valueString") for e in exts if isinstance(e, dict) and e.get("url") == catalog.REQUEST_HASH_EXTENSION
    ]
    if ident.get("value") != exchange_id or hashes != [rhash]:
        raise BadPartnerSignature("De samenvatting hoort niet bij dit verzoek (exchange-id of verzoek-hash).")


def _local_fields(actor: audit_log.Actor, p: SummaryRequest, partner: str) -> dict[str, Any]:
    """The audit fields of a request refused before it left; a partner id the log may not
    hold (an untrusted caller's input) is left out."""
    base = _asked(actor, p, peer_org=partner, detail={"refused_at": "requester"})
    try:
        AuditRecord(action=events.SUMMARY_REQUEST_FAILED, outcome=events.REFUSED, reason_code="invalid-request", **base)
        return base
    except InvalidAuditRecord:
        return _asked(actor, p, detail={"refused_at": "requester"})


def _asked(actor: audit_log.Actor, p: SummaryRequest, **more: Any) -> dict[str, Any]:
    """The audit fields of ``actor``'s request: whom it is about, why, which categories."""
    return audit_log.fields(actor, subject=p.subject, purpose=p.purpose, categories=p.categories, **more)


def _audit_failure(node: Node, base: dict[str, Any], reason: str) -> None:
    with node.uow() as uow:
        audit_log.append(
            uow.session,
            node,
            AuditRecord(action=events.SUMMARY_REQUEST_FAILED, outcome=events.REFUSED, reason_code=reason, **base),
        )
        uow.commit()


def _token_for(node: Node, p: SummaryRequest, partner: str, actor: audit_log.Actor) -> str:
    """Without a token: issue one from the consent recorded here that covers this request.

    Which consent covers it is ``consents.covering`` (this node the recipient, the partner
    the holder). One that would but no longer counts is named (``consent-revoked``).
    """
    day = rules.day_of(int(node.clock().timestamp()))
    ask = cover.Ask(recipient=node.org_id, holder=partner, purpose=p.purpose, categories=frozenset(p.categories))
    with node.uow(read_only=True) as uow:
        person = person_by_bsn(uow.session, p.subject)
        found = consents.covering(uow, person.id if person is not None else None, ask, issuer=node.org_id, on=day)
    if found.grant is not None:
        return consents.issue_token(node, found.grant.id, node.org_id, actor)
    if found.why_not is not None:
        raise ConsentRevoked(f"Niet gevraagd: {found.why_not.reason}")
    raise InvalidRequest(NO_COVERING_CONSENT)
