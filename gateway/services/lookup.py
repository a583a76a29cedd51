"""Read-only views of the node's register for the pages (no writes, no decisions).

What the professional pages show: a person with the names of their parents and
children, a name search, the consents recorded for a person, the grantors the rules
require today, a safety disclosure sent, the categories nothing is held in. Each reads
through the repositories on a unit of work and the registry's and the consent registry's
own rules (``registry.family``, ``grant_of``, ``rules.honoured``,
``rules.required_grantors``); nothing here decides whether anything may be disclosed:
the holder does that, at every request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from adapters.store.models import ConsentRow, Person
from audit import events
from consent import covering as cover
from consent import rules
from consent.model import Grant, Party
from contract.errors import GatewayError, NotFound
from gateway.repositories.unit import Unit
from gateway.services import consents, registry
from gateway.services.registry import display_name

if TYPE_CHECKING:  # the composition root imports the use cases
    from gateway.node import Node

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
    return PersonCard(
        row.id, row.bsn, display_name(json.loads(row.resource)), row.birth_date, rules.age_on(row.birth_date, today)
    )


def today_of(node: Node) -> date:
    return rules.day_of(int(node.clock().timestamp()))


def person(node: Node, pid: str) -> PersonCard:
    """The person with internal id ``pid``; raise NotFound otherwise."""
    with node.uow(read_only=True) as uow:
        return card(registry.found(uow.people.get(pid), pid), today_of(node))


def find_by_bsn(node: Node, bsn: str) -> list[PersonCard]:
    with node.uow(read_only=True) as uow:
        row = uow.people.by_bsn(bsn)
        return [card(row, today_of(node))] if row else []


def find_by_name(node: Node, text: str) -> list[PersonCard]:
    """Persons whose name contains every word of ``text`` (case-insensitive), oldest first.

    The store matches the case-folded ``search_name`` column itself, over the whole
    register; ``%`` and ``_`` in a word are plain characters.
    """
    words = [w.casefold() for w in text.split() if w]
    if not words:
        return []
    with node.uow(read_only=True) as uow:
        return [card(row, today_of(node)) for row in uow.people.named(words, MAX_RESULTS)]


def _name_of_key(uow: Unit, key: str) -> tuple[str, str | None]:
    if key.startswith("bsn:"):
        row = uow.people.by_bsn(key[4:])
        if row is not None:
            return display_name(json.loads(row.resource)), row.id
        rels = uow.relations.of_party(key)
        name = registry.party_name(uow.people, key, rels[0].resource) if rels else ""
        return name or f"persoon met BSN eindigend op {key[-3:]}", None
    return f"instelling {key[4:]}", None


def parents(node: Node, pid: str) -> list[Relative]:
    """Parents, voogden and guardian institutions of ``pid`` as this node knows them."""
    with node.uow(read_only=True) as uow:
        out = []
        for r in uow.relations.of_child(pid):
            name, person_id = _name_of_key(uow, r.party_key)
            out.append(Relative(r.id, r.party_key, r.kind, r.custody, name, person_id))
        return out


def children(node: Node, pid: str) -> list[Relative]:
    """The children of ``pid`` (a parent or voogd) registered here."""
    with node.uow(read_only=True) as uow:
        me = registry.found(uow.people.get(pid), pid)
        out = []
        for r in uow.relations.of_party(f"bsn:{me.bsn}"):
            child = uow.people.get(r.child_id)
            if child is not None:
                out.append(
                    Relative(r.id, r.party_key, r.kind, r.custody, display_name(json.loads(child.resource)), child.id)
                )
        return out


@dataclass(frozen=True)
class Grantor:
    """Someone whose consent the rules require today, with the reference the form sends."""

    key: str
    reference: str  # Patient/<id> or RelatedPerson/<id>
    label: str


def grantors(node: Node, pid: str) -> tuple[list[Grantor], list[Grantor], str | None]:
    """(required grantors, parents who may be consulted, or why nobody can consent yet).

    ``rules.required_grantors`` decides, for the person's age today and the custody known
    here (contract section 6); this only attaches the references and names for the form.
    """
    with node.uow(read_only=True) as uow:
        me = registry.found(uow.people.get(pid), pid)
        subject = registry.subject_of(me)
        relations = uow.relations.of_child(pid)
        family: list[Party] = registry.family(relations, uow.people)
        rels = {r.party_key: r for r in relations}
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
                name, _ = _name_of_key(uow, key)
                kind = rules.kind_nl(rels[key].kind, rels[key].custody)
                out.append(Grantor(key, f"RelatedPerson/{rels[key].id}", f"{name} ({kind})"))
        for key, rel in rels.items():
            if key not in required and rel.kind == "parent":
                name, _ = _name_of_key(uow, key)
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
    return ConsentLine(
        grant.id,
        grant.status,
        grant.decision,
        grant.purpose,
        tuple(sorted(grant.categories)),
        tuple(sorted(grant.holders)),
        tuple(sorted(grant.recipients)),
        grant.start,
        grant.end,
        rules.honoured(grant, today),
        rules.why_not_honoured(grant, today),
        tuple(rules.renewal_reasons(grant, today)),
        rules.to_confirm(grant, today),
        refused_by,
        withdrawn_by,
        tuple(sorted(grant.grantors)),
    )


def _withdrawn_name(uow: Unit, key: str) -> str:
    if not key:
        return ""
    if key.startswith("professional:"):
        return "de hulpverlener"
    return _name_of_key(uow, key)[0]


def consents_of(node: Node, pid: str) -> list[ConsentLine]:
    """Every consent and objection recorded here for ``pid``, newest first."""
    today = today_of(node)
    with node.uow(read_only=True) as uow:
        me = registry.found(uow.people.get(pid), pid)
        out = []
        for r in uow.consent_reads.of_subject(pid):
            grant = consents.grant_of(r, me, node.org_id)
            refused = tuple(_name_of_key(uow, k)[0] for k in sorted(grant.refusals)) if r.status == "rejected" else ()
            out.append(_line(grant, today, refused, _withdrawn_name(uow, r.revoked_by or "")))
        return out


def subject_of_consent(node: Node, cid: str) -> str:
    """The internal person id a consent is about; raise NotFound otherwise."""
    with node.uow(read_only=True) as uow:
        row: ConsentRow | None = uow.consent_reads.get(cid)
        if row is None:
            raise NotFound("Deze toestemming is hier niet bekend.")
        return row.subject_id


def asking_consents(
    node: Node,
    pid: str,
    *,
    partner: str | None = None,
    purpose: str | None = None,
    categories: frozenset[str] | None = None,
) -> list[ConsentLine]:
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
    order = {
        g.id: i
        for i, g in enumerate(found.grants)
        if any(h != node.org_id and node.partners.is_trusted(h) for h in ((partner,) if partner else g.holders))
    }
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


def safety_sent(node: Node, exchange_id: str, actor_id: str) -> SafetySent:
    """The disclosure sent under ``exchange_id`` by ``actor_id``; raise NotFound otherwise."""
    with node.uow(read_only=True) as uow:
        rows = uow.audit.of_exchange(exchange_id, events.SAFETY_DISCLOSURE_SENT)
        mine = [e.record for e in rows if e.record.actor_id == actor_id]
        if not mine:
            raise NotFound("Deze melding is hier niet bekend.")
        first = mine[0]
        person = uow.people.by_bsn(first.subject)
        if person is None:
            raise NotFound("Deze melding is hier niet bekend.")
        return SafetySent(
            card(person, today_of(node)),
            first.peer_org,
            tuple(first.categories),
            first.count,
            first.legal_ground,
            rows[0].recorded_at,
            delivered=all(r.outcome == events.SUCCESS for r in mine),
        )


def nothing_held(node: Node, pid: str, categories: tuple[str, ...]) -> list[str]:
    """The categories in which this node holds no shareable record of ``pid`` now (issue 20.10):
    a consent naming this node as source for them shares nothing until the EHR records some."""
    with node.uow(read_only=True) as uow:
        held = uow.records.shareable_categories(pid)
    return [c for c in categories if c not in held]
