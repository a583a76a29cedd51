"""The EHR adapter interface (issue 6): source records in, the node's own records out.

An adapter reads records from where an EHR keeps them (its FHIR API: ``fhir_pull``; an
export file: ``batch``) and hands them over as ``SourceRecord``s. Everything after that is
shared and lives here:

1. ``to_node_record`` turns a source record into one of the node's own records (contract
   section 3) through a ``Mapping`` (``ehr.mapping``, data in ``config/mappings/``):
   - the summary category from the source's own codes, added to ``category`` (``type`` for
     an EpisodeOfCare);
   - the disclosure mark ``meta.tag`` disclosure#shareable when the mapping allows it;
   - the link back to the source as the first ``identifier`` (system, value);
   - the subject by BSN. The source's ``id``, ``meta`` and narrative ``text`` are dropped.

   A record whose codes are not in the mapping is not the node's business and is skipped;
   one whose code the mapping marks ``ignore`` too.
2. ``store`` writes node records in one unit of work through
   ``gateway.services.registry.upsert_record``. Its conditional create on the first
   identifier makes a re-sync update instead of duplicate; a record identical to the
   stored one is left alone, so reading the same data twice changes nothing. A run that
   wrote anything leaves one ``record-written`` audit entry in the same transaction.
3. ``withdraw_missing`` removes what a complete read of one person at one source no longer
   returned (the EHR deleted it), with one ``record-deleted`` audit entry.

A new adapter only has to produce ``SourceRecord``s (or ``Problem``s for what it could
not read) and call these functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapters.store.models import Record
from audit import events
from contract.errors import InvalidRequest
from ehr.mapping import Mapping
from gateway.fhir import fhir_in
from gateway.fhir.fhir_in import BSN_SYSTEM, CATEGORY_SYSTEM, DISCLOSURE_SYSTEM
from gateway.fhir.versioning import unversioned
from gateway.node import Node
from gateway.repositories import audit_log
from gateway.services import registry
from profiles.catalog import CARE_STATUS_SYSTEM, load_profiles

#: Elements of a source resource that never enter the node: its ids and version at the
#: source (the link back replaces them) and free narrative nobody authored for sharing.
DROPPED = ("id", "meta", "text", "contained", "implicitRules")


@dataclass(frozen=True)
class SourceRecord:
    """One record as an adapter read it, before mapping."""

    where: str  # how a report names it: "line 17", "Observation/abc"
    identifier: tuple[str, str]  # (system, value): the link back to the source
    subject_bsn: str
    resource: dict[str, Any]  # FHIR R4 Observation, CarePlan, CareTeam or EpisodeOfCare
    codings: tuple[tuple[str, str], ...]  # (system, code) the source classified it with
    marked_shareable: bool = False  # the author marked its text shareable at the source


@dataclass(frozen=True)
class Problem:
    """A source record that could not be taken over, and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


class Source(Protocol):
    """What an adapter provides: the records it read, and problems it met reading them."""

    def records(self) -> Iterable[SourceRecord | Problem]: ...


@dataclass
class Outcome:
    """What one run did; ``problems`` lists every record that was refused."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # not mapped, or mapped to 'ignore'
    withdrawn: int = 0  # stored, but no longer at the source (a full read)
    problems: list[Problem] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)
    resource_types: set[str] = field(default_factory=set)
    written: bool = False  # committed (False for an all-or-nothing run with problems)

    def add(self, other: Outcome) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        self.withdrawn += other.withdrawn
        self.problems += other.problems
        self.categories |= other.categories
        self.resource_types |= other.resource_types

    def summary(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, {self.skipped} not mapped"


def to_node_record(rec: SourceRecord, mapping: Mapping) -> dict[str, Any] | None:
    """The node's own record for ``rec``; None when the mapping does not take it.

    Raises ``InvalidRequest`` when its codes map to two categories, or when the category's
    profile keeps another resource type (an EpisodeOfCare is stored under any category
    but never leaves the node).
    """
    rule = mapping.rule_for(list(rec.codings))
    if rule is None or rule.ignored:
        return None
    rtype = rec.resource.get("resourceType")
    kept_as = load_profiles()[rule.category].resource_type
    if rtype not in (kept_as, "EpisodeOfCare"):
        raise InvalidRequest(
            f"code {rule.code!r} maps to {rule.category}, kept as {kept_as}, but this record is a {rtype}"
        )
    out = {k: v for k, v in rec.resource.items() if k not in DROPPED}
    system, value = rec.identifier
    others = [
        i
        for i in out.get("identifier") or []
        if isinstance(i, dict) and (i.get("system"), i.get("value")) != (system, value)
    ]
    out["identifier"] = [{"system": system, "value": value}, *others]
    out["patient" if rtype == "EpisodeOfCare" else "subject"] = {
        "identifier": {"system": BSN_SYSTEM, "value": rec.subject_bsn}
    }
    slot = "type" if rtype == "EpisodeOfCare" else "category"
    concepts = [
        c
        for c in out.get(slot) or []
        if isinstance(c, dict)
        and not any(isinstance(x, dict) and x.get("system") == CATEGORY_SYSTEM for x in c.get("coding") or [])
    ]
    out[slot] = [*concepts, {"coding": [{"system": CATEGORY_SYSTEM, "code": rule.category}]}]
    if rule.care_status and rtype == "Observation":
        for key in [k for k in out if k.startswith("value")]:
            del out[key]  # the source's value may say why someone is in care
        out["valueCodeableConcept"] = {"coding": [{"system": CARE_STATUS_SYSTEM, "code": rule.care_status}]}
    if mapping.shareable(rule, rec.marked_shareable):
        out["meta"] = {"tag": [{"system": DISCLOSURE_SYSTEM, "code": "shareable"}]}
    return out


def store(
    node: Node,
    records: list[tuple[str, dict[str, Any]]],
    *,
    actor_id: str,
    subject: str = "",
    detail: dict[str, Any] | None = None,
    all_or_nothing: bool = True,
    prior_problems: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Write ``(where, node record)`` pairs in one unit of work; see the module docstring.

    With ``all_or_nothing`` one refused record (here, or one of ``prior_problems`` the
    adapter met before) means nothing is written (``written`` stays False); otherwise the
    refused ones are reported and the rest committed. Raises
    ``StoreUnavailable`` when the store cannot be written.
    """
    for attempt in (1, 2):
        try:
            return _store_once(
                node,
                records,
                actor_id=actor_id,
                subject=subject,
                detail=detail or {},
                all_or_nothing=all_or_nothing,
                prior_problems=prior_problems,
                progress=progress if attempt == 1 else None,
            )
        except IntegrityError:
            # an EHR pushed the same source record meanwhile: the second pass finds it and updates
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _store_once(
    node: Node,
    records: list[tuple[str, dict[str, Any]]],
    *,
    actor_id: str,
    subject: str,
    detail: dict[str, Any],
    all_or_nothing: bool,
    prior_problems: int,
    progress: Callable[[int], None] | None,
) -> Outcome:
    out = Outcome()
    known = fhir_in.known_categories()
    with node.uow() as uow:
        s = uow.session
        for where, resource in records:
            if progress is not None:
                progress(1)
            if _unchanged(s, resource):
                out.unchanged += 1
                continue
            try:
                _, created = registry.upsert_record(node, fhir_in.record(resource, known), session=s)
            except (InvalidRequest, registry.RecordOfAnother) as exc:  # never moved to another person
                out.problems.append(Problem(where, exc.detail))
                continue
            out.created += created
            out.updated += not created
            out.resource_types.add(resource["resourceType"])
            out.categories.add(_category(resource))
        if all_or_nothing and (out.problems or prior_problems):
            return out
        if out.created or out.updated:
            record = events.AuditRecord(
                action=events.RECORD_WRITTEN,
                outcome=events.SUCCESS,
                subject=subject,
                categories=tuple(sorted(out.categories)),
                resource_types=tuple(sorted(out.resource_types)),
                count=out.created + out.updated,
                detail={**detail, "created": out.created, "updated": out.updated},
                **audit_log.fields(audit_log.Actor(actor_id=actor_id, role="admin", access_point="cli")),
            )
            audit_log.append(s, node, record)
        uow.commit()
    out.written = True
    return out


def _unchanged(session: Session, resource: dict[str, Any]) -> bool:
    ident = (resource.get("identifier") or [{}])[0]
    row = session.scalar(
        select(Record).where(Record.source_system == ident.get("system"), Record.source_id == ident.get("value"))
    )
    if row is None:
        return False
    stored = unversioned(json.loads(row.resource))
    stored.pop("id", None)
    return stored == unversioned(resource)


def _category(resource: dict[str, Any]) -> str:
    slot = "type" if resource["resourceType"] == "EpisodeOfCare" else "category"
    for concept in resource.get(slot) or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == CATEGORY_SYSTEM:
                return str(coding["code"])
    return ""


def withdraw_missing(
    node: Node, subject_bsn: str, source_system: str, kept: set[str], *, actor_id: str, detail: dict[str, Any]
) -> int:
    """Remove the person's records from ``source_system`` whose source id is not in ``kept``.

    Call it only after reading *everything* the source holds for the person: what that read
    did not return was deleted at the source (or is no longer mapped) and must stop being
    shared. One ``record-deleted`` audit entry in the same unit of work; returns the count.
    """
    with node.uow() as uow:
        s = uow.session
        person = registry.person_by_bsn(s, subject_bsn)
        if person is None:
            return 0
        gone = [
            r
            for r in s.scalars(
                select(Record).where(Record.subject_id == person.id, Record.source_system == source_system)
            )
            if r.source_id not in kept
        ]
        if not gone:
            return 0
        registry.remove_records(
            s,
            node,
            subject_bsn,
            gone,
            audit_log.Actor(actor_id=actor_id, role="admin", access_point="cli"),
            {
                **detail,
                "source_system": source_system,
                "why_nl": "Staat niet meer in het bronsysteem (volledige synchronisatie).",
            },
        )
        uow.commit()
    return len(gone)
