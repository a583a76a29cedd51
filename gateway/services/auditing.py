"""Reading the audit log (privacy officers): search as FHIR AuditEvents, export, report.

Reading the log is itself logged (NEN 7513).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from consent.errors import InvalidRequest
from gateway import audit_log
from gateway.audit import events, fhir, search_dates
from gateway.audit.events import AuditRecord

def _filters(args: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    allowed = {"patient", "date", "agent", "purpose", "outcome", "_count", "action"}
    unknown = set(args) - allowed
    if unknown:
        raise InvalidRequest(f"Onbekende zoekparameter(s): {', '.join(sorted(unknown))}.")
    if "patient" in args:
        from consent.model import valid_bsn

        out["subject"] = args["patient"].rpartition("|")[2]
        if not valid_bsn(out["subject"]):
            raise InvalidRequest("patient is een geldig BSN (negen cijfers), eventueel met systeem ervoor.")
    dates = args.getlist("date") if hasattr(args, "getlist") else [args["date"]] if "date" in args else []
    if dates:  # compared as dates, never as strings: ge2025-13-45 is refused, not a filter
        since, until = search_dates.bounds(dates)
        if since is not None:
            out["since"] = since
        if until is not None:
            out["until"] = until
    if "agent" in args:
        out["agent"] = args["agent"].rpartition("|")[2]
    if "purpose" in args:
        out["purpose"] = args["purpose"].rpartition("|")[2]
    if "outcome" in args:
        out["outcome"] = {"0": "success", "4": "refused", "8": "error"}.get(args["outcome"], args["outcome"])
    if "action" in args:
        out["action"] = args["action"]
    if "_count" in args:
        if not args["_count"].isdigit() or not 0 < int(args["_count"]) <= 1000:
            raise InvalidRequest("_count is 1 t/m 1000.")
        out["limit"] = int(args["_count"])
    return out


def search(node: Any, args: Mapping[str, str], actor: audit_log.Actor, self_url: str) -> dict[str, Any]:
    """Search the log; the search itself is appended to it."""
    filters = _filters(args)
    try:  # the search is logged with its filters: a value the log cannot hold is refused first
        read = AuditRecord(action=events.AUDIT_READ, outcome=events.SUCCESS, subject=filters.get("subject", ""),
                           **audit_log.fields(actor), detail={"filters": {k: str(v) for k, v in filters.items()}})
    except events.InvalidAuditRecord:
        raise InvalidRequest("Een zoekwaarde bevat tekens die het auditlog niet vastlegt "
                             "(een NUL-teken, of iets dat op een token of wachtwoord lijkt).") from None
    with node.uow() as uow:
        found = [audit_log.stored(e) for e in audit_log.entries(uow.session, **filters)]
        audit_log.append(uow.session, node, dataclasses.replace(read, count=len(found)))
        uow.commit()
    resources = [fhir.to_audit_event(e, org_id=node.org_id, org_url=node.config.node.url) for e in found]
    return fhir.search_bundle(resources, len(resources), self_url)


def export(node: Any, fmt: str, since: str | None) -> str:
    """The whole log (or since a date) as a FHIR Bundle of AuditEvents, or CSV; audited."""
    import json

    with node.uow() as uow:
        rows = [audit_log.stored(e) for e in audit_log.entries(uow.session, since=since, limit=10**9)]
        rows.reverse()
        audit_log.append(uow.session, node, AuditRecord(
            action=events.AUDIT_READ, outcome=events.SUCCESS, count=len(rows),
            **audit_log.fields(audit_log.SYSTEM), detail={"export": fmt, "since": since or ""}))
        uow.commit()
    if fmt == "csv":
        return fhir.to_csv(rows)
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": fhir.to_audit_event(e, org_id=node.org_id, org_url=node.config.node.url)}
                        for e in rows]}
    return json.dumps(bundle, ensure_ascii=False, indent=1)


def disclosure_report(node: Any, subject: str, actor: audit_log.Actor) -> str:
    """Everything disclosed about one person, in plain Dutch (basis for an AVG access request)."""
    from consent.model import valid_bsn
    from gateway.audit.report import disclosure_report as render

    if not valid_bsn(subject):
        raise InvalidRequest("Geef een geldig BSN.")
    with node.uow() as uow:
        rows = [audit_log.stored(e) for e in audit_log.entries(uow.session, subject=subject, limit=10**9)]
        rows.reverse()
        audit_log.append(uow.session, node, AuditRecord(
            action=events.AUDIT_READ, outcome=events.SUCCESS, count=len(rows), subject=subject,
            **audit_log.fields(actor), detail={"report": "disclosure"}))
        uow.commit()
    from gateway import directory

    names = {e.org_id: e.name for e in directory.entries(node)}
    names[node.org_id] = node.config.node.name
    consents_nl = _consents_named(node, {r.record.consent_id for r in rows if r.record.consent_id}, names)
    from gateway.services import people

    staff = people.names(node, {r.record.actor_id for r in rows if r.record.actor_id})
    return render(rows, subject_bsn=subject, org_name=node.config.node.name, now=node.clock(),
                  partner_names=names, consents=consents_nl, phone=node.config.node.phone, people=staff)


def _consents_named(node: Any, ids: set[str], names: dict[str, str]) -> dict[str, str]:
    """consent id (as audited: ``cid`` or ``issuer/cid``) -> the consent in the person's words:
    what, for what, given by whom, when (issue 20.8). Consents recorded elsewhere are named by
    the organisation that keeps them."""
    from adapters.store.models import ConsentRow, Person, Relation
    from gateway.audit.report import CATEGORIES_NL, PURPOSES_NL, date_nl
    from gateway.services.registry import display_name, party_name

    out: dict[str, str] = {}
    with node.uow(read_only=True) as uow:
        s = uow.session
        for ref in ids:
            issuer, _, cid = ref.rpartition("/")
            if issuer and issuer != node.org_id:
                out[ref] = f"toestemming, vastgelegd bij {names.get(issuer, issuer)} (kenmerk {cid[:8].upper()})"
                continue
            row = s.get(ConsentRow, cid)
            if row is None:
                continue
            person = s.get(Person, row.subject_id)
            rels = {r.party_key: r for r in s.scalars(select(Relation).where(Relation.child_id == row.subject_id))}
            who = []
            for key in sorted(json.loads(row.grantors)):
                if person is not None and key == f"bsn:{person.bsn}":
                    who.append("uzelf")
                else:
                    rel = rels.get(key)
                    who.append(party_name(s, key, rel.resource if rel else "") or "een gezaghebbende")
            cats = ", ".join(CATEGORIES_NL.get(c, c) for c in json.loads(row.categories))
            out[ref] = (f"toestemming van {' en '.join(who) or 'onbekend'} op {date_nl(row.created_at)}, voor "
                        f"{PURPOSES_NL.get(row.purpose, row.purpose)}: {cats} (kenmerk {cid[:8].upper()})")
    return out


def prune(node: Any, before: str | None) -> tuple[int, int]:
    """Delete entries recorded before ``before`` (default: now - retention); keep the chain verifiable.

    A signed "prune" checkpoint names the last removed entry (seq, hash); verification then
    starts from it. The prune itself is audited.
    """
    from datetime import timedelta

    from sqlalchemy import delete, select

    from adapters.store.models import AuditCheckpoint, AuditEntry
    from gateway.audit import chain

    cutoff = before or (node.clock() - timedelta(days=node.config.audit.retention_days)).date().isoformat()
    with node.uow() as uow:
        s = uow.session
        last = s.execute(select(AuditEntry).where(AuditEntry.recorded_at < cutoff)
                         .order_by(AuditEntry.seq.desc()).limit(1)).scalar_one_or_none()
        if last is None:
            return 0, 0
        count = s.query(AuditEntry).filter(AuditEntry.seq <= last.seq).count()
        signed = chain.sign_checkpoint(audit_log.stored(last), kind=chain.KIND_PRUNE,
                                       at=chain.format_recorded_at(node.clock()), sign=audit_log._signer(node))
        s.execute(delete(AuditEntry).where(AuditEntry.seq <= last.seq))
        old = s.get(AuditCheckpoint, last.seq)
        if old is not None:  # a regular checkpoint at the same seq names the same entry
            s.delete(old)
            s.flush()
        s.add(AuditCheckpoint(seq=last.seq, kind=chain.KIND_PRUNE, hash=last.hash, signed=signed))
        s.flush()
        audit_log.append(s, node, AuditRecord(action=events.AUDIT_PRUNED, outcome=events.SUCCESS, count=count,
                                              **audit_log.fields(audit_log.SYSTEM),
                                              detail={"before": cutoff, "anchor_seq": last.seq}))
        uow.commit()
    return count, last.seq
