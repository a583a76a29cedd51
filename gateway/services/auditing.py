"""Reading the audit log (privacy officers): search as FHIR AuditEvents, export, report.

Reading the log is itself logged (NEN 7513). The disclosure report is returned as data
(``DisclosureReport``); the page, the API and the CLI print it with
``gateway.web.disclosure_report.render``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from audit import chain, events, fhir, search_dates
from audit.chain import StoredEntry
from audit.events import AuditRecord
from audit.report import date_nl
from consent.model import valid_bsn
from contract.errors import InvalidRequest
from gateway.federation import directory
from gateway.fhir import searchset
from gateway.repositories import audit_log
from gateway.repositories.ports import AuditLogRepository
from gateway.services import people
from gateway.services.registry import party_name
from profiles import catalog

if TYPE_CHECKING:  # the composition root imports the use cases
    from gateway.node import Node

_PREFIXES = {"ge": "since", "gt": "since", "le": "until", "lt": "until", "eq": "on"}
#: search parameters of AuditEvent this node answers (FHIR R4 names and types)
KNOWN = frozenset(
    {"patient", "patient:identifier", "date", "agent", "agent:identifier", "purpose", "outcome", "action"}
)
#: identifier systems of agents -> the actor id prefix the log keeps
_AGENT_PREFIX = {
    **{system: prefix for prefix, system in fhir.PRACTITIONER_SYSTEMS.items()},
    fhir.ORG_SYSTEM: "org",
    fhir.CLIENT_SYSTEM: "client",
}
NO_MATCH = "\x00none"  # a subject or agent no entry can have: the search matches nothing
ALL = 10**9  # ``limit`` for a read of the whole log (or all of it since a date)
_Found = TypeVar("_Found")


def logged_read(
    node: Node, actor: audit_log.Actor, read: Callable[[AuditLogRepository], list[_Found]], **record: Any
) -> list[_Found]:
    """What ``read`` finds in the log, with the entry that says who read how much appended in the
    same unit of work (NEN 7513: reading the log is logged). ``record`` holds the rest of that
    entry (``subject``, ``peer_org``, ``detail``)."""
    with node.uow() as uow:
        found = read(uow.audit)
        uow.audit.append(
            node,
            AuditRecord(
                action=events.AUDIT_READ,
                outcome=events.SUCCESS,
                count=len(found),
                **audit_log.fields(actor),
                **record,
            ),
        )
        uow.commit()
    return found


def _one(args: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    found = [(n, args[n]) for n in names if n in args]
    if len(found) > 1:
        raise InvalidRequest(
            f"Geef één van {', '.join(names)}.", expression=names, diagnostics=f"use one of {', '.join(names)}"
        )
    return found[0] if found else None


def _patient(name: str, value: str, person_bsn: Any, base_url: str) -> str:
    """The BSN that ``patient`` (``Patient/{id}``, the absolute URL, or a BSN as the contract's
    ``patient=`` has it) or ``patient:identifier`` (``[system|]BSN``) names; NO_MATCH for a
    person not known here or a reference to another type or server."""
    system, _sep, bsn = value.rpartition("|")
    if name == "patient:identifier" or "/" not in value:
        if name == "patient:identifier" and system not in ("", fhir.BSN_SYSTEM):
            return NO_MATCH  # another identifier system: the log keeps BSNs only
        if system not in ("", fhir.BSN_SYSTEM) or not valid_bsn(bsn):
            raise InvalidRequest(
                "patient is Patient/<id> of een geldig BSN (negen cijfers), eventueel met systeem ervoor.",
                expression=(name,),
                diagnostics=f"{name}: expected Patient/<id> or a valid BSN",
            )
        return bsn
    pid = searchset.reference_id(value, "Patient", base_url)
    return (person_bsn(pid) or NO_MATCH) if pid else NO_MATCH


def _agent(name: str, value: str) -> str:
    if name == "agent:identifier":
        system, sep, ident = value.rpartition("|")
        prefix = _AGENT_PREFIX.get(system)
        return f"{prefix}:{ident}" if sep and prefix and ident else NO_MATCH
    return value.rpartition("|")[2]


def _filters(args: Mapping[str, str], person_bsn: Any = lambda pid: None, base_url: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    patient = _one(args, "patient", "patient:identifier")
    if patient:
        out["subject"] = _patient(*patient, person_bsn, base_url)
    dates = args.getlist("date") if hasattr(args, "getlist") else [args["date"]] if "date" in args else []
    if dates:  # compared as dates, never as strings: ge2025-13-45 is refused, not a filter
        since, until = search_dates.bounds(dates)
        if since is not None:
            out["since"] = since
        if until is not None:
            out["until"] = until
    agent = _one(args, "agent", "agent:identifier")
    if agent:
        out["agent"] = _agent(*agent)
    if "purpose" in args:
        out["purpose"] = args["purpose"].rpartition("|")[2]
    if "outcome" in args:
        out["outcome"] = {"0": "success", "4": "refused", "8": "error"}.get(args["outcome"], args["outcome"])
    if "action" in args:
        out["action"] = args["action"].rpartition("|")[2]
    return out


def search(
    node: Node, args: Mapping[str, str], actor: audit_log.Actor, self_url: str = "", *, prefer: str = ""
) -> dict[str, Any]:
    """Search the log one page at a time (gateway.fhir.searchset); the search itself is appended to it."""

    base = node.config.node.url.rstrip("/")
    pg = searchset.page(args, known=KNOWN, prefer=prefer, sorts=("-date", "-_lastUpdated"))

    def person_bsn(pid: str) -> str | None:
        with node.uow(read_only=True) as uow:
            person = uow.people.get(pid)
            return None if person is None else str(person.bsn)

    filters = _filters(args, person_bsn, base)
    logged = {k: ("(geen)" if v == NO_MATCH else str(v)) for k, v in filters.items()}
    try:  # the search is logged with its filters: a value the log cannot hold is refused first
        read = AuditRecord(
            action=events.AUDIT_READ,
            outcome=events.SUCCESS,
            subject="" if filters.get("subject") in (None, NO_MATCH) else filters["subject"],
            **audit_log.fields(actor),
            detail={"filters": logged},
        )
    except events.InvalidAuditRecord:
        raise InvalidRequest(
            "Een zoekwaarde bevat tekens die het auditlog niet vastlegt "
            "(een NUL-teken, of iets dat op een token of wachtwoord lijkt)."
        ) from None
    with node.uow() as uow:
        total = uow.audit.count(**filters)
        found = [] if pg.only_total else uow.audit.entries(**filters, limit=pg.count, offset=pg.offset)
        uow.audit.append(node, dataclasses.replace(read, count=len(found)))
        uow.commit()
    resources = [fhir.to_audit_event(e, org_id=node.org_id, org_url=node.config.node.url) for e in found]
    return searchset.bundle(
        resources,
        total,
        pg,
        self_url=base + "/fhir/AuditEvent",
        params=searchset.params_of(args, KNOWN),
        full_url=lambda r: f"{base}/fhir/AuditEvent/{r['id']}",
    )


def export(node: Node, fmt: str, since: str | None) -> str:
    """The whole log (or since a date) as a FHIR Bundle of AuditEvents, or CSV; audited."""
    rows = logged_read(
        node,
        audit_log.SYSTEM,
        lambda log: log.entries(since=since, limit=ALL)[::-1],
        detail={"export": fmt, "since": since or ""},
    )
    if fmt == "csv":
        return fhir.to_csv(rows)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": fhir.to_audit_event(e, org_id=node.org_id, org_url=node.config.node.url)} for e in rows],
    }
    return json.dumps(bundle, ensure_ascii=False, indent=1)


@dataclasses.dataclass(frozen=True)
class DisclosureReport:
    """What a person's disclosure overview is drawn up from: their entries (oldest first) and the
    names that word them, as ``audit.report.disclosure_report_rows`` takes them."""

    entries: Sequence[StoredEntry]
    subject_bsn: str
    org_name: str
    now: datetime
    partner_names: Mapping[str, str] = dataclasses.field(default_factory=dict)
    consents: Mapping[str, str] = dataclasses.field(default_factory=dict)
    phone: str = ""
    people: Mapping[str, str] = dataclasses.field(default_factory=dict)


def disclosure_report(node: Node, subject: str, actor: audit_log.Actor) -> DisclosureReport:
    """Everything disclosed about one person (basis for an AVG access request); the read is audited."""

    if not valid_bsn(subject):
        raise InvalidRequest("Geef een geldig BSN.")
    rows = logged_read(
        node,
        actor,
        lambda log: log.entries(subject=subject, limit=ALL)[::-1],
        subject=subject,
        detail={"report": "disclosure"},
    )

    names = {e.org_id: e.name for e in directory.entries(node)}
    names[node.org_id] = node.config.node.name
    consents_nl = _consents_named(node, {r.record.consent_id for r in rows if r.record.consent_id}, names)

    staff = people.names(node, {r.record.actor_id for r in rows if r.record.actor_id})
    return DisclosureReport(
        rows,
        subject_bsn=subject,
        org_name=node.config.node.name,
        now=node.clock(),
        partner_names=names,
        consents=consents_nl,
        phone=node.config.node.phone,
        people=staff,
    )


def _consents_named(node: Node, ids: set[str], names: dict[str, str]) -> dict[str, str]:
    """consent id (as audited: ``cid`` or ``issuer/cid``) -> the consent in the person's words:
    what, for what, given by whom, when (issue 20.8). Consents recorded elsewhere are named by
    the organisation that keeps them."""

    out: dict[str, str] = {}
    with node.uow(read_only=True) as uow:
        for ref in ids:
            issuer, _, cid = ref.rpartition("/")
            if issuer and issuer != node.org_id:
                out[ref] = f"toestemming, vastgelegd bij {names.get(issuer, issuer)} (kenmerk {cid[:8].upper()})"
                continue
            row = uow.consent_reads.get(cid)
            if row is None:
                continue
            person = uow.people.get(row.subject_id)
            rels = {r.party_key: r for r in uow.relations.of_child(row.subject_id)}
            who = []
            for key in sorted(json.loads(row.grantors)):
                if person is not None and key == f"bsn:{person.bsn}":
                    who.append("uzelf")
                else:
                    rel = rels.get(key)
                    who.append(party_name(uow.people, key, rel.resource if rel else "") or "een gezaghebbende")
            cats = ", ".join(
                catalog.explanation(catalog.SUMMARY_CATEGORY_SYSTEM, c) for c in json.loads(row.categories)
            )
            purpose = catalog.explanation(catalog.PURPOSE_SYSTEM, row.purpose)
            out[ref] = (
                f"toestemming van {' en '.join(who) or 'onbekend'} op {date_nl(row.created_at)}, voor "
                f"{purpose}: {cats} (kenmerk {cid[:8].upper()})"
            )
    return out


def prune(node: Node, before: str | None) -> tuple[int, int]:
    """Delete entries recorded before ``before`` (default: now - retention); keep the chain verifiable.

    A signed "prune" checkpoint names the last removed entry (seq, hash); verification then
    starts from it. The prune itself is audited.
    """

    cutoff = before or (node.clock() - timedelta(days=node.config.audit.retention_days)).date().isoformat()
    with node.uow() as uow:
        last = uow.audit.last_before(cutoff)
        if last is None:
            return 0, 0
        signed = chain.sign_checkpoint(
            last, kind=chain.KIND_PRUNE, at=chain.format_recorded_at(node.clock()), sign=audit_log.head_signer(node)
        )
        count = uow.audit.prune_through(last, signed)
        uow.audit.append(
            node,
            AuditRecord(
                action=events.AUDIT_PRUNED,
                outcome=events.SUCCESS,
                count=count,
                **audit_log.fields(audit_log.SYSTEM),
                detail={"before": cutoff, "anchor_seq": last.seq},
            ),
        )
        uow.commit()
    return count, last.seq
