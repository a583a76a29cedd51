"""Turn a verified summary Bundle into plain Dutch sections for the page (nothing stored).

The Bundle was built by the holder through the profiles (contract section 5) and its
signature verified by ``services.exchange.request_summary`` (or by the inbox on receipt);
this only reads the allow-listed elements and labels them: signals, safety-plan steps, the
care team with contact details, parenting, care status, how the child is doing, which
measure applies since when, a handover's reason, advice and agreements, a crisis notice,
the shared analysis and the family's and a young person's plans. Section titles are the
CodeSystems' Dutch designations (``profiles.label``). Each summary names its source
organisation, the date, the consent it came under and the profile version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from audit.report import MONTHS_NL
from profiles import catalog

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def _labels(system: str, codes: Iterable[str], use: str = "display") -> Mapping[str, str]:
    """``{code: text}`` for the templates, read from the CodeSystems (``catalog.label``)."""
    return MappingProxyType({code: catalog.label(system, code, use=use) for code in codes})


# What the templates look codes up in: views of the CodeSystems' designations, no texts of their own.
TITLES = _labels(catalog.SUMMARY_CATEGORY_SYSTEM, catalog.category_order())
PURPOSE_TITLES = _labels(catalog.PURPOSE_SYSTEM, catalog.codes(catalog.PURPOSE_SYSTEM))
CATEGORIES_NL = _labels(catalog.SUMMARY_CATEGORY_SYSTEM, catalog.category_order(), "explanation")
PURPOSES_NL = _labels(catalog.PURPOSE_SYSTEM, catalog.codes(catalog.PURPOSE_SYSTEM), "explanation")
LEGAL_GROUNDS_NL = _labels(catalog.LEGAL_GROUND_SYSTEM, catalog.codes(catalog.LEGAL_GROUND_SYSTEM), "explanation")
REASONS_NL = _labels(catalog.REFUSAL_REASON_SYSTEM, catalog.codes(catalog.REFUSAL_REASON_SYSTEM), "explanation")
ORG_TYPES_NL = _labels(catalog.ORGANISATION_TYPE_SYSTEM, catalog.codes(catalog.ORGANISATION_TYPE_SYSTEM))
TELECOM_NL = _labels(catalog.CONTACT_POINT_SYSTEM, ("phone", "email", "sms", "url"))
PARTY_KINDS_NL = MappingProxyType(
    {
        code: label.lower()
        for code, label in _labels(catalog.PARTY_KIND_SYSTEM, catalog.codes(catalog.PARTY_KIND_SYSTEM)).items()
    }
)
_WITHHELD = "Er is een signaal vastgelegd; de tekst is niet gedeeld."  # a category without a line of its own

__all__ = [
    "CATEGORIES_NL",
    "LEGAL_GROUNDS_NL",
    "PURPOSES_NL",
    "PURPOSE_TITLES",
    "REASONS_NL",
    "TITLES",
    "Section",
    "Summary",
    "date_nl",
    "read_summary",
    "sections",
]


def date_nl(value: str | None, *, with_time: bool = False, seconds: bool = False) -> str:
    """'3 november 2026' (or with ', 10:00', or ', 10:00:07' with ``seconds``) from an ISO
    date or instant; '' when absent."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(AMSTERDAM)
    text = f"{moment.day} {MONTHS_NL[moment.month - 1]} {moment.year}"
    if not (with_time and len(value) > 10):
        return text
    return text + (f", {moment:%H:%M:%S}" if seconds else f", {moment:%H:%M}")


@dataclass
class Item:
    """One line of a section: a main text, its date, and sub-lines (steps, people, contacts)."""

    text: str
    when: str = ""
    lines: list[str] = field(default_factory=list)


@dataclass
class Section:
    category: str
    title: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Summary:
    source: str
    signed_at: str
    profile_version: str
    exchange_id: str
    consent_id: str
    purpose: str
    sections: list[Section]


def _category(resource: dict[str, Any]) -> str:
    for cat in resource.get("category") or []:
        for coding in cat.get("coding") or []:
            if coding.get("system") == catalog.SUMMARY_CATEGORY_SYSTEM:
                return str(coding.get("code"))
    return ""


def _observation(r: dict[str, Any], category: str) -> Item:
    when = date_nl(r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start"))
    if category == "care-status":
        codes = [c.get("code") for c in (r.get("valueCodeableConcept") or {}).get("coding") or []]
        known = catalog.codes(catalog.CARE_STATUS_SYSTEM)
        status = next((catalog.label(catalog.CARE_STATUS_SYSTEM, c) for c in codes if c in known), "Onbekend")
        who = [p.get("display") for p in r.get("performer") or [] if p.get("display")]
        return Item(status, when, [f"Bij: {w}" for w in who])
    if category == "legal-measure":
        return _measure(r)
    text = r.get("valueString") or (r.get("code") or {}).get("text")
    notes = [n["text"] for n in r.get("note") or [] if n.get("text") and n.get("text") != text]
    if not text and notes:  # a note written for a push, with nothing else
        text, notes = notes[0], notes[1:]
    withheld = catalog.has_label(catalog.SUMMARY_CATEGORY_SYSTEM, category, use="withheld")
    fallback = catalog.label(catalog.SUMMARY_CATEGORY_SYSTEM, category, use="withheld") if withheld else _WITHHELD
    return Item(text or fallback, when, notes)


def _measure(r: dict[str, Any]) -> Item:
    """Which measure applies, since when and until when: a code and its period, nothing else."""
    codes = [
        c.get("code")
        for c in (r.get("valueCodeableConcept") or {}).get("coding") or []
        if c.get("system") == catalog.LEGAL_MEASURE_SYSTEM
    ]
    name = catalog.label(catalog.LEGAL_MEASURE_SYSTEM, codes[0]) if codes else "Een maatregel (soort niet gedeeld)"
    period = r.get("effectivePeriod") or {}
    since = date_nl(period.get("start"))
    until = date_nl(period.get("end"))
    lines = [f"Tot en met {until}" if until else "Geen einddatum bekend"]
    return Item(name, f"sinds {since}" if since else "", lines)


def _careplan(r: dict[str, Any], category: str = "safety-plan") -> Item:
    head = r.get("title") or TITLES.get(category, TITLES["safety-plan"])
    lines = []
    if r.get("description"):
        lines.append(("Reden: " if category == "referral" else "") + r["description"])
    author = (r.get("author") or {}).get("display")
    if author and catalog.has_label(catalog.SUMMARY_CATEGORY_SYSTEM, category, use="author-role"):
        lines.append(f"{catalog.label(catalog.SUMMARY_CATEGORY_SYSTEM, category, use='author-role')}: {author}")
    step = "Afspraak" if category == "referral" else "Stap"
    for n, act in enumerate(r.get("activity") or [], 1):
        d = act.get("detail") or {}
        who = ", ".join(p["display"] for p in d.get("performer") or [] if p.get("display"))
        what = d.get("description") or d.get("scheduledString") or "(stap zonder gedeelde tekst)"
        lines.append(f"{step} {n}: {what}" + (f" (wie: {who})" if who else ""))
    for note in r.get("note") or []:
        if note.get("text"):
            lines.append(("Advies: " if category == "referral" else "Notitie: ") + note["text"])
    period = r.get("period") or {}
    return Item(head, date_nl(period.get("start")), lines)


def _careteam(r: dict[str, Any]) -> Item:
    lines = []
    for p in r.get("participant") or []:
        role = ", ".join(x["text"] for x in p.get("role") or [] if x.get("text"))
        member = (p.get("member") or {}).get("display") or "betrokkene"
        org = (p.get("onBehalfOf") or {}).get("display")
        lines.append((f"{role}: " if role else "") + member + (f" ({org})" if org else ""))
    for t in r.get("telecom") or []:
        if t.get("value"):
            kind = TELECOM_NL[t["system"]].lower() if t.get("system") in TELECOM_NL else t.get("system") or "contact"
            lines.append(f"Contact ({kind}): {t['value']}")
    return Item(r.get("name") or TITLES["care-team"], "", lines)


def read_summary(bundle: dict[str, Any], *, consent_id: str, purpose: str) -> Summary:
    """Sections in the profile's category order; empty sections say nothing was shared."""
    sig = bundle.get("signature") or {}
    source = ((sig.get("who") or {}).get("identifier") or {}).get("value") or "onbekend"
    profiles = (bundle.get("meta") or {}).get("profile") or []
    version = profiles[0].split("|")[-1] if profiles and "|" in profiles[0] else "onbekend"
    by_cat: dict[str, Section] = {}
    for entry in bundle.get("entry") or []:
        r = entry.get("resource") or {}
        cat = _category(r)
        section = by_cat.setdefault(cat, Section(cat, TITLES.get(cat, cat)))
        if r.get("resourceType") == "Observation":
            section.items.append(_observation(r, cat))
        elif r.get("resourceType") == "CarePlan":
            section.items.append(_careplan(r, cat))
        elif r.get("resourceType") == "CareTeam":
            section.items.append(_careteam(r))
    order = [c for c in catalog.category_order() if c in by_cat]
    return Summary(
        source=source,
        signed_at=date_nl(sig.get("when") or bundle.get("timestamp"), with_time=True),
        profile_version=version,
        exchange_id=str((bundle.get("identifier") or {}).get("value", "")),
        consent_id=consent_id,
        purpose=purpose,
        sections=[by_cat[c] for c in order],
    )


def empty_sections(summary: Summary, requested: list[str]) -> list[str]:
    """Titles of requested categories for which the holder had nothing to share."""
    have = {s.category for s in summary.sections}
    return [TITLES.get(c, c) for c in requested if c not in have]


def sections(bundle: dict[str, Any]) -> list[Section]:
    """The Dutch sections of a summary, without its provenance (the demo's and the inbox's view)."""
    return read_summary(bundle, consent_id="", purpose="").sections
