"""The printable AVG overview a privacy officer hands to a person: self-contained, Dutch, escaped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audit import events
from audit.events import AuditRecord
from gateway.services.auditing import DisclosureReport
from gateway.web import disclosure_report
from gateway.web.security import style_hashes
from profiles import catalog
from tests.unit.audit.audit_builders import (
    CHILD,
    HOLDER,
    MOTHER,
    NEIGHBOUR,
    REQUESTER,
    Log,
    a_disclosure,
    a_log,
    a_receipt,
    a_refusal,
)

NOW = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
NAMES = {REQUESTER: "Jeugdzorg West", HOLDER: "GGZ Noord"}


def mixed_log() -> Log:
    log = Log()
    log.append(a_disclosure(subject=MOTHER))
    log.append(a_disclosure(subject=NEIGHBOUR, purpose="referral", consent_id="consent-77"))
    log.append(a_refusal(subject=MOTHER))
    log.append(a_refusal(subject=MOTHER, reason_code="purpose-mismatch"))
    log.append(a_receipt(subject=MOTHER))
    log.append(
        AuditRecord(
            action=events.SAFETY_DISCLOSURE_SENT,
            outcome=events.SUCCESS,
            actor_id="uzi:900099999",
            subject=MOTHER,
            peer_org=REQUESTER,
            legal_ground="meldcode",
            flagged=True,
            categories=("safety-plan",),
            purpose="crisis-response",
        )
    )
    log.append(a_disclosure(subject=CHILD))
    return log


def page(log: Log, **overrides: object) -> str:
    values: dict = {"subject_bsn": MOTHER, "org_name": "GGZ Noord", "now": NOW, "partner_names": NAMES}
    values.update(overrides)
    return disclosure_report.render(DisclosureReport(log.entries, **values))


def test_another_persons_disclosures_never_appear_on_the_page() -> None:
    html = page(mixed_log())
    assert "consent-77" not in html and NEIGHBOUR not in html and CHILD not in html
    assert catalog.explanation(catalog.PURPOSE_SYSTEM, "referral") not in html


def test_page_is_self_contained_dutch_and_printable() -> None:
    html = page(mixed_log())
    assert html.startswith("<!DOCTYPE html>") and '<html lang="nl">' in html
    assert "Wat wij over u hebben gedeeld" in html and "artikel 15 AVG" in html
    assert "@media print" in html
    for external in ("<script", "<link", "<img", "http://", "https://", "src="):
        assert external not in html
    assert MOTHER not in html and "eindigend op 2333" in html
    assert "Opgesteld op 1 april 2026, 12:00." in html  # Amsterdam time, CEST in April
    assert "Gedeeld zonder uw toestemming" in html


def test_the_page_words_codes_as_the_codesystems_do() -> None:
    html = page(mixed_log())
    assert "<li>" + catalog.explanation(catalog.SUMMARY_CATEGORY_SYSTEM, "signals") + "</li>" in html
    assert catalog.explanation(catalog.REFUSAL_REASON_SYSTEM, "purpose-mismatch") in html
    assert "de meldcode huiselijk geweld en kindermishandeling (zonder toestemming)" in html
    assert "Jeugdzorg West: 1 keer; reden:" in html


def test_everything_on_the_page_is_escaped() -> None:
    log = Log()
    log.append(a_disclosure(actor_id="<script>alert(1)</script>", consent_id="c&<b>"))
    html = page(log, org_name='<img src=x onerror="x">', partner_names={REQUESTER: "<b>West</b>"}, phone="<i>1</i>")
    assert "<script>" not in html and "<b>West" not in html and "<img" not in html and "<i>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;West&lt;/b&gt;" in html and "(telefoon &lt;i&gt;1&lt;/i&gt;)" in html


def test_empty_overview_says_so() -> None:
    html = page(a_log(8), subject_bsn="222333444")
    assert "Wij hebben geen gegevens over u gedeeld." in html
    assert "Wij hebben geen gegevens over u ontvangen." in html
    assert "Er zijn geen verzoeken over u geweigerd." in html


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        naive = datetime(2026, 1, 1)  # noqa: DTZ001 - naive on purpose: refused
        disclosure_report.render(DisclosureReport([], subject_bsn=MOTHER, org_name="x", now=naive))


def test_the_style_is_one_inline_block_the_csp_can_hash() -> None:

    assert len(style_hashes(page(mixed_log()))) == 1
