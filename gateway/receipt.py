"""The consent receipt: a printable Dutch page for the person who gave consent."""

from __future__ import annotations

from html import escape
from typing import Any

from consent.model import Grant
from profiles import catalog

# one source: the CodeSystems' plain-language Dutch designations (profiles/codesystems)
_PURPOSE_NL = {code: catalog.explanation(catalog.PURPOSE_SYSTEM, code) for code in catalog.codes(catalog.PURPOSE_SYSTEM)}
_CATEGORY_NL = {code: catalog.explanation(catalog.SUMMARY_CATEGORY_SYSTEM, code) for code in catalog.category_order()}


def _orgs(ids: frozenset[str], own_id: str, own_name: str, names: dict[str, str]) -> str:
    # listed names from the directory (issue 15); a bilateral partner has only its org id
    return ", ".join(f"{own_name} ({o})" if o == own_id else (f"{names[o]} ({o})" if names.get(o, o) != o else o)
                     for o in sorted(ids))


def render(grant: Grant, status: str, org_name: str, partners: list[Any] | dict[str, str]) -> str:
    """The receipt for a consent (``permit``) or an objection (``deny``), in plain Dutch."""
    e = escape
    cats = "".join(f"<li>{e(_CATEGORY_NL.get(c, c))}</li>" for c in catalog.category_order() if c in grant.categories)
    state = "geldig" if status == "active" else "ingetrokken"
    names = partners if isinstance(partners, dict) else {}  # org id -> name (gateway.directory)
    holders = e(_orgs(grant.holders, grant.issuer, org_name, names))
    recipients = e(_orgs(grant.recipients, grant.issuer, org_name, names))
    if grant.decision == "deny":
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
    until = grant.end.strftime("%d-%m-%Y") if grant.end else f"u uw {word} intrekt"
    return f"""<!doctype html>
<html lang="nl"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:2em auto;line-height:1.5}}
h1{{font-size:1.4em}} .box{{border:1px solid #444;padding:1em}} @media print{{a{{color:black}}}}</style></head>
<body><h1>{title}</h1>
<p>{intro}</p>
<div class="box">
<p><strong>{what}:</strong></p><ul>{cats}</ul>
<p><strong>Door:</strong> {holders}</p>
<p><strong>Met:</strong> {recipients}</p>
<p><strong>Waarvoor:</strong> {e(_PURPOSE_NL.get(grant.purpose, grant.purpose))}</p>
<p><strong>Geldig van</strong> {grant.start.strftime("%d-%m-%Y")} <strong>tot</strong> {e(until)}</p>
<p><strong>Status:</strong> {state}</p>
<p><strong>Kenmerk:</strong> {e(grant.id)}</p>
</div>
<h2>Intrekken</h2>
<p>U kunt uw {word} altijd intrekken, zonder opgaaf van reden. Vraag het aan uw hulpverlener
bij {e(org_name)}. Vanaf dat moment {after}.</p>
<p>Wilt u weten wat er over u is gedeeld? Vraag dan om een overzicht (inzage volgens de AVG).</p>
</body></html>"""
