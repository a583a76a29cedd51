"""Tell a person, in plain Dutch, what this node disclosed about them (AVG article 15).

The basis for answering an access request (recht op inzage): every summary this node
disclosed about the person (date, to which organisation, which kinds of information,
for what purpose, on which consent or legal ground, which professional asked), every
summary it received about them from another organisation (the source, article 15(1)(g)),
and the refused requests, summarised. Only entries whose ``subject`` is the person's BSN
are read. The page is self-contained HTML (no scripts, fonts or images), every value
escaped with ``html.escape``, and laid out to print on A4.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from audit import events as ev
from audit.chain import StoredEntry
from profiles import catalog

# one source: the CodeSystems' plain-language Dutch designations (profiles/codesystems)
CATEGORIES_NL: Mapping[str, str] = {
    code: catalog.explanation(catalog.SUMMARY_CATEGORY_SYSTEM, code) for code in catalog.category_order()}
PURPOSES_NL: Mapping[str, str] = {
    code: catalog.explanation(catalog.PURPOSE_SYSTEM, code) for code in catalog.codes(catalog.PURPOSE_SYSTEM)}
LEGAL_GROUNDS_NL: Mapping[str, str] = {
    "meldcode": "de meldcode huiselijk geweld en kindermishandeling (zonder toestemming)",
    "conflict-of-duties": "een conflict van plichten (zonder toestemming)",
}
REASONS_NL: Mapping[str, str] = {
    "unknown-partner": "de organisatie is geen vertrouwde partner",
    "bad-signature": "het bewijs van toestemming was niet echt of niet geldig",
    "token-expired": "het bewijs van toestemming was verlopen",
    "replay": "hetzelfde verzoek werd nog eens gedaan",
    "wrong-audience": "de toestemming gold niet voor deze organisatie",
    "consent-revoked": "de toestemming was ingetrokken",
    "purpose-mismatch": "het doel viel buiten de toestemming",
    "category-not-consented": "er werd om meer gevraagd dan waarvoor toestemming was",
    "not-shareable": "deze gegevens mogen voor dit doel niet gedeeld worden",
    "subject-unknown": "er kon geen overzicht gegeven worden",
    "consent-status-unavailable": "de toestemming kon niet worden gecontroleerd",
    "invalid-request": "het verzoek was onvolledig of onjuist",
    "grantee-mismatch": "de toestemming was aan een andere organisatie gegeven",
    "subject-mismatch": "het verzoek ging over een ander persoon dan de toestemming",
    "partner-unavailable": "de andere organisatie was niet bereikbaar",
    "partner-timeout": "de andere organisatie antwoordde niet op tijd",
    "bad-partner-signature": "het antwoord van de andere organisatie was niet te controleren",
    "store-unavailable": "een technische storing; er is niets gedeeld",
    "issuer-not-party": "de toestemming was vastgelegd door een organisatie die er geen partij bij was",
}
_ID_KINDS = {"uzi": "UZI-nummer", "agb": "AGB-code", "big": "BIG-nummer"}
_MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
           "september", "oktober", "november", "december")
_SENT = frozenset({ev.DISCLOSURE_SENT, ev.SAFETY_DISCLOSURE_SENT, ev.SUMMARY_PUSHED})
_RECEIVED = frozenset({ev.SUMMARY_RECEIVED, ev.SAFETY_DISCLOSURE_RECEIVED, ev.SUMMARY_PUSH_RECEIVED})
_REFUSALS = frozenset({ev.DISCLOSURE_REFUSED, ev.SUMMARY_REQUEST_FAILED, ev.SUMMARY_PUSH_FAILED,
                       ev.SUMMARY_PUSH_REFUSED})
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


def disclosure_report_rows(entries: Iterable[StoredEntry], *, subject_bsn: str,
                           partner_names: Mapping[str, str] | None = None,
                           consents: Mapping[str, str] | None = None,
                           people: Mapping[str, str] | None = None) -> ReportData:
    """Select and translate the person's entries; raise ValueError on a malformed BSN."""
    if not isinstance(subject_bsn, str) or not _BSN.fullmatch(subject_bsn):
        raise ValueError("subject_bsn must be nine ASCII digits")
    names = partner_names or {}
    staff = people or {}
    disclosed: list[DisclosureLine] = []
    received: list[DisclosureLine] = []
    refused: list[RefusalLine] = []
    ordered = sorted((e for e in entries if e.record.subject == subject_bsn),
                     key=lambda e: (e.recorded_at, e.seq))
    for entry in ordered:
        record = entry.record
        org = names.get(record.peer_org, record.peer_org) or "onbekende organisatie"
        when = _when(entry.recorded_at)
        if record.action in _REFUSALS or (record.action in _SENT | _RECEIVED
                                          and record.outcome != ev.SUCCESS):
            incoming = record.action == ev.DISCLOSURE_REFUSED or record.action in _SENT
            refused.append(RefusalLine(
                when, entry.recorded_at, org, incoming, _purpose(record.purpose),
                _reason(record.reason_code), _professional(record.actor_id, staff)))
        elif record.action in _SENT or record.action in _RECEIVED:
            line = DisclosureLine(
                when, entry.recorded_at, org,
                tuple(CATEGORIES_NL.get(code, code) for code in record.categories),
                _purpose(record.purpose), _basis(record, consents or {}), _professional(record.actor_id, staff),
                record.flagged)
            (disclosed if record.action in _SENT else received).append(line)
    return ReportData(tuple(disclosed), tuple(received), tuple(refused))


def _when(recorded_at: str) -> str:
    moment = datetime.fromisoformat(recorded_at.replace("Z", "+00:00"))
    return _date_nl(moment, with_time=True)


def _date_nl(moment: datetime, *, with_time: bool) -> str:
    local = moment.astimezone(_LOCAL or UTC)
    text = f"{local.day} {_MONTHS[local.month - 1]} {local.year}"
    if with_time:
        text += f", {local:%H:%M}" + ("" if _LOCAL else " (UTC)")
    return text


def _purpose(code: str) -> str:
    return PURPOSES_NL.get(code, code) if code else "niet vermeld"


def _reason(code: str) -> str:
    return REASONS_NL.get(code, "een andere reden") if code else "niet vermeld"


def date_nl(moment: datetime) -> str:
    """'3 december 2026' in Dutch time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _date_nl(moment, with_time=False)


def _basis(record: ev.AuditRecord, consents: Mapping[str, str]) -> str:
    if record.legal_ground in LEGAL_GROUNDS_NL:
        return LEGAL_GROUNDS_NL[record.legal_ground]
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


# --- the page --------------------------------------------------------------------------

_CSS = """
body { font-family: Georgia, 'Times New Roman', serif; max-width: 48rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #111; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.95rem; }
th, td { border: 1px solid #999; padding: 0.35rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #eee; }
.flag { font-weight: bold; }
.small { font-size: 0.85rem; color: #333; }
@media print { body { margin: 0; max-width: none; font-size: 10.5pt; }
               tr { page-break-inside: avoid; } h2 { page-break-after: avoid; } }
"""


def disclosure_report(entries: Iterable[StoredEntry], *, subject_bsn: str, org_name: str,
                      now: datetime, partner_names: Mapping[str, str] | None = None,
                      consents: Mapping[str, str] | None = None, phone: str = "",
                      people: Mapping[str, str] | None = None) -> str:
    """Return the person's disclosure overview as one printable, escaped HTML page (Dutch)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    data = disclosure_report_rows(entries, subject_bsn=subject_bsn,
                                  partner_names=partner_names, consents=consents, people=people)
    e = html.escape
    org = e(org_name)
    parts = [
        "<!DOCTYPE html>", '<html lang="nl">', "<head>", '<meta charset="utf-8">',
        f"<title>Overzicht van gedeelde gegevens - {org}</title>",
        f"<style>{_CSS}</style>", "</head>", "<body>",
        "<h1>Overzicht van gedeelde gegevens</h1>",
        f"<p>Dit overzicht laat zien welke gegevens {org} over u heeft gedeeld met andere "
        "organisaties, welke gegevens wij over u hebben ontvangen, en welke verzoeken zijn "
        "geweigerd. U heeft recht op dit overzicht (artikel 15 AVG, recht op inzage). "
        "Het overzicht noemt wat er is gedeeld, niet de inhoud zelf.</p>",
        f'<p class="small">Burgerservicenummer eindigend op {e(subject_bsn[-4:])}. '
        f"Opgesteld op {e(_date_nl(now, with_time=True))}.</p>",
        "<h2>Wat wij over u hebben gedeeld</h2>",
        _disclosure_table(data.disclosed, "Aan organisatie", "Betrokken hulpverlener",
                          "Wij hebben geen gegevens over u gedeeld."),
        "<h2>Wat wij over u hebben ontvangen</h2>",
        _disclosure_table(data.received, "Van organisatie", "Opgevraagd door",
                          "Wij hebben geen gegevens over u ontvangen."),
        "<h2>Verzoeken die zijn geweigerd of mislukt</h2>",
        _refusals(data),
        "<h2>Vragen?</h2>",
        f"<p>Klopt er iets niet, of wilt u meer weten? Neem contact op met de "
        f"functionaris gegevensbescherming van {org}"
        + (f" (telefoon {e(phone)})" if phone else "")
        + ". U mag ook een klacht indienen bij de Autoriteit Persoonsgegevens.</p>",
        "</body>", "</html>",
    ]
    return "\n".join(parts) + "\n"


def _disclosure_table(lines: tuple[DisclosureLine, ...], org_header: str, who_header: str,
                      empty: str) -> str:
    if not lines:
        return f"<p>{html.escape(empty)}</p>"
    e = html.escape
    rows = [f"<tr><th>Datum</th><th>{e(org_header)}</th><th>Welke gegevens</th>"
            f"<th>Waarvoor</th><th>Op grond van</th><th>{e(who_header)}</th></tr>"]
    for line in lines:
        kinds = "".join(f"<li>{e(kind)}</li>" for kind in line.categories) or "<li>-</li>"
        basis = e(line.basis)
        if line.flagged:
            basis += ('<br><span class="flag">Gedeeld zonder uw toestemming; de '
                      "functionaris gegevensbescherming beoordeelt dit.</span>")
        rows.append(f"<tr><td>{e(line.when)}</td><td>{e(line.organisation)}</td>"
                    f"<td><ul>{kinds}</ul></td><td>{e(line.purpose)}</td><td>{basis}</td>"
                    f"<td>{e(line.professional)}</td></tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _refusals(data: ReportData) -> str:
    if not data.refused:
        return "<p>Er zijn geen verzoeken over u geweigerd.</p>"
    e = html.escape
    summary = "".join(
        f"<li>{e(org)}: {n} keer; reden: {e(reason)}.</li>"
        for org, reason, n in data.refusal_summary())
    rows = ["<tr><th>Datum</th><th>Organisatie</th><th>Richting</th><th>Waarvoor</th>"
            "<th>Reden</th></tr>"]
    for line in data.refused:
        direction = ("verzoek aan ons, door ons geweigerd" if line.incoming
                     else "ons verzoek, door de ander geweigerd of mislukt")
        rows.append(f"<tr><td>{e(line.when)}</td><td>{e(line.organisation)}</td>"
                    f"<td>{e(direction)}</td><td>{e(line.purpose)}</td>"
                    f"<td>{e(line.reason)}</td></tr>")
    return (f"<ul>{summary}</ul>\n<table>\n" + "\n".join(rows) + "\n</table>")
