"""Flag partners that probe: many refused requests, above all for unknown subjects, in a day.

SECURITY.md, "Answers must not be oracles": the contract lets a holder answer
``subject-unknown`` (404) to a partner that asks about someone not in care there. A
partner that asks many times, for many people, under consents it issued itself, learns
who is in care at the holder. The answer cannot hide it, so the privacy officer must see
the pattern: per partner and per Dutch calendar day, the requests of that partner this
node refused, and how many of them were ``subject-unknown``. A day above either limit
(``[audit] probe_unknown_per_day``, ``probe_refusals_per_day``) is a flag.

Only what a partner asked counts (``actor_role`` "partner", the partner in ``peer_org``):
our own professionals' refused requests to others are not a partner probing us. Pure: the
caller reads the entries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from audit.chain import StoredEntry
from audit.events import SUCCESS
from consent.rules import DUTCH_TIME

SUBJECT_UNKNOWN = "subject-unknown"


@dataclass(frozen=True)
class Probe:
    """One partner's refused requests on one day, above a limit."""

    partner: str
    day: date
    unknown: int  # answered subject-unknown
    refusals: int  # refused for any reason (subject-unknown included)
    entries: tuple[StoredEntry, ...]


def dutch_day(recorded_at: str) -> date:
    """The Dutch calendar day of an entry's ``recorded_at`` (ISO-8601 UTC)."""
    return datetime.fromisoformat(recorded_at.replace("Z", "+00:00")).astimezone(DUTCH_TIME).date()


def counts_as_probe(entry: StoredEntry) -> bool:
    """A request from a partner that this node refused."""
    r = entry.record
    return r.actor_role == "partner" and bool(r.peer_org) and r.outcome != SUCCESS


def probes(
    entries: Iterable[StoredEntry], *, unknown_limit: int, refusal_limit: int, since: date | None = None
) -> list[Probe]:
    """Every (partner, day) with more than ``unknown_limit`` subject-unknown answers or more
    than ``refusal_limit`` refusals, newest day first; days before ``since`` are left out."""
    by_key: dict[tuple[str, date], list[StoredEntry]] = defaultdict(list)
    for e in entries:
        if counts_as_probe(e):
            day = dutch_day(e.recorded_at)
            if since is None or day >= since:
                by_key[(e.record.peer_org, day)].append(e)
    out = []
    for (partner, day), items in by_key.items():
        unknown = sum(1 for e in items if e.record.reason_code == SUBJECT_UNKNOWN)
        if unknown > unknown_limit or len(items) > refusal_limit:
            items.sort(key=lambda e: e.seq)
            out.append(Probe(partner, day, unknown, len(items), tuple(items)))
    out.sort(key=lambda p: (-p.day.toordinal(), p.partner))
    return out
