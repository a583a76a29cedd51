"""Tell a person, in plain Dutch, what this node disclosed about them (AVG article 15).

The basis for answering an access request (recht op inzage): every summary this node
disclosed about the person (date, to which organisation, which kinds of information,
for what purpose, on which consent or legal ground, which professional asked), every
summary it received about them from another organisation (the source, article 15(1)(g)),
and the refused requests, summarised. Only entries whose ``subject`` is the person's BSN
are read. Codes become the CodeSystems' plain-language Dutch designations
(``catalog.explanation``). This is the data; the printable page is the web layer's
(``gateway.web.disclosure_report``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from audit import events as ev
from audit.chain import StoredEntry
from profiles import catalog

_ID_KINDS = {kind: name for kind, (_, name) in ev.PRACTITIONER_ID_KINDS.items()}
MONTHS_NL = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip
_SENT = frozenset({ev.DISCLOSURE_SENT, ev.SAFETY_DISCLOSURE_SENT, ev.SUMMARY_PUSHED})
_RECEIVED = frozenset({ev.SUMMARY_RECEIVED, ev.SAFETY_DISCLOSURE_RECEIVED, ev.SUMMARY_PUSH_RECEIVED})
_REFUSALS = frozenset(
    {ev.DISCLOSURE_REFUSED, ev.SUMMARY_REQUEST_FAILED, ev.SUMMARY_PUSH_FAILED, ev.SUMMARY_PUSH_REFUSED}
)
_BSN = re.compile(r"[0-9]{9}")
_LOCAL: ZoneInfo | None
try:
    _LOCAL = ZoneInfo("Europe/Amsterdam")
except ZoneInfoNotFoundError:  # no tz database: say UTC rather than guess
    _LOCAL = None


@dataclass(frozen=True, slots=True)
class DisclosureLine:
    """One summary disclosed (or received), in the person's words."""

    when: str
    recorded_at: str
    organisation: str
    categories: tuple[str, ...]
    purpose: str
    basis: str
    professional: str
    flagged: bool


@dataclass(frozen=True, slots=True)
class RefusalLine:
    """One request that was refused or failed, and why."""

    when: str
    recorded_at: str
    organisation: str
    incoming: bool
    purpose: str
    reason: str
    professional: str


@dataclass(frozen=True, slots=True)
class ReportData:
    """What the page shows: disclosed, received and refused, each oldest first."""

    disclosed: tuple[DisclosureLine, ...]
    received: tuple[DisclosureLine, ...]
    refused: tuple[RefusalLine, ...]

    def refusal_summary(self) -> list[tuple[str, str, int]]:
        """Return (organisation, reason, times), most frequent first."""
        counts = Counter((line.organisation, line.reason) for line in self.refused)
        return [(org, reason, n) for (org, reason), n in counts.most_common()]


def disclosure_report_rows(
    entries: Iterable[StoredEntry],
    *,
    subject_bsn: str,
    partner_names: Mapping[str, str] | None = None,
    consents: Mapping[str, str] | None = None,
    people: Mapping[str, str] | None = None,
) -> ReportData:
    """Select and translate the person's entries; raise ValueError on a malformed BSN."""
    if not isinstance(subject_bsn, str) or not _BSN.fullmatch(subject_bsn):
        raise ValueError("subject_bsn must be nine ASCII digits")
    names = partner_names or {}
    staff = people or {}
    disclosed: list[DisclosureLine] = []
    received: list[DisclosureLine] = []
    refused: list[RefusalLine] = []
    ordered = sorted((e for e in entries if e.record.subject == subject_bsn), key=lambda e: (e.recorded_at, e.seq))
    for entry in ordered:
        record = entry.record
        org = names.get(record.peer_org, record.peer_org) or "onbekende organisatie"
        when = _when(entry.recorded_at)
        if record.action in _REFUSALS or (record.action in _SENT | _RECEIVED and record.outcome != ev.SUCCESS):
            incoming = record.action == ev.DISCLOSURE_REFUSED or record.action in _SENT
            refused.append(
                RefusalLine(
                    when,
                    entry.recorded_at,
                    org,
                    incoming,
                    _purpose(record.purpose),
                    _reason(record.reason_code),
                    _professional(record.actor_id, staff),
                )
            )
        elif record.action in _SENT or record.action in _RECEIVED:
            line = DisclosureLine(
                when,
                entry.recorded_at,
                org,
                tuple(catalog.explanation(catalog.SUMMARY_CATEGORY_SYSTEM, code) for code in record.categories),
                _purpose(record.purpose),
                _basis(record, consents or {}),
                _professional(record.actor_id, staff),
                record.flagged,
            )
            (disclosed if record.action in _SENT else received).append(line)
    return ReportData(tuple(disclosed), tuple(received), tuple(refused))


def _when(recorded_at: str) -> str:
    moment = datetime.fromisoformat(recorded_at.replace("Z", "+00:00"))
    return _date_nl(moment, with_time=True)


def _date_nl(moment: datetime, *, with_time: bool) -> str:
    local = moment.astimezone(_LOCAL or UTC)
    text = f"{local.day} {MONTHS_NL[local.month - 1]} {local.year}"
    if with_time:
        text += f", {local:%H:%M}" + ("" if _LOCAL else " (UTC)")
    return text


def _purpose(code: str) -> str:
    return catalog.explanation(catalog.PURPOSE_SYSTEM, code) if code else "niet vermeld"


def _reason(code: str) -> str:
    if not code:
        return "niet vermeld"
    if code not in catalog.codes(catalog.REFUSAL_REASON_SYSTEM):
        return "een andere reden"  # a newer partner's code: never shown raw to the person
    return catalog.explanation(catalog.REFUSAL_REASON_SYSTEM, code)


def date_nl(moment: datetime) -> str:
    """'3 december 2026' in Dutch time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _date_nl(moment, with_time=False)


def datetime_nl(moment: datetime) -> str:
    """'3 december 2026, 10:00' in Dutch time (an aware ``moment``)."""
    return _date_nl(moment, with_time=True)


def _basis(record: ev.AuditRecord, consents: Mapping[str, str]) -> str:
    if record.legal_ground in catalog.codes(catalog.LEGAL_GROUND_SYSTEM):
        return catalog.explanation(catalog.LEGAL_GROUND_SYSTEM, record.legal_ground)
    if record.consent_id in consents:
        return consents[record.consent_id]
    if record.consent_id:
        return f"toestemming (kenmerk {record.consent_id.rpartition('/')[2]})"
    return record.legal_ground or "niet vermeld"


def _professional(actor_id: str, staff: Mapping[str, str] | None = None) -> str:
    kind, _, number = actor_id.partition(":")
    name = (staff or {}).get(actor_id)
    if kind.lower() in _ID_KINDS and number:
        numbered = f"{_ID_KINDS[kind.lower()]} {number}"
        return f"{name} (hulpverlener, {numbered})" if name else f"hulpverlener met {numbered}"
    return name or actor_id
