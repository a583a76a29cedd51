"""The person's disclosure overview as one printable page (AVG article 15, recht op inzage).

``gateway.services.auditing.disclosure_report`` gathers the person's entries and names
(``DisclosureReport``), ``audit.report`` selects and words them; this renders them with ``templates/documents/disclosure_report.html`` (Jinja, autoescaped): self-contained
HTML, no scripts, fonts or images, laid out to print on A4.
"""

from __future__ import annotations

from audit.report import datetime_nl, disclosure_report_rows
from gateway.services.auditing import DisclosureReport
from gateway.web import documents

__all__ = ["render"]


def render(report: DisclosureReport) -> str:
    """Return the person's overview as escaped HTML (Dutch); ``ValueError`` on a naive ``now``
    or a malformed BSN."""
    if report.now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    data = disclosure_report_rows(
        report.entries,
        subject_bsn=report.subject_bsn,
        partner_names=report.partner_names,
        consents=report.consents,
        people=report.people,
    )
    return documents.render(
        "disclosure_report.html",
        data=data,
        org_name=report.org_name,
        phone=report.phone,
        bsn_tail=report.subject_bsn[-4:],
        drawn_up=datetime_nl(report.now),
    )
