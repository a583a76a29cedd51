"""The privacy officer's audit timeline and review flags (NEN 7513: make review easy).

``search`` reads the chained entries with the filters of the page (person, professional,
partner, purpose, outcome, period) and, like ``services.auditing.search``, appends the
read itself to the log before anything is shown. ``flags`` picks what a reviewer must look
at first: every safety disclosure (always flagged), replayed or forged tokens (reason
codes ``replay``, ``bad-signature``, ``bad-partner-signature``), partners that probe (more
``subject-unknown`` answers or refusals in one day than ``[audit] probe_*_per_day``,
``audit.probing``), and bursts of refusals (``BURST`` or more refused requests from
one organisation or professional within ``BURST_WINDOW``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from audit import events
from audit.chain import StoredEntry
from gateway.node import Node
from gateway.repositories import audit_log
from gateway.services import probing

MAX_ROWS = 500
SCAN_ROWS = 20_000  # entries read for one page at most (filters the store cannot apply run on these)
FORGERY_CODES = frozenset({"replay", "bad-signature", "bad-partner-signature"})
REFUSAL_ACTIONS = frozenset(
    {events.DISCLOSURE_REFUSED, events.SUMMARY_REQUEST_FAILED, events.CONSENT_REFUSED, events.LOGIN_FAILED}
)
BURST = 5
BURST_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Filters:
    subject: str = ""
    agent: str = ""
    partner: str = ""
    purpose: str = ""
    outcome: str = ""
    since: date | None = None
    until: date | None = None

    def describe(self) -> dict[str, str]:
        """The filters for the audit detail (the BSN goes in the record's subject column)."""
        out = {k: str(v) for k, v in self.__dict__.items() if v and k != "subject"}
        if self.subject:
            out["subject"] = "bsn"
        return out


def _at(entry: StoredEntry) -> datetime:
    return datetime.fromisoformat(entry.recorded_at.replace("Z", "+00:00"))


def search(node: Node, f: Filters, actor: audit_log.Actor) -> tuple[list[StoredEntry], bool]:
    """Entries matching ``f``, newest first, and whether the list was cut at ``MAX_ROWS``."""
    with node.uow() as uow:
        rows = uow.audit.entries(
            subject=f.subject or None,
            agent=f.agent or None,
            purpose=f.purpose or None,
            outcome=f.outcome or None,
            since=f.since.isoformat() if f.since else None,
            until=(f.until + timedelta(days=1)).isoformat() if f.until else None,
            limit=SCAN_ROWS if f.partner else MAX_ROWS + 1,
        )
        found = [e for e in rows if not f.partner or e.record.peer_org == f.partner]
        uow.audit.append(
            node,
            events.AuditRecord(
                action=events.AUDIT_READ,
                outcome=events.SUCCESS,
                count=min(len(found), MAX_ROWS),
                subject=f.subject,
                **audit_log.fields(actor),
                detail={"filters": f.describe(), "view": "timeline"},
            ),
        )
        uow.commit()
    return found[:MAX_ROWS], len(found) > MAX_ROWS


@dataclass
class Flag:
    kind: str  # safety | forgery | probing | burst
    title: str
    entries: list[StoredEntry] = field(default_factory=list)


def flags(node: Node, actor: audit_log.Actor, since: date) -> list[Flag]:
    """What to review first since ``since``; the read is audited."""
    with node.uow() as uow:
        rows = uow.audit.entries(since=since.isoformat(), limit=SCAN_ROWS)
        probes = probing.flags_in(node, probing.refused_since(uow.audit, since), since)
        uow.audit.append(
            node,
            events.AuditRecord(
                action=events.AUDIT_READ,
                outcome=events.SUCCESS,
                count=len(rows),
                **audit_log.fields(actor),
                detail={"view": "flags", "since": since.isoformat()},
            ),
        )
        uow.commit()
    out: list[Flag] = []
    safety = [e for e in rows if e.record.action in events.SAFETY_ACTIONS or e.record.flagged]
    if safety:
        out.append(Flag("safety", "Verstrekkingen zonder toestemming (meldcode of conflict van plichten)", safety))
    forged = [e for e in rows if e.record.reason_code in FORGERY_CODES]
    if forged:
        out.append(Flag("forgery", "Herhaalde of vervalste tokens en handtekeningen", forged))
    out.extend(_probing(node, probes))
    out.extend(_bursts(rows))
    return out


def _probing(node: Node, probes: list[Any]) -> list[Flag]:
    a = node.config.audit
    return [
        Flag(
            "probing",
            (
                f"Mogelijk aftasten door {p.partner} op {p.day.strftime('%d-%m-%Y')}: "
                f"{p.unknown} keer 'persoon hier niet bekend', {p.refusals} weigeringen in totaal "
                f"(signaal bij meer dan {a.probe_unknown_per_day} of {a.probe_refusals_per_day} "
                "per dag)"
            ),
            list(p.entries),
        )
        for p in probes
    ]


def _bursts(rows: list[StoredEntry]) -> list[Flag]:
    by_who: dict[str, list[StoredEntry]] = defaultdict(list)
    for e in rows:
        if e.record.outcome != events.SUCCESS and e.record.action in REFUSAL_ACTIONS:
            by_who[e.record.peer_org or e.record.actor_id].append(e)
    out = []
    for who, items in sorted(by_who.items()):
        items.sort(key=lambda e: e.seq)
        start = 0
        best: list[StoredEntry] = []
        for end in range(len(items)):
            while _at(items[end]) - _at(items[start]) > BURST_WINDOW:
                start += 1
            if end - start + 1 > len(best):
                best = items[start : end + 1]
        if len(best) >= BURST:
            out.append(
                Flag(
                    "burst",
                    f"{len(best)} geweigerde verzoeken binnen {BURST_WINDOW.seconds // 60} minuten van {who}",
                    best,
                )
            )
    return out
