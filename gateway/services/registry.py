"""People, families and the node's own records (contract section 3).

The use cases work through the repositories on their unit of work (``uow.people``,
``uow.relations``, ``uow.records``, ``uow.audit``). The helpers that take a ``session``
(``person_by_bsn``, ``family_of``, ``records_of``…) are for use cases that still hand one
around; they read through the same repositories.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from adapters.store import Duplicate
from adapters.store.models import ConsentRow, Person, Record, Relation
from audit import events
from consent.model import Grant, Party, Subject, valid_bsn
from contract.errors import Conflict, InvalidRequest, NotFound
from gateway.fhir import fhir_in, versioning
from gateway.repositories import audit_log
from gateway.repositories.people import People, Relations
from gateway.repositories.ports import StoreSession
from gateway.repositories.records import Records
from gateway.repositories.unit import Unit

if TYPE_CHECKING:  # the composition root imports the use cases
    from gateway.node import Node

_T = TypeVar("_T")

UNKNOWN_NAME = "(naam onbekend)"


class RecordOfAnother(Conflict):
    """A pushed record names a source identifier already stored for another person (409)."""

    def __init__(self, rtype: str, rid: str, system: str, value: str) -> None:
        super().__init__(
            f"Deze bronidentificatie ({system}|{value}) hoort hier al bij een {rtype} van een andere persoon. "
            "Een dossierregel verhuist nooit naar iemand anders: trek de oude regel eerst in "
            f"(DELETE {rtype}/{rid}) als die bij de verkeerde persoon stond."
        )
        self.rtype, self.record_id = rtype, rid


def _with_id(resource: dict[str, Any], rid: str) -> dict[str, Any]:
    out = dict(resource)
    out["id"] = rid
    return out


def display_name(resource: dict[str, Any]) -> str:
    """'Given Family' from a Patient resource; '(naam onbekend)' without one."""
    for name in resource.get("name") or []:
        if isinstance(name, dict):
            text = name.get("text")
            if isinstance(text, str) and text.strip():
                return text.strip()
            given = " ".join(g for g in name.get("given") or [] if isinstance(g, str))
            family = name.get("family") if isinstance(name.get("family"), str) else ""
            full = f"{given} {family}".strip()
            if full:
                return full
    return UNKNOWN_NAME


def search_name(resource: dict[str, Any]) -> str:
    """What the name search matches: the display name case-folded, '' when there is none."""
    name = display_name(resource)
    return "" if name == UNKNOWN_NAME else name.casefold()


def register_person(node: Node, data: fhir_in.PatientIn) -> tuple[dict[str, Any], bool]:
    """Register a Patient (``fhir_in.patient`` parsed it); a known BSN returns the existing
    person (created = False).

    Two workers registering the same BSN at once both find no one; the unique BSN makes
    the second insert fail, and that failure is answered with the first one's person.
    """
    try:
        with node.uow() as uow:
            existing = uow.people.by_bsn(data.bsn)
            if existing is not None:
                return _person_resource(existing), False
            rid = uuid.uuid4().hex
            stored = versioning.stamp(_with_id(data.resource, rid), 1, node.clock())
            uow.people.add(
                Person(
                    id=rid,
                    bsn=data.bsn,
                    birth_date=data.birth_date,
                    resource=json.dumps(stored),
                    created_at=node.clock(),
                    search_name=search_name(stored)[:512],
                )
            )
            uow.commit()
    except Duplicate:
        with node.uow() as uow:
            existing = uow.people.by_bsn(data.bsn)
            if existing is None:
                raise
            return _person_resource(existing), False
    return stored, True


def _person_resource(row: Person) -> dict[str, Any]:
    return versioning.ensure(json.loads(row.resource), row.created_at)


def find_person(node: Node, bsn: str, actor: audit_log.Actor) -> list[dict[str, Any]]:
    """The registered Patient with this BSN (or none); a match is audited as viewed.

    Raises ``InvalidRequest`` for anything but a BSN (nine ASCII digits, not all zero,
    passing the eleven-test), as ``POST /fhir/Patient`` does, and before the store is asked:
    PostgreSQL refuses a NUL that SQLite would look up (SECURITY.md).
    """
    if not valid_bsn(bsn):
        raise InvalidRequest("Zoek op een BSN: negen cijfers die aan de elfproef voldoen.")
    with node.uow() as uow:
        row = uow.people.by_bsn(bsn)
        if row is None:
            return []
        _viewed(uow, node, actor, row.bsn, "patient-search")
        uow.commit()
        return [_person_resource(row)]


def read_person(node: Node, pid: str, actor: audit_log.Actor) -> dict[str, Any]:
    """The registered Patient with this id, audited as viewed; raise NotFound otherwise."""
    with node.uow() as uow:
        row = _person(uow, pid)
        _viewed(uow, node, actor, row.bsn, "patient-read")
        uow.commit()
        return _person_resource(row)


def read_record(node: Node, rtype: str, rid: str, actor: audit_log.Actor) -> dict[str, Any]:
    """One of the node's own records as stored (an EHR reads back what it pushed), audited as
    viewed; raise NotFound for an unknown id or another type's."""
    with node.uow() as uow:
        row = uow.records.get(rid)
        if row is None or row.resource_type != rtype:
            raise NotFound(f"{rtype}/{rid[:64]} is hier niet bekend.")
        bsn = _person(uow, row.subject_id).bsn
        _viewed(uow, node, actor, bsn, "record-read", record=f"{rtype}/{row.id}")
        uow.commit()
        return versioning.ensure(json.loads(row.resource), row.updated_at)


def note_viewed(node: Node, actor: audit_log.Actor, bsns: list[str], view: str) -> None:
    """Audit that ``actor`` was shown these people (a web page), one entry each, together."""
    if not bsns:
        return
    with node.uow() as uow:
        for bsn in bsns:
            _viewed(uow, node, actor, bsn, view)
        uow.commit()


def viewed(actor: audit_log.Actor, bsn: str, view: str, **detail: Any) -> events.AuditRecord:
    """NEN 7513: who looked at whose data, where (``view``)."""
    return events.AuditRecord(
        action=events.RECORD_VIEWED,
        outcome=events.SUCCESS,
        subject=bsn,
        **audit_log.fields(actor),
        detail={"view": view, **detail},
    )


def _viewed(uow: Unit, node: Node, actor: audit_log.Actor, bsn: str, view: str, **detail: Any) -> None:
    uow.audit.append(node, viewed(actor, bsn, view, **detail))


def record_viewed(
    session: StoreSession, node: Node, actor: audit_log.Actor, bsn: str, view: str, **detail: Any
) -> None:
    """Audit ``viewed(…)`` in the caller's transaction (``session``)."""
    audit_log.append(session, node, viewed(actor, bsn, view, **detail))


def found(row: Person | None, pid: str) -> Person:
    """``row``, the person ``pid`` names; raise NotFound when there is none."""
    if row is None:
        raise NotFound(f"Patient/{pid} is hier niet bekend.")
    return row


def _person(uow: Unit | _Repos, pid: str) -> Person:
    return found(uow.people.get(pid), pid)


def person_by_id(session: StoreSession, pid: str) -> Person:
    return found(People(session).get(pid), pid)


def person_by_bsn(session: StoreSession, bsn: str) -> Person | None:
    return People(session).by_bsn(bsn)


def add_relation(node: Node, data: fhir_in.RelationIn) -> dict[str, Any]:
    """Record a parent, voogd or guardian institution of a child (with or without gezag),
    as ``fhir_in.related_person`` parsed it.

    The same party for the same child updates the relation; when two workers insert it at
    once, the loser of the unique (child, party) insert retries as that update.
    """
    try:
        return _save_relation(node, data)
    except Duplicate:
        return _save_relation(node, data)


def _save_relation(node: Node, data: fhir_in.RelationIn) -> dict[str, Any]:
    with node.uow() as uow:
        _person(uow, data.child_id)
        row = uow.relations.between(data.child_id, data.party_key)
        if row is None:
            rid = uuid.uuid4().hex
            row = Relation(
                id=rid,
                child_id=data.child_id,
                party_key=data.party_key,
                kind=data.kind,
                custody=data.custody,
                resource="",
                created_at=node.clock(),
            )
            uow.relations.add(row)
        row.kind, row.custody = data.kind, data.custody
        before = json.loads(row.resource) if row.resource else None
        version = max(versioning.version_of(before), 1) + 1 if before is not None else 1
        stored = versioning.stamp(_with_id(data.resource, row.id), version, node.clock())
        row.resource = json.dumps(stored)
        uow.commit()
    return stored


def remove_relation(node: Node, rid: str, actor: audit_log.Actor) -> None:
    """Remove a RelatedPerson registered by mistake (the wrong parent, a custody that ended).

    From then on the grantor rules no longer count that party for the child. Audited as
    ``record-deleted`` about the child, in the same unit of work; raise NotFound otherwise.
    """
    with node.uow() as uow:
        row = uow.relations.get(rid)
        if row is None:
            raise NotFound(f"RelatedPerson/{rid} is hier niet bekend.")
        child = _person(uow, row.child_id)
        uow.audit.append(
            node,
            events.AuditRecord(
                action=events.RECORD_DELETED,
                outcome=events.SUCCESS,
                subject=child.bsn,
                resource_types=("RelatedPerson",),
                count=1,
                detail={"record": f"RelatedPerson/{rid}", "kind": row.kind, "custody": row.custody},
                **audit_log.fields(actor),
            ),
        )
        uow.relations.delete(row)
        uow.commit()


def party_name(people: Any, key: str, relation_resource: str = "") -> str:
    """The name this node knows for a party key: its Patient's, else its RelatedPerson's; ''.

    ``people`` is a unit of work's ``people`` repository, or a session."""
    if key.startswith("bsn:"):
        row = _people(people).by_bsn(key[4:])
        if row is not None:
            name = display_name(json.loads(row.resource))
            if name != UNKNOWN_NAME:
                return name
    if relation_resource:
        try:
            name = display_name(json.loads(relation_resource))
        except ValueError:
            return ""
        return "" if name == UNKNOWN_NAME else name
    return ""


def _people(source: Any) -> Any:
    return source if hasattr(source, "by_bsn") else People(source)


def family(relations: list[Relation], people: Any) -> list[Party]:
    """The parties of ``relations`` (a child's), named as ``party_name`` names them."""
    return [
        Party(
            key=r.party_key,
            kind=r.kind,  # type: ignore[arg-type]
            custody=r.custody,
            name=party_name(people, r.party_key, r.resource)[:100],
        )
        for r in relations
    ]


def family_of(session: StoreSession, person: Person) -> list[Party]:
    """The custody holders and parents this node knows for ``person``, with their names, so a
    refusal names 'Bram Jansen', not the end of a BSN (issue 20.11)."""
    return family(Relations(session).of_child(person.id), People(session))


def subject_of(person: Person) -> Subject:
    return Subject(bsn=person.bsn, birth_date=person.birth_date)


def upsert_record(node: Node, data: fhir_in.RecordIn, *, session: StoreSession) -> tuple[dict[str, Any], bool]:
    """Store one record (``fhir_in.record`` parsed it) in the caller's unit of work (which
    audits it); the same source identifier updates instead of duplicating."""
    stored, created, _who = _upsert(node, _Repos(session), data)
    return stored, created


def push_records(
    node: Node, records: list[fhir_in.RecordIn], actor: audit_log.Actor, *, where: Callable[[int], str] | None = None
) -> list[tuple[dict[str, Any], bool]]:
    """Store records an EHR pushed (``fhir_in.record`` parsed them), all or nothing, with one
    ``record-written`` audit entry per person in the same unit of work (NEN 7513: who wrote
    what into whose record).

    ``where(i)`` names the i-th record in an error (a transaction's ``entry[i]``).
    """

    def named(i: int, exc: InvalidRequest) -> InvalidRequest:
        return InvalidRequest(f"{where(i)}: {exc.detail}") if where else exc

    def work() -> list[tuple[dict[str, Any], bool]]:
        out: list[tuple[dict[str, Any], bool]] = []
        written: dict[str, list[tuple[fhir_in.RecordIn, bool]]] = {}
        with node.uow() as uow:
            for i, data in enumerate(records):
                try:
                    stored, created, person = _upsert(node, uow, data)
                except RecordOfAnother as exc:
                    uow.rollback()
                    _audit_moved_refused(node, data, exc, actor)
                    raise (exc if where is None else _named_conflict(where(i), exc)) from None
                except InvalidRequest as exc:
                    raise named(i, exc) from None
                written.setdefault(person.bsn, []).append((data, created))
                out.append((stored, created))
            for bsn, items in written.items():
                created_count = sum(c for _, c in items)
                uow.audit.append(
                    node,
                    events.AuditRecord(
                        action=events.RECORD_WRITTEN,
                        outcome=events.SUCCESS,
                        subject=bsn,
                        categories=tuple(sorted({d.category for d, _ in items})),
                        resource_types=tuple(sorted({d.resource_type for d, _ in items})),
                        count=len(items),
                        detail={"created": created_count, "updated": len(items) - created_count},
                        **audit_log.fields(actor),
                    ),
                )
            uow.commit()
        return out

    return once_more_on_conflict(work)


def _named_conflict(where: str, exc: RecordOfAnother) -> Conflict:
    return Conflict(f"{where}: {exc.detail}")


def _audit_moved_refused(node: Node, data: fhir_in.RecordIn, exc: RecordOfAnother, actor: audit_log.Actor) -> None:
    """Log the refused move in its own unit of work: both persons' files were at stake."""
    with node.uow() as uow:
        row = uow.records.get(exc.record_id)
        owner = uow.people.get(row.subject_id) if row is not None else None
        target = uow.people.by_bsn(data.subject_ref) if data.subject_is_bsn else uow.people.get(data.subject_ref)
        digest = hashlib.sha256(f"{data.source_system}|{data.source_id}".encode()).hexdigest()
        for who in sorted({p.bsn for p in (owner, target) if p is not None}):
            uow.audit.append(
                node,
                events.AuditRecord(
                    action=events.RECORD_WRITTEN,
                    outcome=events.REFUSED,
                    reason_code=Conflict.code,
                    subject=who,
                    categories=(data.category,),
                    resource_types=(data.resource_type,),
                    count=1,
                    detail={
                        "refused": "source identifier belongs to another person",
                        "record": f"{exc.rtype}/{exc.record_id}",
                        "source_id_hash": digest,
                    },
                    **audit_log.fields(actor),
                ),
            )
        uow.commit()


class _Repos:
    """The two repositories ``_upsert`` uses, on a session handed in (``upsert_record``)."""

    def __init__(self, session: StoreSession) -> None:
        self.people, self.records = People(session), Records(session)


def _upsert(node: Node, uow: Unit | _Repos, data: fhir_in.RecordIn) -> tuple[dict[str, Any], bool, Person]:
    if data.subject_is_bsn:
        person = uow.people.by_bsn(data.subject_ref)
        if person is None:
            raise InvalidRequest("De persoon van deze dossierregel is hier niet geregistreerd.")
    else:
        person = _person(uow, data.subject_ref)
    row = None
    if data.source_id is not None:
        row = uow.records.by_source(data.source_system, data.source_id)
    created = row is None
    if row is not None and row.subject_id != person.id:
        # a conditional create never moves a record to another person (issue 20): the EHR
        # sent someone else's source identifier, or the record was filed under the wrong one
        raise RecordOfAnother(data.resource_type, row.id, data.source_system, data.source_id or "")
    before = None if row is None else json.loads(row.resource)
    if row is None:
        rid = uuid.uuid4().hex
        row = Record(
            id=rid,
            subject_id=person.id,
            source_system=data.source_system,
            source_id=data.source_id or rid,
            resource="",
            resource_type=data.resource_type,
            category=data.category,
            shareable=data.shareable,
            updated_at=node.clock(),
        )
        uow.records.add(row)
    # a push under the same source identifier is the record's next version (a row stored
    # before versions were kept was version 1); the same content again changes nothing
    incoming = versioning.unversioned(_with_id(data.resource, row.id))
    if before is not None and versioning.unversioned(before) == incoming:
        return versioning.ensure(before, row.updated_at), created, person
    version = max(versioning.version_of(before), 1) + 1 if before is not None else 1
    stored = versioning.stamp(incoming, version, node.clock())
    row.subject_id, row.resource_type, row.category = person.id, data.resource_type, data.category
    row.shareable, row.resource, row.updated_at = data.shareable, json.dumps(stored), node.clock()
    return stored, created, person


def delete_record(
    node: Node, rtype: str, actor: audit_log.Actor, *, rid: str | None = None, identifier: tuple[str, str] | None = None
) -> None:
    """Remove one of the node's own records, by its id here or by its source identifier
    (the EHR withdrew it: written about the wrong person, or not to be kept). From then on
    no summary holds it. Audited as ``record-deleted`` in the same unit of work; raise
    NotFound when no such record is stored."""
    with node.uow() as uow:
        if rid is not None:
            row = uow.records.get(rid)
        else:
            system, value = identifier or ("", "")
            row = uow.records.by_source(system, value)
        if row is None or row.resource_type != rtype:
            raise NotFound(f"Deze {rtype} is hier niet bekend.")
        bsn, where = _person(uow, row.subject_id).bsn, f"{row.resource_type}/{row.id}"
        try:
            _remove(
                uow,
                node,
                bsn,
                [row],
                actor,
                {"record": where, "source_system": row.source_system, "source_id": row.source_id},
            )
        except events.InvalidAuditRecord:  # an id the log may not hold (it looks like a token): its hash
            digest = hashlib.sha256(f"{row.source_system}|{row.source_id}".encode()).hexdigest()
            _remove(uow, node, bsn, [row], actor, {"record": where, "source_id_hash": digest})
        uow.commit()


def _deleted(bsn: str, rows: list[Record], actor: audit_log.Actor, detail: dict[str, Any]) -> events.AuditRecord:
    """The ``record-deleted`` entry for ``rows``; raises ``InvalidAuditRecord`` when ``detail``
    cannot be logged."""
    return events.AuditRecord(
        action=events.RECORD_DELETED,
        outcome=events.SUCCESS,
        subject=bsn,
        categories=tuple(sorted({r.category for r in rows})),
        resource_types=tuple(sorted({r.resource_type for r in rows})),
        count=len(rows),
        detail=detail,
        **audit_log.fields(actor),
    )


def _remove(
    uow: Unit, node: Node, bsn: str, rows: list[Record], actor: audit_log.Actor, detail: dict[str, Any]
) -> None:
    entry = _deleted(bsn, rows, actor, detail)  # before deleting anything
    for row in rows:
        uow.records.delete(row)
    uow.audit.append(node, entry)


def remove_records(
    session: StoreSession, node: Node, bsn: str, rows: list[Record], actor: audit_log.Actor, detail: dict[str, Any]
) -> None:
    """Delete ``rows`` (records of the person with ``bsn``) and log one ``record-deleted``
    entry, in the caller's transaction (``session``). Raises ``InvalidAuditRecord`` before
    deleting anything when ``detail`` cannot be logged."""
    entry = _deleted(bsn, rows, actor, detail)
    records = Records(session)
    for row in rows:
        records.delete(row)
    audit_log.append(session, node, entry)


def once_more_on_conflict(work: Callable[[], _T]) -> _T:
    """Run ``work``; if a concurrent writer inserted the same unique key first, run it again.

    The second run finds that row and updates it: a retried push answers 200, never 500.
    """
    try:
        return work()
    except Duplicate:
        return work()


def records_of(session: StoreSession, subject_id: str, categories: frozenset[str]) -> list[dict[str, Any]]:
    """The stored records of one person (by ``Person.id``) in ``categories``."""
    return [json.loads(resource) for resource in Records(session).resources_of(subject_id, categories)]


def _entry(i: int) -> str:
    return f"entry[{i}]"


def transaction(node: Node, bundle: dict[str, Any], actor: audit_log.Actor) -> dict[str, Any]:
    """Apply a transaction Bundle of records all-or-nothing (conditional create on identifier).

    The Bundle is the typed request of the FHIR transaction interaction: this use case reads
    its entries into ``fhir_in.RecordIn``, naming a refused one ``entry[i]``.
    """
    if bundle.get("type") != "transaction":
        raise InvalidRequest("Verwacht een Bundle van type 'transaction'.")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list) or not entries:
        raise InvalidRequest("De transaction-Bundle heeft geen entries.")
    resources = []
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise InvalidRequest(f"entry[{i}] heeft geen resource.")
        resources.append(resource)
    records = fhir_in.records(resources, fhir_in.known_categories(), where=_entry)
    written = push_records(node, records, actor, where=_entry)
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {
                "response": {
                    "status": "201 Created" if created else "200 OK",
                    "location": f"{stored['resourceType']}/{stored['id']}/_history/{stored['meta']['versionId']}",
                    "etag": f'W/"{stored["meta"]["versionId"]}"',
                    "lastModified": stored["meta"]["lastUpdated"],
                }
            }
            for stored, created in written
        ],
    }


def grant_of(row: ConsentRow, person: Person, issuer: str) -> Grant:
    """Rebuild the domain Grant from its stored row."""

    def fs(text: str) -> frozenset[str]:
        return frozenset(json.loads(text))

    return Grant(
        id=row.id,
        subject=subject_of(person),
        grantors=fs(row.grantors),
        refusals=fs(row.refusals),
        consulted=fs(row.consulted),
        recipients=fs(row.recipients),
        holders=fs(row.holders),
        purpose=row.purpose,
        categories=fs(row.categories),
        start=row.period_start,
        end=row.period_end,
        decision=row.decision,  # type: ignore[arg-type]
        status=row.status,  # type: ignore[arg-type]
        issuer=issuer,
    )
