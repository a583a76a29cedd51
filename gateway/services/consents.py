"""The consent registry: record, list, issue tokens, revoke, answer status (contract 3, 4, 6)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from adapters.store.models import ConsentRow, Person
from adapters.store.uow import UnitOfWork
from audit import events
from consent import covering as cover
from consent import rules, token
from consent.model import Grant
from contract import jwt
from contract.errors import (
    Conflict,
    ConsentRevoked,
    GatewayError,
    GrantorsInsufficient,
    InvalidRequest,
    NotAParty,
    NotFound,
)
from gateway.federation import directory
from gateway.fhir import fhir_in, parameters, versioning
from gateway.node import Node
from gateway.repositories import audit_log
from gateway.repositories import consents as consent_rows
from gateway.repositories.people import People, Relations
from gateway.repositories.ports import StoreSession
from gateway.services import locator
from gateway.services.registry import display_name, family_of, grant_of, party_name, person_by_id, subject_of
from profiles.summary import load_matrix

FLAG_SYSTEM = fhir_in.CS + "consent-flag"


def _day(node: Node) -> date:
    return rules.day_of(int(node.clock().timestamp()))


def _party_keys(session: StoreSession, refs: tuple[str, ...], subject: Person) -> frozenset[str]:
    """Turn performer-style references into party keys; the rules judge who they are.

    A party related to someone else (the other parent's RelatedPerson, another adult's
    Patient) keeps its own key, so ``rules.check_grantors`` refuses it with the Dutch
    explanation (422) instead of a bare "unknown reference": a person consents only for
    their own data (contract section 6). Raises ``InvalidRequest`` for a reference to
    nobody registered here.
    """
    keys = set()
    for ref in refs:
        kind, rid = ref.split("/", 1)
        if kind == "Patient":
            person = People(session).get(rid)
            if person is None:
                raise InvalidRequest(f"{ref} is hier niet bekend.")
            keys.add(subject_of(person).key)
        else:
            rel = Relations(session).get(rid)
            if rel is None:
                raise InvalidRequest(f"{ref} is hier niet bekend als ouder of voogd.")
            keys.add(rel.party_key)
    return frozenset(keys)


def record(node: Node, data: fhir_in.ConsentIn, actor: audit_log.Actor) -> dict[str, Any]:
    """Record a consent or objection (``fhir_in.consent`` parsed it); refuse (422) when the
    grantors do not satisfy section 6."""
    matrix = load_matrix()
    if data.purpose not in matrix:
        raise InvalidRequest(f"Onbekend doel {data.purpose!r}.")
    unknown = sorted(data.categories - fhir_in.known_categories())
    if unknown:
        raise InvalidRequest(f"Onbekende categorie(ën): {', '.join(unknown)}.")
    outside = sorted(data.categories - matrix[data.purpose])
    if outside and data.decision == "permit":
        # the holder would never disclose these for this purpose (not-shareable), so the
        # receipt must not tell the person they agreed to it
        raise InvalidRequest(f"Categorie(ën) {', '.join(outside)} passen niet bij het doel {data.purpose!r}.")
    if data.purpose == fhir_in.FINDABLE and data.holders != {node.org_id}:
        raise InvalidRequest(
            "Een toestemming om vindbaar te zijn geldt alleen voor deze organisatie "
            f"({node.org_id}) als bronhouder (CST)."
        )
    if node.org_id not in data.holders | data.recipients:
        raise NotAParty()  # contract section 4: only a party records (and so issues) a consent
    today = _day(node)
    with node.uow() as uow:
        s = uow.session
        person = person_by_id(s, data.subject_id)
        subject = subject_of(person)
        grantors = _party_keys(s, data.performers, person)
        refusals = _party_keys(s, data.refused_by, person)
        consulted = _party_keys(s, data.consulted, person)
        family = list(family_of(s, person))
        base = audit_log.fields(
            actor,
            subject=person.bsn,
            purpose=data.purpose,
            categories=tuple(sorted(data.categories)),
            resource_types=("Consent",),
        )
        try:
            if data.status == "rejected":
                _check_refusal(subject, family, grantors, refusals, today)
            elif data.decision == "permit":
                rules.check_grantors(subject, family, grantors, refusals, today)
            else:
                required = rules.required_grantors(subject, family, today)
                if not grantors or not grantors <= required:
                    # who may object is a grantor rule like who may consent: 422, not 400
                    raise GrantorsInsufficient(
                        "Bezwaar maakt alleen wie ook toestemming moet geven: vanaf 16 jaar de persoon "
                        "zelf, daaronder een gezaghebbende (ouder met gezag, voogd of gecertificeerde "
                        "instelling) of de jongere van 12 tot 16 jaar zelf."
                    )
        except GatewayError as exc:
            # the refusal is evidence too: audit it in its own transaction, then refuse
            s.rollback()
            audit_log.append(
                s,
                node,
                events.AuditRecord(action=events.CONSENT_REFUSED, outcome=events.REFUSED, reason_code=exc.code, **base),
            )
            uow.commit()
            raise
        cid = uuid.uuid4().hex
        stored = versioning.stamp(dict(data.resource, id=cid), 1, node.clock())
        consent_rows.add(
            s,
            ConsentRow(
                id=cid,
                subject_id=person.id,
                status=data.status,
                decision=data.decision,
                recorded_by=(actor.name or actor.actor_id)[:128],
                purpose=data.purpose,
                categories=json.dumps(sorted(data.categories)),
                recipients=json.dumps(sorted(data.recipients)),
                holders=json.dumps(sorted(data.holders)),
                grantors=json.dumps(sorted(grantors)),
                refusals=json.dumps(sorted(refusals)),
                consulted=json.dumps(sorted(consulted)),
                period_start=data.start,
                period_end=data.end,
                resource=json.dumps(stored),
                created_at=node.clock(),
            ),
        )
        if data.status == "rejected":
            # a refusal is a fact to keep: who refused (by reference, never a BSN), recorded here
            audit_log.append(
                s,
                node,
                events.AuditRecord(
                    action=events.CONSENT_DECLINED,
                    outcome=events.SUCCESS,
                    consent_id=cid,
                    **dict(base, detail={"refused_by": sorted(data.refused_by)}),
                ),
            )
        else:
            audit_log.append(
                s,
                node,
                events.AuditRecord(action=events.CONSENT_RECORDED, outcome=events.SUCCESS, consent_id=cid, **base),
            )
        _findable_changed(s, node, data.purpose)
        uow.commit()
    return stored


def _findable_changed(session: StoreSession, node: Node, purpose: str) -> None:
    """A findable consent recorded or revoked moves the PSI epoch on, in the same transaction."""
    if purpose == fhir_in.FINDABLE:
        locator.bump(session, node)


def _check_refusal(
    subject: Any, family: list[Any], grantors: frozenset[str], refusals: frozenset[str], today: date
) -> None:
    """A refusal counts when someone whose consent is required refused; others who agreed
    must be entitled too (contract section 6). Raise GrantorsInsufficient otherwise."""
    required = rules.required_grantors(subject, family, today)
    if not refusals & required:
        raise GrantorsInsufficient(
            "Een weigering legt u vast voor iemand wiens toestemming nodig is: "
            "vanaf 16 jaar de persoon zelf, daaronder een gezaghebbende of de jongere "
            "van 12 tot 16 jaar zelf."
        )
    if not grantors <= required:
        rules.check_grantors(subject, family, grantors, frozenset(), today)


def to_fhir(row: ConsentRow, grant: Grant, today: date) -> dict[str, Any]:
    """The stored Consent with its current status and renewal flags."""
    # version 1 as recorded, 2 once revoked (the only change a consent undergoes)
    resource = versioning.stamp(json.loads(row.resource), 2 if row.revoked_at else 1, row.revoked_at or row.created_at)
    resource["status"] = row.status
    reasons = rules.renewal_reasons(grant, today)
    if reasons:
        resource.setdefault("meta", {}).setdefault("tag", []).extend(
            {"system": FLAG_SYSTEM, "code": "renewal-due", "display": r} for r in reasons
        )
    return resource


def list_for(node: Node, patient_id: str | None = None, *, renewal_due: bool = False) -> list[dict[str, Any]]:
    """List consents, of one person or all; optionally only those due for renewal."""
    today = _day(node)
    out = []
    with node.uow(read_only=True) as uow:
        for row in consent_rows.listed(uow.session, patient_id):
            grant = grant_of(row, person_by_id(uow.session, row.subject_id), node.org_id)
            if renewal_due and not (row.status == "active" and rules.renewal_reasons(grant, today)):
                continue
            out.append(to_fhir(row, grant, today))
    return out


def read(node: Node, cid: str) -> dict[str, Any]:
    """One consent with its current status and renewal flags; raise NotFound otherwise."""
    with node.uow(read_only=True) as uow:
        row, grant = _load(uow.session, node, cid)
        return to_fhir(row, grant, _day(node))


def _load(s: StoreSession, node: Node, cid: str) -> tuple[ConsentRow, Grant]:
    row = consent_rows.get(s, cid)
    if row is None:
        raise NotFound(f"Consent/{cid} is hier niet bekend.")
    return row, grant_of(row, person_by_id(s, row.subject_id), node.org_id)


def issue_token(node: Node, cid: str, grantee: str | None, actor: audit_log.Actor) -> str:
    """Sign a consent token for a recorded consent that covers ``grantee`` (section 4).

    Whether it covers is ``consent.covering.why_not``, the rule ``covering`` applies too;
    this node issues only as the grantee or a holder (``issuer-not-party`` at the holder).
    Raises ``InvalidRequest`` (an objection, ``findable``, no party, not naming the
    grantee) or ``ConsentRevoked`` (no longer honoured, or objected to in part).
    """
    now = int(node.clock().timestamp())
    with node.uow() as uow:
        row, grant = _load(uow.session, node, cid)
        if grantee is None:
            if len(grant.recipients) != 1:
                raise InvalidRequest("Noem de ontvangende organisatie (grantee): de toestemming noemt er meer.")
            grantee = next(iter(grant.recipients))
        if grant.decision != "permit":
            raise InvalidRequest("Een bezwaar geeft geen toestemming: er is geen token voor.")
        if grantee != node.org_id and node.org_id not in grant.holders:
            # the holder would refuse it as issuer-not-party (contract section 4)
            raise InvalidRequest(
                "Deze organisatie geeft alleen een token aan zichzelf of als houder van de "
                "gegevens; vraag de houder of de ontvanger om het token."
            )
        if grant.purpose == fhir_in.FINDABLE:
            raise InvalidRequest("Vindbaar zijn geeft niemand gegevens: er is geen token voor.")
        others = grants_of(uow.session, node, row.subject_id)
        why = cover.why_not(grant, cover.Ask(recipient=grantee), others=others, on=rules.day_of(now))
        if why is not None:
            # revoked, expired, parents' consent for someone now 16, an objection: the contract's code
            raise (ConsentRevoked if why.lapsed else InvalidRequest)(f"Geen token: {why.reason}")
        kid, alg, key = node.keys.active
        tok = token.issue(
            grant,
            grantee=grantee,
            objections=others,
            key=key,
            kid=kid,
            alg=alg,
            now=now,
            lifetime=node.config.security.consent_token_ttl,
        )
        jti = jwt.peek_claims(tok)["jti"]
        audit_log.append(
            uow.session,
            node,
            events.AuditRecord(
                action=events.TOKEN_ISSUED,
                outcome=events.SUCCESS,
                consent_id=cid,
                peer_org=grantee,
                **audit_log.fields(
                    actor, subject=grant.subject.bsn, purpose=grant.purpose, categories=tuple(sorted(grant.categories))
                ),
                detail={"token_jti": jti},
            ),
        )
        uow.commit()
    return tok


def grants_of(session: StoreSession, node: Node, subject_id: str) -> list[Grant]:
    """Every consent and objection recorded here for one person, as the domain's grants."""
    person = person_by_id(session, subject_id)
    return [grant_of(r, person, node.org_id) for r in consent_rows.of_subject(session, subject_id)]


@dataclass(frozen=True)
class Coverage:
    """The consents recorded here that cover an ask, newest first, or why none does.

    ``grant`` is the one a token is issued from. Without any, ``why_not`` is the reason
    of the newest consent that names the ask but has lapsed (``consent-revoked``), or
    None when none names it at all (``invalid-request``).
    """

    grants: tuple[Grant, ...]
    why_not: cover.Uncovered | None = None

    @property
    def grant(self) -> Grant | None:
        return self.grants[0] if self.grants else None


def covering(uow: UnitOfWork, subject_id: str | None, ask: cover.Ask, *, issuer: str, on: date) -> Coverage:
    """Decide which consents recorded here cover ``ask`` for one person (the one query).

    Every place that picks a consent to issue this node's own token from asks this:
    the requester without a token (``services.exchange``), the holder pushing
    (``services.push``), the pages listing what a professional may ask under
    (``web.lookup.asking_consents``); ``issue_token`` applies the same rule to one
    consent. The rule, and what each place did before it, is in ``consent.covering``.
    ``issuer`` is this node, which must be the ask's recipient or holder (only parties
    issue, contract section 4); ``subject_id`` None (nobody registered) covers nothing.
    """
    if issuer not in (ask.recipient, ask.holder):
        raise ValueError("only a party to the exchange issues its token")
    if subject_id is None:
        return Coverage(())
    s = uow.session
    person = person_by_id(s, subject_id)
    rows = consent_rows.of_subject(s, subject_id)
    grants, why = cover.newest([(grant_of(r, person, issuer), r.created_at) for r in rows], ask, on=on)
    return Coverage(grants, why)


def revoke(
    node: Node, cid: str, actor: audit_log.Actor, withdrawn_by: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """End a consent at once; return it and the organisations to notify (best effort).

    ``withdrawn_by`` is who withdrew it (``Patient/<id>`` or ``RelatedPerson/<id>`` of one of
    its grantors); without it the professional withdrew it. Raise InvalidRequest for
    someone who did not give this consent.
    """
    with node.uow() as uow:
        row, grant = _load(uow.session, node, cid)
        who_key = f"professional:{actor.actor_id}"
        if withdrawn_by is not None:
            try:
                [who_key] = _party_keys(uow.session, (withdrawn_by,), person_by_id(uow.session, row.subject_id))
            except (InvalidRequest, ValueError):
                raise InvalidRequest(f"{withdrawn_by} is hier niet bekend.") from None
            if who_key not in grant.grantors:
                raise InvalidRequest(f"{withdrawn_by} heeft deze toestemming niet gegeven en kan haar niet intrekken.")
        if row.status == "rejected":
            raise Conflict("Dit is een vastgelegde weigering; er is niets in te trekken.")
        if row.status != "active":
            raise Conflict("Deze toestemming is al ingetrokken.")
        row.status, row.revoked_at, row.revoked_by = "inactive", node.clock(), who_key[:128]
        audit_log.append(
            uow.session,
            node,
            events.AuditRecord(
                action=events.CONSENT_REVOKED,
                outcome=events.SUCCESS,
                consent_id=cid,
                **audit_log.fields(
                    actor,
                    subject=grant.subject.bsn,
                    purpose=grant.purpose,
                    categories=tuple(sorted(grant.categories)),
                    detail={"withdrawn_by": withdrawn_by or "professional"},
                ),
            ),
        )
        _findable_changed(uow.session, node, grant.purpose)
        uow.commit()
        today = _day(node)
        peers = sorted((grant.recipients | grant.holders) - {node.org_id})
        return to_fhir(row, grant_of(row, person_by_id(uow.session, row.subject_id), node.org_id), today), peers


def status_for_partner(node: Node, cid: str, caller_org: str) -> str:
    """Answer ``$consent-status``: only organisations named in the consent may ask.

    A consent id that exists but does not name the caller gets exactly the answer of an id
    that does not exist (``NotFound``, same text): the status call must not tell a partner
    which consent ids are real (SECURITY.md, "Answers must not be oracles"). Both refusals
    are audited, so the privacy officer sees the probing.
    """
    day = rules.day_of(int(node.clock().timestamp()))
    # decide from a read snapshot; the write unit (SQLite's one writer) holds only the audit
    with node.uow(read_only=True) as uow:
        rows = consent_rows.of_subject_of(uow.session, cid)
        person = person_by_id(uow.session, rows[0].subject_id) if rows else None
        others = [grant_of(r, person, node.org_id) for r in rows] if person is not None else []
        grant = next((g for g in others if g.id == cid), None)
        if grant is None or caller_org not in grant.recipients | grant.holders:
            _status_refused(node, cid, caller_org, grant)
            raise NotFound(STATUS_UNKNOWN)
        why_not = rules.why_not_honoured(grant, day)
        if why_not is None and any(
            rules.denied_categories(others, grantee, holder, grant.purpose, day) & grant.categories
            for holder in grant.holders
            for grantee in grant.recipients
        ):
            why_not = "Een bezwaar sluit gegevens uit die deze toestemming noemt."
        status = "active" if why_not is None else "inactive"
    # the privacy officer reads why (expired, revoked, an objection, the 16+ rule); the
    # partner hears only active or inactive
    detail = {"status": status} if why_not is None else {"status": status, "why_not_nl": why_not}
    _audit_status(node, cid, caller_org, events.SUCCESS, subject=grant.subject.bsn, detail=detail)
    return status


STATUS_UNKNOWN = "Deze toestemming is hier niet bekend voor uw organisatie."


def _status_refused(node: Node, cid: str, caller_org: str, grant: Grant | None) -> None:
    """Audit a ``$consent-status`` refused (unknown id, or a consent not naming the caller)."""
    _audit_status(
        node,
        cid,
        caller_org,
        events.REFUSED,
        reason_code=NotFound.code,
        subject=grant.subject.bsn if grant is not None else "",
        detail={"named": False} if grant is not None else {},
    )


def _audit_status(node: Node, cid: str, caller_org: str, outcome: str, **fields_: Any) -> None:
    """Audit one ``$consent-status`` call by partner ``caller_org``, answered or refused."""
    with node.uow() as uow:
        audit_log.append(
            uow.session,
            node,
            events.AuditRecord(
                action=events.CONSENT_STATUS_QUERIED,
                outcome=outcome,
                consent_id=cid,
                peer_org=caller_org,
                actor_id=f"org:{caller_org}",
                actor_role="partner",
                actor_org=caller_org,
                **fields_,
            ),
        )
        uow.commit()


def revoke_and_notify(node: Node, cid: str, actor: audit_log.Actor, withdrawn_by: str | None = None) -> dict[str, Any]:
    """Revoke, then tell the named organisations (best effort: holders check status anyway)."""
    resource, peers = revoke(node, cid, actor, withdrawn_by)
    for org in peers:
        if not node.partners.is_trusted(org):
            continue
        try:
            node.peer.call(org, "consent-revoked", parameters.build(consent=("valueString", cid)))
        except GatewayError:
            pass  # best effort: a holder asks $consent-status at every disclosure
    return resource


def note_revocation(node: Node, cid: str, issuer: str) -> None:
    """Record a partner's revocation notice (the issuer remains the source of truth)."""
    with node.uow() as uow:
        audit_log.append(
            uow.session,
            node,
            events.AuditRecord(
                action=events.CONSENT_REVOKED,
                outcome=events.SUCCESS,
                actor_id=f"org:{issuer}",
                actor_role="partner",
                peer_org=issuer,
                consent_id=f"{issuer}/{cid}",
                detail={"notice": "revocation pushed by issuer"},
            ),
        )
        uow.commit()


@dataclass(frozen=True)
class ReceiptFacts:
    """What the register knows around a consent: about whom, who agreed, who recorded it."""

    subject_name: str
    subject_born: date
    grantors: tuple[str, ...]
    refused_by: tuple[str, ...]
    recorded_at: datetime
    recorded_by: str
    revoked_at: datetime | None = None
    withdrawn_by: str = ""


@dataclass(frozen=True)
class Receipt:
    """Everything a consent's printable receipt says (``gateway.web.receipt.render`` words it)."""

    grant: Grant
    status: str
    org_name: str
    names: dict[str, str]  # organisation id -> its name in the federation's directory
    facts: ReceiptFacts
    phone: str = ""


def receipt(node: Node, cid: str, actor: audit_log.Actor) -> Receipt:
    """The facts of a consent's printable receipt (what the person agreed to, with whom, why,
    until when); reading it is audited (``consent-viewed``)."""
    with node.uow() as uow:
        s = uow.session
        row, grant = _load(s, node, cid)
        person = person_by_id(s, row.subject_id)
        rels = {r.party_key: r for r in Relations(s).of_child(row.subject_id)}

        def named(key: str) -> str:
            if key == grant.subject.key:
                return f"{display_name(json.loads(person.resource))} ({rules.kind_nl('subject', True)})"
            rel = rels.get(key)
            kind = rules.kind_nl(rel.kind, rel.custody) if rel else ""
            name = party_name(s, key, rel.resource if rel else "") or (
                "een instelling" if key.startswith("org:") else "een ouder of voogd"
            )
            return f"{name} ({kind})" if kind else name

        facts = ReceiptFacts(
            subject_name=display_name(json.loads(person.resource)),
            subject_born=person.birth_date,
            grantors=tuple(named(k) for k in sorted(grant.grantors)),
            refused_by=tuple(named(k) for k in sorted(grant.refusals)),
            recorded_at=row.created_at,
            recorded_by=row.recorded_by or "",
            revoked_at=row.revoked_at,
            withdrawn_by=("de hulpverlener" if row.revoked_by.startswith("professional:") else named(row.revoked_by))
            if row.revoked_by
            else "",
        )
        audit_log.append(
            s,
            node,
            events.AuditRecord(
                action=events.CONSENT_VIEWED,
                outcome=events.SUCCESS,
                consent_id=cid,
                **audit_log.fields(actor, subject=grant.subject.bsn),
                detail={"view": "receipt"},
            ),
        )
        uow.commit()
    names = {e.org_id: e.name for e in directory.entries(node)}
    names[node.org_id] = node.config.node.name
    return Receipt(grant, row.status, node.config.node.name, names, facts, node.config.node.phone)
