"""The person's disclosure overview (AVG article 15): theirs only, in plain Dutch (the page: tests/unit/gateway/web)."""

from __future__ import annotations

import pytest
from audit_builders import (
    CHILD,
    HOLDER,
    MOTHER,
    NEIGHBOUR,
    REQUESTER,
    Log,
    a_disclosure,
    a_receipt,
    a_refusal,
)

from audit import events, report
from audit.events import AuditRecord
from contract.errors import REFUSAL_CODES
from profiles import catalog

NAMES = {REQUESTER: "Jeugdzorg West", HOLDER: "GGZ Noord"}


def plain(system: str, code: str) -> str:
    return catalog.explanation(system, code)


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
    log.append(
        AuditRecord(
            action=events.SUMMARY_REQUEST_FAILED,
            outcome=events.ERROR,
            actor_id="uzi:900012345",
            subject=MOTHER,
            peer_org=HOLDER,
            reason_code="partner-timeout",
        )
    )
    log.append(AuditRecord(action=events.LOGIN, outcome=events.SUCCESS, actor_id="ehr-west"))
    log.append(a_disclosure(subject=CHILD))
    return log


def test_rows_list_exactly_the_subjects_disclosures() -> None:
    log = mixed_log()
    data = report.disclosure_report_rows(log.entries, subject_bsn=MOTHER, partner_names=NAMES)
    assert len(data.disclosed) == 2
    first, safety = data.disclosed
    assert first.organisation == "Jeugdzorg West"
    assert first.categories == (
        plain(catalog.SUMMARY_CATEGORY_SYSTEM, "signals"),
        plain(catalog.SUMMARY_CATEGORY_SYSTEM, "safety-plan"),
    )
    assert first.purpose == plain(catalog.PURPOSE_SYSTEM, "joint-safety-planning")
    assert first.basis == "toestemming (kenmerk consent-42)"
    assert first.professional == "hulpverlener met UZI-nummer 900012345"
    assert first.when == "2 maart 2026, 09:01"  # Amsterdam time, CET in March
    assert safety.flagged and "meldcode" in safety.basis
    assert [line.organisation for line in data.received] == ["GGZ Noord"]
    assert len(data.refused) == 3
    assert [line.incoming for line in data.refused] == [True, True, False]
    assert data.refusal_summary()[0][2] == 1


def test_another_persons_disclosures_never_appear() -> None:
    data = report.disclosure_report_rows(mixed_log().entries, subject_bsn=MOTHER, partner_names=NAMES)
    lines = data.disclosed + data.received
    assert all(line.basis != "toestemming (kenmerk consent-77)" for line in lines)
    assert plain(catalog.PURPOSE_SYSTEM, "referral") not in {line.purpose for line in lines}
    child = report.disclosure_report_rows(mixed_log().entries, subject_bsn=CHILD)
    assert len(child.disclosed) == 1 and not child.refused and not child.received


def test_a_safety_disclosure_names_its_legal_ground_in_plain_words() -> None:
    data = report.disclosure_report_rows(mixed_log().entries, subject_bsn=MOTHER, partner_names=NAMES)
    safety = data.disclosed[1]
    assert safety.basis == "de meldcode huiselijk geweld en kindermishandeling (zonder toestemming)"


def test_a_refusal_says_why_in_plain_words_and_a_strange_code_not_at_all() -> None:
    log = Log()
    log.append(a_refusal(subject=MOTHER, reason_code="purpose-mismatch"))
    log.append(a_refusal(subject=MOTHER, reason_code="from-a-newer-partner"))
    first, second = report.disclosure_report_rows(log.entries, subject_bsn=MOTHER).refused
    assert first.reason == "het doel viel buiten de toestemming"
    assert second.reason == "een andere reden"


FULLWIDTH = "\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19"


@pytest.mark.parametrize("bsn", ["12345678", FULLWIDTH, "", "1234567890"])
def test_malformed_bsn_is_refused(bsn: str) -> None:
    with pytest.raises(ValueError):
        report.disclosure_report_rows([], subject_bsn=bsn)


@pytest.mark.parametrize(
    "system",
    [
        catalog.SUMMARY_CATEGORY_SYSTEM,
        catalog.PURPOSE_SYSTEM,
        catalog.LEGAL_GROUND_SYSTEM,
        catalog.REFUSAL_REASON_SYSTEM,
    ],
)
def test_every_code_the_report_words_has_plain_dutch_words(system: str) -> None:
    for code in catalog.codes(system):
        assert catalog.has_label(system, code, use="explanation"), code


def test_every_refusal_code_has_plain_dutch_words() -> None:
    assert set(REFUSAL_CODES) <= set(catalog.codes(catalog.REFUSAL_REASON_SYSTEM))
    for code in REFUSAL_CODES:
        assert catalog.has_label(catalog.REFUSAL_REASON_SYSTEM, code, use="explanation"), code
