"""Reading the audit log (privacy officers): search as FHIR AuditEvents, export, report.

Reading the log is itself logged (NEN 7513).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consent.errors import InvalidRequest
from gateway import audit_log
from gateway.audit import events, fhir
from gateway.audit.events import AuditRecord

_PREFIXES = {"ge": "since", "gt": "since", "le": "until", "lt": "until", "eq": "on"}


def _filters(args: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    allowed = {"patient", "date", "agent", "purpose", "outcome", "_count", "action"}
    unknown = set(args) - allowed
    if unknown:
        raise InvalidRequest(f"Onbekende zoekparameter(s): {', '.join(sorted(unknown))}.")
    if "patient" in args:
        out["subject"] = args["patient"].rpartition("|")[2]
    for value in (args.getlist("date") if hasattr(args, "getlist") else [args["date"]] if "date" in args else []):
        prefix, day = (value[:2], value[2:]) if value[:2] in _PREFIXES else ("eq", value)
        if len(day) < 10:
            raise InvalidRequest("date heeft de vorm [ge|le]JJJJ-MM-DD.")
        if prefix == "eq":
            out["since"], out["until"] = day[:10], day[:10] + "T99"
        elif _PREFIXES[prefix] == "since":
            out["since"] = day
        else:
            out["until"] = day[:10] + "T99" if len(day) == 10 else day
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
    with node.uow() as uow:
        found = [audit_log.stored(e) for e in audit_log.entries(uow.session, **filters)]
        audit_log.append(uow.session, node, AuditRecord(
            action=events.AUDIT_READ, outcome=events.SUCCESS, count=len(found),
            subject=filters.get("subject", "") if len(filters.get("subject", "")) == 9 else "",
            **audit_log.fields(actor), detail={"filters": {k: str(v) for k, v in filters.items()}}))
        uow.commit()
    resources = [fhir.audit_event(e, node.org_id) for e in found]
    return fhir.search_bundle(resources, len(resources), self_url)
