"""Render audit entries as FHIR R4 AuditEvents (IHE BALP) and as NEN 7513 CSV.

Follows IHE Basic Audit Log Patterns 1.1: a disclosure is recorded at the holder with the
PrivacyDisclosure **Source** pattern (DICOM 110106 Export, action R) and at the requester
with the **Recipient** pattern (110107 Import, action C); both carry subtype
``iso-21089-lifecycle#disclose`` plus our action code, a source agent (DCM 110153) and a
recipient agent (DCM 110152) whose ``who`` equals ``source.observer`` on its own side, the
custodian (SNOMED 159541003), the professional (v3-ParticipationType) as requestor, the
patient entity (audit-entity-type 1, object-role 1, BSN identifier), the consent or legal
ground, the data set with its hashes, and the exchange id. Other actions follow the basic
pattern with a DICOM event type. Outcome 0 success, 4 refused, 8 error. The CSV export has
a fixed header and neutralises spreadsheet formulas (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import rfc8785

from audit import events as ev
from audit.chain import StoredEntry
from contract import systems

AUDIT_ACTION_SYSTEM = systems.AUDIT_ACTION_SYSTEM
PURPOSE_SYSTEM = systems.PURPOSE_SYSTEM
CATEGORY_SYSTEM = systems.SUMMARY_CATEGORY_SYSTEM
LEGAL_GROUND_SYSTEM = systems.LEGAL_GROUND_SYSTEM
AUDIT_FLAG_SYSTEM = systems.AUDIT_FLAG_SYSTEM
ORG_SYSTEM = systems.ORG_ID_SYSTEM
CLIENT_SYSTEM = systems.CLIENT_ID_SYSTEM
CONSENT_SYSTEM = systems.CONSENT_ID_SYSTEM
EXCHANGE_ID_SYSTEM = systems.EXCHANGE_ID_SYSTEM
BSN_SYSTEM = systems.BSN_SYSTEM
PRACTITIONER_SYSTEMS: Mapping[str, str] = {kind: system for kind, (system, _) in ev.PRACTITIONER_ID_KINDS.items()}

DCM = systems.DICOM_SYSTEM
PARTICIPATION = systems.PARTICIPATION_TYPE_SYSTEM
ROLE_CLASS = systems.ROLE_CLASS_SYSTEM
SNOMED = systems.SNOMED_SYSTEM
LIFECYCLE = systems.LIFECYCLE_SYSTEM
ENTITY_TYPE = systems.AUDIT_ENTITY_TYPE_SYSTEM
OBJECT_ROLE = systems.OBJECT_ROLE_SYSTEM
RESOURCE_TYPES = systems.RESOURCE_TYPES_SYSTEM
SOURCE_TYPE = systems.SECURITY_SOURCE_TYPE_SYSTEM
BALP = systems.BALP_BASE

OUTCOME_CODES: Mapping[str, str] = {ev.SUCCESS: "0", ev.REFUSED: "4", ev.ERROR: "8"}

_EXPORT, _IMPORT, _BASIC = "export", "import", "basic"
# action -> (DICOM event type code, display, FHIR action C/R/U/D/E, pattern)
_PATTERNS: Mapping[str, tuple[str, str, str, str]] = {
    ev.DISCLOSURE_SENT: ("110106", "Export", "R", _EXPORT),
    ev.DISCLOSURE_REFUSED: ("110106", "Export", "R", _EXPORT),
    ev.SAFETY_DISCLOSURE_SENT: ("110106", "Export", "R", _EXPORT),
    ev.SUMMARY_RECEIVED: ("110107", "Import", "C", _IMPORT),
    ev.SUMMARY_REQUEST_FAILED: ("110107", "Import", "C", _IMPORT),
    ev.SAFETY_DISCLOSURE_RECEIVED: ("110107", "Import", "C", _IMPORT),
    ev.SUMMARY_PUSHED: ("110106", "Export", "R", _EXPORT),
    ev.SUMMARY_PUSH_FAILED: ("110106", "Export", "R", _EXPORT),
    ev.SUMMARY_PUSH_RECEIVED: ("110107", "Import", "C", _IMPORT),
    ev.SUMMARY_PUSH_REFUSED: ("110107", "Import", "C", _IMPORT),
    ev.CONSENT_RECORDED: ("110110", "Patient Record", "C", _BASIC),
    ev.CONSENT_REFUSED: ("110110", "Patient Record", "C", _BASIC),
    ev.CONSENT_REVOKED: ("110110", "Patient Record", "U", _BASIC),
    ev.CONSENT_VIEWED: ("110110", "Patient Record", "R", _BASIC),
    ev.CONSENT_STATUS_QUERIED: ("110112", "Query", "E", _BASIC),
    ev.TOKEN_ISSUED: ("110114", "User Authentication", "E", _BASIC),
    ev.LOGIN: ("110114", "User Authentication", "E", _BASIC),
    ev.LOGIN_FAILED: ("110114", "User Authentication", "E", _BASIC),
    ev.KEY_ROTATED: ("110100", "Application Activity", "U", _BASIC),
    ev.PARTNER_ADDED: ("110100", "Application Activity", "C", _BASIC),
    ev.PARTNER_REMOVED: ("110100", "Application Activity", "D", _BASIC),
    ev.PARTNER_KEYS_UPDATED: ("110100", "Application Activity", "U", _BASIC),
    ev.CLIENT_ADDED: ("110100", "Application Activity", "C", _BASIC),
    ev.CLIENT_REMOVED: ("110100", "Application Activity", "D", _BASIC),
    ev.CLIENT_SECRET_ROTATED: ("110100", "Application Activity", "U", _BASIC),
    ev.CONSENT_DECLINED: ("110110", "Patient Record", "C", _BASIC),
    ev.FLAG_HANDLED: ("110101", "Audit Log Used", "U", _BASIC),
    ev.AUDIT_READ: ("110101", "Audit Log Used", "R", _BASIC),
    ev.AUDIT_PRUNED: ("110101", "Audit Log Used", "D", _BASIC),
    ev.RECORD_WRITTEN: ("110110", "Patient Record", "C", _BASIC),
    ev.RECORD_VIEWED: ("110110", "Patient Record", "R", _BASIC),
    ev.RECORD_DELETED: ("110110", "Patient Record", "D", _BASIC),
    ev.FEDERATION_LIST_APPLIED: ("110100", "Application Activity", "U", _BASIC),
    ev.FEDERATION_LIST_REFUSED: ("110100", "Application Activity", "E", _BASIC),
    ev.FEDERATION_MEMBER_ADDED: ("110100", "Application Activity", "C", _BASIC),
    ev.FEDERATION_MEMBER_UPDATED: ("110100", "Application Activity", "U", _BASIC),
    ev.FEDERATION_MEMBER_REMOVED: ("110100", "Application Activity", "D", _BASIC),
    ev.FEDERATION_CONFLICT: ("110100", "Application Activity", "E", _BASIC),
    ev.LOCATOR_SETUP_SERVED: ("110106", "Export", "R", _BASIC),
    ev.LOCATOR_MATCH_ANSWERED: ("110112", "Query", "E", _BASIC),
    ev.LOCATOR_KEY_ROTATED: ("110100", "Application Activity", "U", _BASIC),
    ev.LOCATE_SEARCHED: ("110112", "Query", "E", _BASIC),
}
_LOCAL_CONSENT_ACTIONS = frozenset(
    {
        ev.CONSENT_RECORDED,
        ev.CONSENT_DECLINED,
        ev.CONSENT_REVOKED,
        ev.CONSENT_VIEWED,
        ev.CONSENT_STATUS_QUERIED,
        ev.TOKEN_ISSUED,
    }
)
_IP = re.compile(r"[0-9.]+|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _concept(*codings: dict[str, str]) -> dict[str, Any]:
    return {"coding": list(codings)}


def _org(org_id: str) -> dict[str, Any]:
    return {"identifier": {"system": ORG_SYSTEM, "value": org_id}, "type": "Organization"}


def _person(actor_id: str, orgs: Iterable[str]) -> dict[str, Any]:
    """Return a Reference naming a practitioner (uzi:/agb:/big:), an organisation or a client."""
    prefix, _, rest = actor_id.partition(":")
    if prefix.lower() in PRACTITIONER_SYSTEMS and rest:
        return {"identifier": {"system": PRACTITIONER_SYSTEMS[prefix.lower()], "value": rest}, "type": "Practitioner"}
    if actor_id in orgs:
        return _org(actor_id)
    return {"identifier": {"system": CLIENT_SYSTEM, "value": actor_id}, "type": "Device"}


def _network(address: str) -> dict[str, str]:
    """Return agent.network: type 2 for an IP address, 5 for a URI, 1 for a machine name."""
    if "://" in address:
        return {"address": address, "type": "5"}
    if _IP.fullmatch(address):
        return {"address": address, "type": "2"}
    return {"address": address, "type": "1"}


def to_audit_event(entry: StoredEntry, *, org_id: str, org_url: str = "") -> dict[str, Any]:
    """Render one stored entry as a FHIR R4 AuditEvent (JSON dict) recorded by ``org_id``."""
    record = entry.record
    code, display, crud, pattern = _PATTERNS[record.action]
    subtype = [_coding(AUDIT_ACTION_SYSTEM, record.action, record.label_nl)]
    if pattern != _BASIC:
        subtype.insert(0, _coding(LIFECYCLE, "disclose", "Disclose Record Lifecycle Event"))
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": entry.event_id,
        "type": _coding(DCM, code, display),
        "subtype": subtype,
        "action": crud,
        "recorded": entry.recorded_at,
        "outcome": OUTCOME_CODES[record.outcome],
        "outcomeDesc": ev.OUTCOMES[record.outcome] + (f" ({record.reason_code})" if record.reason_code else ""),
        "agent": _agents(record, pattern, org_id, org_url or org_id),
        "source": {"site": org_id, "observer": _org(org_id), "type": [_coding(SOURCE_TYPE, "4", "Application Server")]},
    }
    meta: dict[str, Any] = {}
    if pattern == _EXPORT:
        meta["profile"] = [BALP + "PrivacyDisclosure.Source"]
    elif pattern == _IMPORT:
        meta["profile"] = [BALP + "PrivacyDisclosure.Recipient"]
    if record.flagged:
        meta["tag"] = [_coding(AUDIT_FLAG_SYSTEM, "review", "Ter beoordeling door de privacyfunctionaris")]
    if meta:
        event["meta"] = meta
    if record.purpose:
        event["purposeOfEvent"] = [_concept(_coding(PURPOSE_SYSTEM, record.purpose))]
    entities = _entities(record, pattern)
    if entities:
        event["entity"] = entities
    return event


def _agents(record: ev.AuditRecord, pattern: str, org_id: str, own_address: str) -> list[dict[str, Any]]:
    orgs = {org_id, record.peer_org, record.actor_org} - {""}
    peer = record.peer_org
    agents: list[dict[str, Any]] = []
    if pattern == _EXPORT:  # we are the source; the peer receives
        agents.append(_agent(DCM, "110153", "Source Role ID", _org(org_id), own_address))
        if peer:
            agents.append(_agent(DCM, "110152", "Destination Role ID", _org(peer), record.access_point or peer))
        custodian = _agent(SNOMED, "159541003", "Record keeping/library clerk", _org(org_id))
        custodian["type"]["coding"].append(_coding(PARTICIPATION, "CST", "custodian"))
        agents.append(custodian)
        user_type = (
            _coding(PARTICIPATION, "INF", "informant")
            if record.action == ev.SAFETY_DISCLOSURE_SENT
            else _coding(PARTICIPATION, "IRCP", "information recipient")
        )
    elif pattern == _IMPORT:  # the peer is the source; we receive
        if peer:
            agents.append(_agent(DCM, "110153", "Source Role ID", _org(peer), peer))
        agents.append(_agent(DCM, "110152", "Destination Role ID", _org(org_id), own_address))
        user_type = _coding(PARTICIPATION, "IRCP", "information recipient")
    else:
        agents.append(_agent(DCM, "110152", "Destination Role ID", _org(org_id), own_address))
        if peer and record.actor_org == peer:  # the partner called us
            agents.append(_agent(DCM, "110153", "Source Role ID", _org(peer), peer))
        reads = _PATTERNS[record.action][2] in ("R", "E")
        user_type = (
            _coding(PARTICIPATION, "IRCP", "information recipient") if reads else _coding(ROLE_CLASS, "AGNT", "agent")
        )
    user: dict[str, Any] = {"type": _concept(user_type), "who": _person(record.actor_id, orgs), "requestor": True}
    if record.actor_role:
        user["role"] = [{"text": record.actor_role}]
    if record.access_point:
        user["network"] = _network(record.access_point)
    agents.append(user)
    if record.on_behalf_of:
        agents.append(
            {"type": {"text": "namens (on behalf of)"}, "who": _person(record.on_behalf_of, orgs), "requestor": False}
        )
    return agents


def _agent(system: str, code: str, display: str, who: dict[str, Any], address: str | None = None) -> dict[str, Any]:
    agent: dict[str, Any] = {"type": _concept(_coding(system, code, display)), "who": who, "requestor": False}
    if address:
        agent["network"] = _network(address)
    return agent


def _entities(record: ev.AuditRecord, pattern: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if record.subject:
        out.append(
            {
                "what": {"identifier": {"system": BSN_SYSTEM, "value": record.subject}, "type": "Patient"},
                "type": _coding(ENTITY_TYPE, "1", "Person"),
                "role": _coding(OBJECT_ROLE, "1", "Patient"),
            }
        )
    if record.consent_id:
        what: dict[str, Any] = {"identifier": {"system": CONSENT_SYSTEM, "value": record.consent_id}, "type": "Consent"}
        if record.action in _LOCAL_CONSENT_ACTIONS and "/" not in record.consent_id:
            # a consent kept here is Consent/{id}; one at a partner ("issuer/id") has no
            # local Type/id, and its identifier already names it
            what["reference"] = f"Consent/{record.consent_id}"
        out.append({"what": what, "type": _coding(RESOURCE_TYPES, "Consent", "Consent")})
    if record.legal_ground:
        out.append(
            {
                "type": _coding(LEGAL_GROUND_SYSTEM, record.legal_ground),
                "name": "legal-ground",
                "description": record.legal_ground,
            }
        )
    details = _data_details(record)
    if pattern != _BASIC or details:
        data: dict[str, Any] = {
            "type": _coding(RESOURCE_TYPES, "Bundle", "Bundle"),
            "role": _coding(OBJECT_ROLE, "3", "Report"),
            "name": "summary",
        }
        if details:
            data["detail"] = details
        out.append(data)
    if record.exchange_id:
        out.append(
            {
                "what": {"identifier": {"system": EXCHANGE_ID_SYSTEM, "value": record.exchange_id}},
                "type": _coding(ENTITY_TYPE, "2", "System Object"),
                "name": "exchange-id",
            }
        )
    if record.peer_org and pattern == _BASIC and record.actor_org != record.peer_org:
        out.append({"what": _org(record.peer_org), "type": _coding(RESOURCE_TYPES, "Organization", "Organization")})
    detail = record.to_dict()["detail"]
    shown = [
        {
            "type": key,
            "valueString": value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True),
        }
        for key, value in sorted(detail.items())
        if value not in ("", None)
    ]
    if shown:
        out.append({"name": "detail", "detail": shown})
    return out


def _data_details(record: ev.AuditRecord) -> list[dict[str, str]]:
    pairs = [
        ("categories", " ".join(record.categories)),
        ("resource-types", " ".join(record.resource_types)),
        ("count", str(record.count) if record.count else ""),
        ("request-sha256", record.request_hash),
        ("response-sha256", record.response_hash),
        ("peer-request-sha256", record.peer_request_hash),
        ("peer-response-sha256", record.peer_response_hash),
    ]
    return [{"type": key, "valueString": value} for key, value in pairs if value]


def search_bundle(
    events: list[dict[str, Any]], total: int, self_url: str, *, next_url: str | None = None
) -> dict[str, Any]:
    """Wrap AuditEvents in a FHIR searchset Bundle (``total`` counts all matches, not a page)."""
    base = self_url.split("/AuditEvent", 1)[0] if "/AuditEvent" in self_url else ""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    entries = []
    for event in events:
        item: dict[str, Any] = {"resource": event, "search": {"mode": "match"}}
        if base:
            item["fullUrl"] = f"{base}/AuditEvent/{event['id']}"
        entries.append(item)
    return {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links, "entry": entries}


# --- CSV -------------------------------------------------------------------------------

CSV_COLUMNS: tuple[str, ...] = (
    "seq",
    "event_id",
    "recorded_at",
    "action",
    "action_label",
    "outcome",
    "actor_id",
    "actor_role",
    "actor_org",
    "on_behalf_of",
    "purpose",
    "access_point",
    "subject",
    "categories",
    "resource_types",
    "count",
    "consent_id",
    "legal_ground",
    "exchange_id",
    "peer_org",
    "reason_code",
    "flagged",
    "request_hash",
    "response_hash",
    "peer_request_hash",
    "peer_response_hash",
    "detail",
    "prev_hash",
    "hash",
)
"""The NEN 7513 columns of the CSV export, in order (the header line)."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    # A spreadsheet runs a cell that starts like a formula; a leading quote makes it text.
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_values(entry: StoredEntry) -> list[str]:
    record = entry.record
    values: dict[str, object] = {
        "seq": entry.seq,
        "event_id": entry.event_id,
        "recorded_at": entry.recorded_at,
        "action_label": record.label_nl,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
        "categories": " ".join(record.categories),
        "resource_types": " ".join(record.resource_types),
        "detail": rfc8785.dumps(record.to_dict()["detail"]).decode() if record.detail else "",
    }
    return [_cell(values[name] if name in values else getattr(record, name)) for name in CSV_COLUMNS]


def iter_csv(entries: Iterable[StoredEntry]) -> Iterator[str]:
    """Yield the CSV export line by line (header first), for streaming large exports."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    for entry in entries:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(_csv_values(entry))
        yield buffer.getvalue()


def to_csv(entries: Iterable[StoredEntry]) -> str:
    """Return the CSV export (RFC 4180, CRLF) with the fixed ``CSV_COLUMNS`` header."""
    return "".join(iter_csv(entries))
