"""The consent receipt: a printable Dutch page for the person who gave consent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from zoneinfo import ZoneInfo

from consent.model import Grant
from profiles import catalog

# one source: the CodeSystems' plain-language Dutch designations (profiles/codesystems)
_PURPOSE_NL = {code: catalog.explanation(catalog.PURPOSE_SYSTEM, code) for code in catalog.codes(catalog.PURPOSE_SYSTEM)}
_CATEGORY_NL = {code: catalog.explanation(catalog.SUMMARY_CATEGORY_SYSTEM, code) for code in catalog.category_order()}


_AMSTERDAM = ZoneInfo("Europe/Amsterdam")
_MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
           "oktober", "november", "december")


@dataclass(frozen=True)
class ReceiptFacts:
    """What the register knows around a consent: about whom, who agreed, who recorded it."""

    subject_name: str
    subject_born: date
    grantors: tuple[str, ...]
    refused_by: tuple[str, ...]
    recorded_at: datetime
    recorded_by: str
    revoked_at: datetime | None = None
    withdrawn_by: str = ""


def _day(value: date | datetime) -> str:
    if isinstance(value, datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))).astimezone(_AMSTERDAM).date()
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def _orgs(ids: frozenset[str], names: dict[str, str]) -> str:
    return ", ".join(names.get(o, o) for o in sorted(ids))


def short_reference(cid: str) -> str:
    """The part of the consent's id a person reads out on the phone: 'A1B2-C3D4'."""
    head = cid.replace("-", "")[:8].upper()
    return f"{head[:4]}-{head[4:]}"


def render(grant: Grant, status: str, org_name: str, names: dict[str, str], facts: ReceiptFacts,
           phone: str = "") -> str:
    """The receipt for a consent (``permit``), an objection (``deny``) or a refusal, in B1 Dutch."""
    e = escape
    cats = "".join(f"<li>{e(_CATEGORY_NL.get(c, c))}</li>" for c in catalog.category_order() if c in grant.categories)
    holders, recipients = e(_orgs(grant.holders, names)), e(_orgs(grant.recipients, names))
    if status == "rejected":
        title, word = "Bewijs van een weigering", "weigering"
        intro = ("Er is <strong>geen toestemming</strong> gegeven. De gegevens hieronder worden <strong>niet</strong> "
                 "gedeeld.")
        what, after = "Wat niet wordt gedeeld", ""
    elif grant.decision == "deny":
        # an objection must never read as a consent: it withholds, it does not share
        title, word = "Bewijs van uw bezwaar", "bezwaar"
        intro = ("U heeft <strong>bezwaar</strong> gemaakt: de gegevens hieronder worden <strong>niet</strong> "
                 "gedeeld, ook niet als er eerder toestemming voor was.")
        what, after = "Wat niet wordt gedeeld", "telt uw bezwaar niet meer"
    elif grant.purpose == "findable":
        # contract section 8: nothing is shared but the fact that we are involved (B1 Dutch)
        title, word = "Bewijs van uw toestemming om vindbaar te zijn", "toestemming"
        intro = ("U geeft toestemming: andere hulpverleners mogen zien dat wij bij u betrokken zijn, en hoe zij "
                 "ons bereiken. Wij delen <strong>geen</strong> gegevens over u: geen verslag, geen diagnose, "
                 "geen samenvatting.")
        what, after = "Wat andere hulpverleners kunnen zien", "kan geen andere hulpverlener u meer bij ons vinden"
        recipients = "andere hulpverleners die met ons samenwerken en naar u zoeken"
    else:
        title, word = "Bewijs van uw toestemming", "toestemming"
        intro = ("U heeft toestemming gegeven om een <strong>beperkte samenvatting</strong> te delen. Er wordt "
                 "nooit een diagnose, medicatie of behandelverslag gedeeld.")
        what, after = "Wat wordt gedeeld", "wordt er niets meer gedeeld"
    state = {"active": "geldig", "rejected": "geweigerd"}.get(status, "ingetrokken")
    if status == "inactive" and facts.revoked_at is not None:
        state += f" op {_day(facts.revoked_at)}" + (f" door {e(facts.withdrawn_by)}" if facts.withdrawn_by else "")
    until = _day(grant.end) if grant.end else f"u uw {word} intrekt"
    who_agreed = "".join(f"<li>{e(n)}</li>" for n in facts.grantors) or "<li>niemand</li>"
    refused = ("<p><strong>Geweigerd door:</strong></p><ul>" + "".join(f"<li>{e(n)}</li>" for n in facts.refused_by)
               + "</ul>") if facts.refused_by else ""
    recorder = facts.recorded_by if facts.recorded_by and ":" not in facts.recorded_by else "uw hulpverlener"
    call = (f"Bel {e(org_name)}: <strong>{e(phone)}</strong>, of vraag het aan uw hulpverlener."
            if phone else f"Vraag het aan uw hulpverlener bij {e(org_name)}.")
    withdraw = "" if status == "rejected" else f"""<h2>Intrekken</h2>
<p>U kunt uw {word} altijd intrekken. U hoeft niet te zeggen waarom. {call}
Noem dan het kenmerk hierboven. Vanaf dat moment {after}.</p>"""
    change = ("<p>Verandert u van gedachten? Dan kan er alsnog toestemming worden vastgelegd. " + call + "</p>"
              if status == "rejected" else "")
    return f"""<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;line-height:1.5}}
h1{{font-size:1.4em}} .box{{border:1px solid #444;padding:1em}} .small{{font-size:.85em;color:#333}}
@media print{{a{{color:black}}}}</style></head>
<body><h1>{title}</h1>
<p>{intro}</p>
<div class="box">
<p><strong>Over wie:</strong> {e(facts.subject_name)}, geboren {_day(facts.subject_born)}</p>
<p><strong>Wie gaf toestemming:</strong></p><ul>{who_agreed}</ul>
{refused}
<p><strong>{what}:</strong></p><ul>{cats}</ul>
<p><strong>Door:</strong> {holders}</p>
<p><strong>Met:</strong> {recipients}</p>
<p><strong>Waarvoor:</strong> {e(_PURPOSE_NL.get(grant.purpose, grant.purpose))}</p>
<p><strong>Geldig van</strong> {_day(grant.start)} <strong>tot</strong> {e(until)}</p>
<p><strong>Vastgelegd op</strong> {_day(facts.recorded_at)} door {e(recorder)} ({e(org_name)})</p>
<p><strong>Status:</strong> {state}</p>
<p><strong>Kenmerk:</strong> {short_reference(grant.id)} <span class="small">(volledig: {e(grant.id)})</span></p>
</div>
{withdraw}
{change}
<h2>Vragen</h2>
<p>Wilt u weten wat er over u is gedeeld? Vraag dan om een overzicht (inzage volgens de AVG).
{call}</p>
</body></html>"""
