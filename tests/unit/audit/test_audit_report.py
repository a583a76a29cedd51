"""The person's disclosure overview (AVG article 15): theirs only, plain Dutch, escaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from audit_builders import (
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

from audit import events, report
from audit.events import AuditRecord
from contract.errors import REFUSAL_CODES

NOW = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
NAMES = {REQUESTER: "Jeugdzorg West", HOLDER: "GGZ Noord"}
CODESYSTEMS = Path(__file__).resolve().parents[3] / "profiles" / "codesystems"


def mixed_log() -> Log:
    log = Log()
    log.append(a_disclosure(subject=MOTHER))
    log.append(a_disclosure(subject=NEIGHBOUR, purpose="referral", consent_id="consent-77"))
    log.append(a_refusal(subject=MOTHER))
    log.append(a_refusal(subject=MOTHER, reason_code="purpose-mismatch"))
    log.append(a_receipt(subject=MOTHER))
    log.append(AuditRecord(action=events.SAFETY_DISCLOSURE_SENT, outcome=events.SUCCESS,
                           actor_id="uzi:900099999", subject=MOTHER, peer_org=REQUESTER,
                           legal_ground="meldcode", flagged=True, categories=("safety-plan",),
                           purpose="crisis-response"))
    log.append(AuditRecord(action=events.SUMMARY_REQUEST_FAILED, outcome=events.ERROR,
                           actor_id="uzi:900012345", subject=MOTHER, peer_org=HOLDER,
                           reason_code="partner-timeout"))
    log.append(AuditRecord(action=events.LOGIN, outcome=events.SUCCESS, actor_id="ehr-west"))
    log.append(a_disclosure(subject=CHILD))
    return log


def test_rows_list_exactly_the_subjects_disclosures() -> None:
    log = mixed_log()
    data = report.disclosure_report_rows(log.entries, subject_bsn=MOTHER, partner_names=NAMES)
    assert len(data.disclosed) == 2
    first, safety = data.disclosed
    assert first.organisation == "Jeugdzorg West"
    assert first.categories == (report.CATEGORIES_NL["signals"],
                                report.CATEGORIES_NL["safety-plan"])
    assert first.purpose == report.PURPOSES_NL["joint-safety-planning"]
    assert first.basis == "toestemming (kenmerk consent-42)"
    assert first.professional == "hulpverlener met UZI-nummer 900012345"
    assert first.when == "2 maart 2026, 09:01"  # Amsterdam time, CET in March
    assert safety.flagged and "meldcode" in safety.basis
    assert [line.organisation for line in data.received] == ["GGZ Noord"]
    assert len(data.refused) == 3
    assert [line.incoming for line in data.refused] == [True, True, False]
    assert data.refusal_summary()[0][2] == 1


def test_another_persons_disclosures_never_appear() -> None:
    log = mixed_log()
    page = report.disclosure_report(log.entries, subject_bsn=MOTHER, org_name="GGZ Noord",
                                    now=NOW, partner_names=NAMES)
    assert "consent-77" not in page and NEIGHBOUR not in page
    assert report.PURPOSES_NL["referral"] not in page
    child = report.disclosure_report_rows(log.entries, subject_bsn=CHILD)
    assert len(child.disclosed) == 1 and not child.refused and not child.received


def test_page_is_self_contained_dutch_and_printable() -> None:
    page = report.disclosure_report(mixed_log().entries, subject_bsn=MOTHER,
                                    org_name="GGZ Noord", now=NOW, partner_names=NAMES)
    assert page.startswith("<!DOCTYPE html>") and '<html lang="nl">' in page
    assert "Wat wij over u hebben gedeeld" in page and "artikel 15 AVG" in page
    assert "@media print" in page
    for external in ("<script", "<link", "<img", "http://", "https://", "src="):
        assert external not in page
    assert MOTHER not in page and "eindigend op 2333" in page
    assert "1 april 2026" in page
    assert "Gedeeld zonder uw toestemming" in page


def test_everything_on_the_page_is_escaped() -> None:
    log = Log()
    log.append(a_disclosure(actor_id="<script>alert(1)</script>", consent_id="c&<b>"))
    page = report.disclosure_report(log.entries, subject_bsn=MOTHER,
                                    org_name='<img src=x onerror="x">', now=NOW,
                                    partner_names={REQUESTER: "<b>West</b>"})
    assert "<script>" not in page and "<b>West" not in page and "<img" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;West&lt;/b&gt;" in page


def test_empty_overview_says_so() -> None:
    page = report.disclosure_report(a_log(8).entries, subject_bsn="222333444",
                                    org_name="GGZ Noord", now=NOW)
    assert "Wij hebben geen gegevens over u gedeeld." in page
    assert "Er zijn geen verzoeken over u geweigerd." in page


FULLWIDTH = "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19"


@pytest.mark.parametrize("bsn", ["12345678", FULLWIDTH, "", "1234567890"])
def test_malformed_bsn_is_refused(bsn: str) -> None:
    with pytest.raises(ValueError):
        report.disclosure_report_rows([], subject_bsn=bsn)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        report.disclosure_report([], subject_bsn=MOTHER, org_name="x", now=datetime(2026, 1, 1))  # noqa: DTZ001 - naive on purpose: refused


@pytest.mark.parametrize(("file", "table"), [
    ("summary-category.json", report.CATEGORIES_NL), ("purpose.json", report.PURPOSES_NL)])
def test_every_code_in_our_codesystems_has_plain_dutch_words(file: str,
                                                             table: dict[str, str]) -> None:
    path = CODESYSTEMS / file
    if not path.exists():
        pytest.skip(f"{file} not present")
    codes = {concept["code"] for concept in json.loads(path.read_text())["concept"]}
    assert codes <= set(table)


def test_every_refusal_code_has_plain_dutch_words() -> None:
    assert set(REFUSAL_CODES) <= set(report.REASONS_NL)
