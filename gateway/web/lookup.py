"""Read-only views of the node's register for the pages (no writes, no decisions).

What the pages show that the registry's use cases do not return in one call yet: a
person with the names of their parents and children, a name search, and the honoured
consents that name this node as recipient. Each reads through the registry's and the
consent registry's own functions (``family_of``, ``grant_of``, ``rules.honoured``,
``rules.required_grantors``); nothing here decides whether anything may be disclosed:
the holder does that, at every request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from adapters.store.models import AuditEntry, ConsentRow, Person, Record, Relation
from audit import events
from consent import covering as cover
from consent import rules
from consent.model import Grant, Party
from contract.errors import GatewayError, NotFound
from gateway.repositories import audit_log
from gateway.services import consents, registry
from gateway.services.registry import display_name

MAX_RESULTS = 25


@dataclass(frozen=True)
class PersonCard:
    id: str
    bsn: str
    name: str
    birth_date: date
    age: int


@dataclass(frozen=True)
class Relative:
    """A parent, voogd or institution of a child, or a child of a parent."""

    relation_id: str
    key: str  # party key bsn:… / org:…
    kind: str
    custody: bool
    name: str
    person_id: str | None  # registered here as a Patient too


def card(row: Person, today: date) -> PersonCard:
    return PersonCard(row.id, row.bsn, display_name(json.loads(row.resource)), row.birth_date,
                      rules.age_on(row.birth_date, today))


def today_of(node: Any) -> date:
    return rules.day_of(int(node.clock().timestamp()))


def person(node: Any, pid: str) -> PersonCard:
    """The person with internal id ``pid``; raise NotFound otherwise."""
    with node.uow() as uow:
        return card(registry.person_by_id(uow.session, pid), today_of(node))


def find_by_bsn(node: Any, bsn: str) -> list[PersonCard]:
    with node.uow() as uow:
        row = registry.person_by_bsn(uow.session, bsn)
        return [card(row, today_of(node))] if row else []


def find_by_name(node: Any, text: str) -> list[PersonCard]:
    """Persons whose name contains every word of ``text`` (case-insensitive), oldest first.

    The store matches the case-folded ``search_name`` column itself, over the whole
    register; ``%`` and ``_`` in a word are plain characters.
    """
    words = [w.casefold() for w in text.split() if w]
    if not words:
        return []
    query = (select(Person).where(*[Person.search_name.contains(w, autoescape=True) for w in words])
             .order_by(Person.created_at, Person.id).limit(MAX_RESULTS))
    with node.uow(read_only=True) as uow:
        return [card(row, today_of(node)) for row in uow.session.scalars(query)]


def _name_of_key(s: Any, key: str) -> tuple[str, str | None]:
    if key.startswith("bsn:"):
        row = registry.person_by_bsn(s, key[4:])
        if row is not None:
            return display_name(json.loads(row.resource)), row.id
        rel = s.scalar(select(Relation).where(Relation.party_key == key).limit(1))
        name = registry.party_name(s, key, rel.resource) if rel is not None else ""
        return name or f"persoon met BSN eindigend op {key[-3:]}", None
    return f"instelling {key[4:]}", None


def parents(node: Any, pid: str) -> list[Relative]:
    """Parents, voogden and guardian institutions of ``pid`` as this node knows them."""
    with node.uow() as uow:
        s = uow.session
        rows = s.scalars(select(Relation).where(Relation.child_id == pid).order_by(Relation.created_at)).all()
        out = []
        for r in rows:
            name, person_id = _name_of_key(s, r.party_key)
            out.append(Relative(r.id, r.party_key, r.kind, r.custody, name, person_id))
        return out


def children(node: Any, pid: str) -> list[Relative]:
    """The children of ``pid`` (a parent or voogd) registered here."""
    with node.uow() as uow:
        s = uow.session
        me = registry.person_by_id(s, pid)
        rows = s.scalars(select(Relation).where(Relation.party_key == f"bsn:{me.bsn}")).all()
        out = []
        for r in rows:
            child = s.get(Person, r.child_id)
            if child is not None:
                out.append(Relative(r.id, r.party_key, r.kind, r.custody,
                                    display_name(json.loads(child.resource)), child.id))
        return out


@dataclass(frozen=True)
class Grantor:
    """Someone whose consent the rules require today, with the reference the form sends."""

    key: str
    reference: str  # Patient/<id> or RelatedPerson/<id>
    label: str


def grantors(node: Any, pid: str) -> tuple[list[Grantor], list[Grantor], str | None]:
    """(required grantors, parents who may be consulted, or why nobody can consent yet).

    ``rules.required_grantors`` decides, for the person's age today and the custody known
    here (contract section 6); this only attaches the references and names for the form.
    """
    with node.uow() as uow:
        s = uow.session
        me = registry.person_by_id(s, pid)
        subject = registry.subject_of(me)
        family: list[Party] = registry.family_of(s, me)
        rels = {r.party_key: r for r in s.scalars(select(Relation).where(Relation.child_id == pid))}
        own_name = display_name(json.loads(me.resource))
        try:
            required = rules.required_grantors(subject, family, today_of(node))
        except GatewayError as exc:
            return [], [], exc.detail
        out, consulted = [], []
        for key in sorted(required, key=lambda k: (k != subject.key, k)):
            if key == subject.key:
                out.append(Grantor(key, f"Patient/{pid}", f"{own_name} ({rules.kind_nl('subject', True)})"))
            elif key in rels:
                name, _ = _name_of_key(s, key)
                kind = rules.kind_nl(rels[key].kind, rels[key].custody)
                out.append(Grantor(key, f"RelatedPerson/{rels[key].id}", f"{name} ({kind})"))
        for key, rel in rels.items():
            if key not in required and rel.kind == "parent":
                name, _ = _name_of_key(s, key)
                consulted.append(Grantor(key, f"RelatedPerson/{rel.id}", f"{name} (ouder)"))
        return out, consulted, None


@dataclass(frozen=True)
class ConsentLine:
    id: str
    status: str
    decision: str
    purpose: str
    categories: tuple[str, ...]
    holders: tuple[str, ...]
    recipients: tuple[str, ...]
    start: date
    end: date | None
    honoured: bool
    why_not: str | None
    renewal: tuple[str, ...]
    confirm: str | None = None  # what the person must now confirm themselves (rules.to_confirm)
    refused_by: tuple[str, ...] = ()  # names of who refused (a recorded refusal)
    withdrawn_by: str = ""  # who withdrew it (a revoked consent)
    grantor_keys: tuple[str, ...] = ()


def _line(grant: Grant, today: date, refused_by: tuple[str, ...] = (), withdrawn_by: str = "") -> ConsentLine:
    return ConsentLine(grant.id, grant.status, grant.decision, grant.purpose, tuple(sorted(grant.categories)),
                       tuple(sorted(grant.holders)), tuple(sorted(grant.recipients)), grant.start, grant.end,
                       rules.honoured(grant, today), rules.why_not_honoured(grant, today),
                       tuple(rules.renewal_reasons(grant, today)), rules.to_confirm(grant, today), refused_by, withdrawn_by,
                       tuple(sorted(grant.grantors)))


def _withdrawn_name(s: Any, key: str) -> str:
    if not key:
        return ""
    if key.startswith("professional:"):
        return "de hulpverlener"
    return _name_of_key(s, key)[0]


def consents_of(node: Any, pid: str) -> list[ConsentLine]:
    """Every consent and objection recorded here for ``pid``, newest first."""
    today = today_of(node)
    with node.uow() as uow:
        s = uow.session
        me = registry.person_by_id(s, pid)
        rows = s.scalars(select(ConsentRow).where(ConsentRow.subject_id == pid)
                         .order_by(ConsentRow.created_at.desc())).all()
        out = []
        for r in rows:
            grant = consents.grant_of(r, me, node.org_id)
            refused = tuple(_name_of_key(s, k)[0] for k in sorted(grant.refusals)) if r.status == "rejected" else ()
            out.append(_line(grant, today, refused, _withdrawn_name(s, r.revoked_by or "")))
        return out


def subject_of_consent(node: Any, cid: str) -> str:
    """The internal person id a consent is about; raise NotFound otherwise."""
    with node.uow() as uow:
        row: ConsentRow | None = uow.session.get(ConsentRow, cid)
        if row is None:
            raise NotFound("Deze toestemming is hier niet bekend.")
        return row.subject_id


def asking_consents(node: Any, pid: str, *, partner: str | None = None, purpose: str | None = None,
                    categories: frozenset[str] | None = None) -> list[ConsentLine]:
    """Consents recorded here that let this node ask a trusted partner about ``pid``.

    Which consents cover the ask is ``consents.covering`` (this node the recipient,
    ``partner`` or any trusted partner the holder), the query the request itself uses, so
    the first line is the consent a request is made under. Optionally narrowed to one
    partner, purpose and set of categories; newest first. Whether the partner then
    discloses is the partner's decision, checked at every request.
    """
    ask = cover.Ask(recipient=node.org_id, holder=partner, purpose=purpose, categories=categories)
    with node.uow(read_only=True) as uow:
        found = consents.covering(uow, pid, ask, issuer=node.org_id, on=today_of(node))
    order = {g.id: i for i, g in enumerate(found.grants)
             if any(h != node.org_id and node.partners.is_trusted(h) for h in ((partner,) if partner else g.holders))}
    return sorted((line for line in consents_of(node, pid) if line.id in order), key=lambda line: order[line.id])


@dataclass(frozen=True)
class SafetySent:
    """A safety disclosure this node sent, as its own log has it (no body is kept)."""

    person: PersonCard
    recipient: str
    categories: tuple[str, ...]
    count: int
    legal_ground: str
    recorded_at: str
    delivered: bool


def safety_sent(node: Any, exchange_id: str, actor_id: str) -> SafetySent:
    """The disclosure sent under ``exchange_id`` by ``actor_id``; raise NotFound otherwise."""
    with node.uow(read_only=True) as uow:
        s = uow.session
        rows = s.scalars(select(AuditEntry).where(AuditEntry.exchange_id == exchange_id,
                                                  AuditEntry.action == events.SAFETY_DISCLOSURE_SENT)
                         .order_by(AuditEntry.seq)).all()
        records = [audit_log.stored(r).record for r in rows]
        mine = [r for r in records if r.actor_id == actor_id]
        if not mine:
            raise NotFound("Deze melding is hier niet bekend.")
        first = mine[0]
        person = registry.person_by_bsn(s, first.subject)
        if person is None:
            raise NotFound("Deze melding is hier niet bekend.")
        return SafetySent(card(person, today_of(node)), first.peer_org, tuple(first.categories), first.count,
                          first.legal_ground, rows[0].recorded_at,
                          delivered=all(r.outcome == events.SUCCESS for r in mine))


def nothing_held(node: Any, pid: str, categories: tuple[str, ...]) -> list[str]:
    """The categories in which this node holds no shareable record of ``pid`` now (issue 20.10):
    a consent naming this node as source for them shares nothing until the EHR records some."""
    with node.uow(read_only=True) as uow:
        held = set(uow.session.scalars(select(Record.category).where(Record.subject_id == pid,
                                                                     Record.shareable.is_(True))))
    return [c for c in categories if c not in held]
