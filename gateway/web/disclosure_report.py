"""The person's disclosure overview as one printable page (AVG article 15, recht op inzage).

``audit.report`` selects and words the person's entries (the data); this renders them
with ``templates/documents/disclosure_report.html`` (Jinja, autoescaped): self-contained
HTML, no scripts, fonts or images, laid out to print on A4.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from audit.chain import StoredEntry
from audit.report import datetime_nl, disclosure_report_rows
from gateway.web import documents

__all__ = ["render"]


def render(
    entries: Iterable[StoredEntry],
    *,
    subject_bsn: str,
    org_name: str,
    now: datetime,
    partner_names: Mapping[str, str] | None = None,
    consents: Mapping[str, str] | None = None,
    phone: str = "",
    people: Mapping[str, str] | None = None,
) -> str:
    """Return the person's overview as escaped HTML (Dutch); ``ValueError`` on a naive ``now``
    or a malformed BSN."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    data = disclosure_report_rows(
        entries, subject_bsn=subject_bsn, partner_names=partner_names, consents=consents, people=people
    )
    return documents.render(
        "disclosure_report.html",
        data=data,
        org_name=org_name,
        phone=phone,
        bsn_tail=subject_bsn[-4:],
        drawn_up=datetime_nl(now),
    )
