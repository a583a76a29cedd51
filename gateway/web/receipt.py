"""The consent receipt: a printable Dutch page for the person who gave consent.

Rendered from ``templates/documents/receipt.html`` (Jinja, autoescaped); categories and
purpose in the CodeSystems' plain words (``catalog.explanation``).
"""

from __future__ import annotations

from datetime import date, datetime

from audit.report import MONTHS_NL, date_nl
from gateway.services.consents import Receipt
from gateway.web import documents
from profiles import catalog


def _day(value: date | datetime) -> str:
    """'3 december 2026': a moment on its Dutch day (``audit.report.date_nl``), a date as it is."""
    if isinstance(value, datetime):
        return date_nl(value)
    return f"{value.day} {MONTHS_NL[value.month - 1]} {value.year}"


def _orgs(ids: frozenset[str], names: dict[str, str]) -> str:
    return ", ".join(names.get(o, o) for o in sorted(ids))


def short_reference(cid: str) -> str:
    """The part of the consent's id a person reads out on the phone: 'A1B2-C3D4'."""
    head = cid.replace("-", "")[:8].upper()
    return f"{head[:4]}-{head[4:]}"


def render(receipt: Receipt) -> str:
    """The receipt for a consent (``permit``), an objection (``deny``) or a refusal, in B1 Dutch.

    The words are the template's (``templates/documents/receipt.html``) and the CodeSystems'
    plain-language designations (``catalog.explanation``); this only gathers the facts.
    """
    grant, status, facts, names = receipt.grant, receipt.status, receipt.facts, receipt.names
    if status == "rejected":
        kind = "rejected"
    elif grant.decision == "deny":
        kind = "objection"  # never reads as a consent: it withholds, it does not share
    else:
        kind = "findable" if grant.purpose == "findable" else "consent"
    state = {"active": "geldig", "rejected": "geweigerd"}.get(status, "ingetrokken")
    if status == "inactive" and facts.revoked_at is not None:
        state += f" op {_day(facts.revoked_at)}" + (f" door {facts.withdrawn_by}" if facts.withdrawn_by else "")
    recorder = facts.recorded_by if facts.recorded_by and ":" not in facts.recorded_by else "uw hulpverlener"
    return documents.render(
        "receipt.html",
        kind=kind,
        org_name=receipt.org_name,
        phone=receipt.phone,
        subject_name=facts.subject_name,
        subject_born=_day(facts.subject_born),
        grantors=facts.grantors,
        refused_by=facts.refused_by,
        categories=[
            catalog.explanation(catalog.SUMMARY_CATEGORY_SYSTEM, c)
            for c in catalog.category_order()
            if c in grant.categories
        ],
        holders=_orgs(grant.holders, names),
        recipients=_orgs(grant.recipients, names),
        purpose=catalog.explanation(catalog.PURPOSE_SYSTEM, grant.purpose),
        start=_day(grant.start),
        until=_day(grant.end) if grant.end else "",
        recorded_at=_day(facts.recorded_at),
        recorded_by=recorder,
        state=state,
        reference=short_reference(grant.id),
        consent_id=grant.id,
    )
