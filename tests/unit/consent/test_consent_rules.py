"""Who may consent, as professionals meet it (contract section 6)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from consent_builders import (
    CERTIFIED_INSTITUTION,
    CHILD,
    FATHER,
    MENTAL_HEALTH,
    MOTHER,
    SAFE_HOME,
    TODAY,
    VOOGD,
    YOUTH_CARE,
    a_child,
    a_family,
    a_grant,
    born_years_before,
    father,
    key,
    mother,
)
from hypothesis import given
from hypothesis import strategies as st

from consent import rules
from consent.model import Subject
from consent.rules import (
    age_on,
    check_grantors,
    day_end,
    day_of,
    denied_categories,
    effective_decision,
    honoured,
    renewal_reasons,
    required_grantors,
)
from contract.errors import GrantorsInsufficient

D = datetime.date
NONE: frozenset[str] = frozenset()


@pytest.mark.parametrize(
    ("born", "day", "age"),
    [
        (D(2013, 6, 16), D(2025, 6, 15), 11),  # the day before the 12th birthday
        (D(2013, 6, 15), D(2025, 6, 15), 12),  # the 12th birthday itself
        (D(2009, 6, 16), D(2025, 6, 15), 15),
        (D(2009, 6, 15), D(2025, 6, 15), 16),
        (D(2012, 2, 29), D(2024, 2, 28), 11),  # leap-day child, leap year
        (D(2012, 2, 29), D(2024, 2, 29), 12),
        (D(2012, 2, 29), D(2025, 2, 28), 12),  # non-leap year: not yet 13 on 28 Feb
        (D(2012, 2, 29), D(2025, 3, 1), 13),  # ... but on 1 March
        (D(2008, 2, 29), D(2026, 2, 28), 17),
        (D(2008, 2, 29), D(2026, 3, 1), 18),
        (D(2025, 6, 15), D(2025, 6, 15), 0),
    ],
)
def test_age_counts_whole_years_with_leap_day_births_ageing_on_1_march(
    born: datetime.date, day: datetime.date, age: int
) -> None:
    assert age_on(born, day) == age


JOINT = frozenset({key(MOTHER), key(FATHER)})


@pytest.mark.parametrize(
    ("years", "days", "custody", "required"),
    [
        # the day before the 12th birthday: parents alone
        (12, 1, "joint", JOINT),
        # the 12th birthday: the child joins in
        (12, 0, "joint", JOINT | {key(CHILD)}),
        (15, 0, "joint", JOINT | {key(CHILD)}),
        # the day before the 16th birthday: still the parents too
        (16, 1, "joint", JOINT | {key(CHILD)}),
        # the 16th birthday: the young person alone
        (16, 0, "joint", frozenset({key(CHILD)})),
        (17, 0, "none", frozenset({key(CHILD)})),
        # split custody: only the parent with gezag counts
        (8, 0, "split", frozenset({key(MOTHER)})),
        (13, 0, "split", frozenset({key(MOTHER), key(CHILD)})),
        (5, 0, "single", frozenset({key(MOTHER)})),
        (14, 0, "voogd", frozenset({key(VOOGD), key(CHILD)})),
        (9, 0, "institution", frozenset({CERTIFIED_INSTITUTION})),
    ],
)
def test_required_grantors_follow_age_and_custody(
    years: int, days: int, custody: str, required: frozenset[str]
) -> None:
    child = a_child(born_years_before(years, days=days))
    assert required_grantors(child, a_family(custody), TODAY) == required


def test_twelfth_birthday_of_a_leap_day_child_in_a_leap_year() -> None:
    child = a_child(D(2012, 2, 29))
    assert key(CHILD) not in required_grantors(child, a_family(), D(2024, 2, 28))
    assert key(CHILD) in required_grantors(child, a_family(), D(2024, 2, 29))


def test_both_parents_with_gezag_agree_for_a_seven_year_old() -> None:
    child = a_child(born_years_before(7))
    check_grantors(child, a_family("joint"), JOINT, NONE, TODAY)


def test_one_parent_with_gezag_refuses_so_there_is_no_consent() -> None:
    child = a_child(born_years_before(7))
    with pytest.raises(GrantorsInsufficient) as refused:
        check_grantors(child, a_family("joint"), frozenset({key(MOTHER)}), frozenset({key(FATHER)}), TODAY)
    assert refused.value.code == "grantors-insufficient"
    assert "geweigerd door ouder met gezag Pieter de Vries" in refused.value.detail


def test_a_13_year_old_agreed_but_one_parent_is_missing() -> None:
    child = a_child(born_years_before(13))
    with pytest.raises(GrantorsInsufficient) as refused:
        check_grantors(child, a_family("joint"), frozenset({key(CHILD), key(MOTHER)}), NONE, TODAY)
    detail = refused.value.detail
    assert detail.startswith("Toestemming ontbreekt van: ouder met gezag Pieter de Vries")
    assert f"bsn:…{FATHER[-3:]}" in detail
    assert FATHER not in detail  # error details end up in logs: no full BSN
    assert "Anna" not in detail


def test_a_13_year_old_not_asked_is_named_as_missing() -> None:
    child = a_child(born_years_before(13))
    with pytest.raises(GrantorsInsufficient) as refused:
        check_grantors(child, a_family("joint"), JOINT, NONE, TODAY)
    assert "de jongere zelf (12-15 jaar)" in refused.value.detail


def test_an_8_year_old_named_as_grantor_is_not_called_a_12_to_15_year_old() -> None:
    child = a_child(born_years_before(8))
    with pytest.raises(GrantorsInsufficient) as refused:
        check_grantors(child, a_family("joint"), JOINT | {key(CHILD)}, NONE, TODAY)
    assert "het kind zelf (jonger dan 12 jaar)" in refused.value.detail
    assert "12-15" not in refused.value.detail


def test_split_custody_the_parent_without_gezag_cannot_consent() -> None:
    child = a_child(born_years_before(10))
    check_grantors(child, a_family("split"), frozenset({key(MOTHER)}), NONE, TODAY)
    with pytest.raises(GrantorsInsufficient) as refused:
        check_grantors(child, a_family("split"), frozenset({key(FATHER)}), NONE, TODAY)
    assert "ouder zonder gezag Pieter de Vries" in refused.value.detail
    assert "heeft geen gezag" in refused.value.detail
    assert "Toestemming ontbreekt van: ouder met gezag Anna de Vries" in refused.value.detail


def test_a_certified_institution_consents_alone_for_a_nine_year_old() -> None:
    child = a_child(born_years_before(9))
    check_grantors(child, a_family("institution"), frozenset({CERTIFIED_INSTITUTION}), NONE, TODAY)


def test_a_voogd_and_the_14_year_old_consent_together() -> None:
    child = a_child(born_years_before(14))
    check_grantors(child, a_family("voogd"), frozenset({key(VOOGD), key(CHILD)}), NONE, TODAY)


def test_no_custody_holder_known_for_a_child_is_refused() -> None:
    child = a_child(born_years_before(6))
    with pytest.raises(GrantorsInsufficient, match="geen gezaghebbende bekend"):
        check_grantors(child, a_family("none"), frozenset({key(MOTHER)}), NONE, TODAY)


def test_a_child_under_12_is_not_a_grantor() -> None:
    child = a_child(born_years_before(11))
    with pytest.raises(GrantorsInsufficient, match="Onder de 12 jaar"):
        check_grantors(child, a_family("joint"), JOINT | {key(CHILD)}, NONE, TODAY)


def test_a_16_year_old_consents_alone_and_parents_are_only_consulted() -> None:
    young = a_child(born_years_before(16))
    check_grantors(young, a_family("joint"), frozenset({key(CHILD)}), NONE, TODAY)
    # a consulted parent who disagrees does not block the young person's own choice
    check_grantors(young, a_family("joint"), frozenset({key(CHILD)}), frozenset({key(FATHER)}), TODAY)
    grant = a_grant(young, {key(CHILD)}, consulted=JOINT)
    assert honoured(grant, TODAY)


def test_a_parent_cannot_consent_for_a_16_year_old() -> None:
    young = a_child(born_years_before(16))
    with pytest.raises(GrantorsInsufficient) as refused:
        check_grantors(young, a_family("joint"), frozenset({key(MOTHER)}), NONE, TODAY)
    assert "Vanaf 16 jaar geeft de jongere alleen zelf toestemming" in refused.value.detail
    assert "de persoon zelf (16 jaar of ouder)" in refused.value.detail


def test_the_16_year_old_refusing_means_no_consent() -> None:
    young = a_child(born_years_before(16))
    with pytest.raises(GrantorsInsufficient, match="geweigerd door de persoon zelf"):
        check_grantors(young, [], NONE, frozenset({key(CHILD)}), TODAY)


def test_a_parent_cannot_consent_for_the_other_parents_data() -> None:
    the_mother = Subject(MOTHER, D(1985, 4, 2))
    with pytest.raises(GrantorsInsufficient) as refused:
        check_grantors(the_mother, [father(custody=False)], frozenset({key(FATHER)}), NONE, TODAY)
    assert "Een volwassene geeft alleen toestemming voor de eigen gegevens" in refused.value.detail
    check_grantors(the_mother, [], frozenset({key(MOTHER)}), NONE, TODAY)


def test_refusal_is_reported_even_when_the_refuser_is_also_listed_as_grantor() -> None:
    child = a_child(born_years_before(4))
    with pytest.raises(GrantorsInsufficient, match="geweigerd"):
        check_grantors(child, [mother()], frozenset({key(MOTHER)}), frozenset({key(MOTHER)}), TODAY)


# --- renewal and honouring over time ---------------------------------------------------


@pytest.mark.parametrize(
    ("age_at_start", "on", "reasons"),
    [
        (11, D(2025, 6, 15), []),
        (11, D(2026, 6, 14), []),  # the day before the 12th birthday
        (11, D(2026, 6, 15), ["subject-turned-12"]),
        (15, D(2026, 6, 15), ["subject-turned-16"]),
        (11, D(2030, 6, 15), ["subject-turned-12", "subject-turned-16"]),
        (17, D(2026, 6, 15), ["subject-turned-18"]),
        (30, D(2040, 1, 1), []),
    ],
)
def test_consents_are_flagged_for_renewal_when_the_grantor_set_changes(
    age_at_start: int, on: datetime.date, reasons: list[str]
) -> None:
    start = D(2025, 6, 15)
    subject = a_child(born_years_before(age_at_start, start))
    assert renewal_reasons(a_grant(subject, start=start), on) == reasons


def test_a_17_year_olds_own_consent_for_her_plan_for_turning_18_stays_valid_at_18() -> None:
    birth = D(2008, 3, 1)
    own = a_grant(
        a_child(birth),
        {key(CHILD)},
        start=D(2025, 9, 1),
        purpose="transition-18",
        categories=frozenset({"future-plan"}),
    )
    assert honoured(own, D(2026, 3, 1)) and renewal_reasons(own, D(2026, 3, 1)) == []
    assert rules.to_confirm(own, D(2026, 3, 1)) is None


@pytest.mark.parametrize(
    ("age_at_start", "grantors", "age_now", "says"),
    [
        (11, "parents", 12, "moet zelf ook toestemming geven"),
        (14, "joint", 16, "Nu 16 jaar: de jongere beslist voortaan alleen"),
        (15, "parents", 16, "Nu 16 jaar: de toestemming van de ouders geldt niet meer"),
        (15, "joint", 17, "Nu 17 jaar: de jongere beslist voortaan alleen"),
        (14, "joint", 18, "Nu 18 jaar en volwassen: vraag de persoon zelf te bevestigen"),
        (16, "self", 17, None),
        (17, "self", 18, None),
    ],
)
def test_the_renewal_flag_says_what_a_young_person_must_confirm_themselves(
    age_at_start: int, grantors: str, age_now: int, says: str | None
) -> None:
    start = D(2020, 6, 15)
    birth = born_years_before(age_at_start, start)
    keys = {"parents": JOINT, "joint": JOINT | {key(CHILD)}, "self": {key(CHILD)}}[grantors]
    grant = a_grant(a_child(birth), keys, start=start)
    text = rules.to_confirm(grant, D(birth.year + age_now, birth.month, birth.day))
    assert (text is None) if says is None else (says in (text or "")), text


def test_parents_only_consent_stops_being_honoured_on_the_16th_birthday() -> None:
    birth = D(2009, 9, 1)
    grant = a_grant(a_child(birth), JOINT | {key(CHILD)}, start=D(2024, 1, 1))
    parents_only = a_grant(a_child(birth), JOINT, start=D(2024, 1, 1))
    assert honoured(parents_only, D(2025, 8, 31))
    assert not honoured(parents_only, D(2025, 9, 1))
    # given together with the young person, it still counts (but is flagged for renewal)
    assert honoured(grant, D(2025, 9, 1))
    assert renewal_reasons(grant, D(2025, 9, 1)) == ["subject-turned-16"]


def test_a_consent_is_honoured_only_while_active_permitted_and_in_its_period() -> None:
    grant = a_grant(start=D(2025, 1, 1), end=D(2025, 6, 30))
    assert honoured(grant, D(2025, 1, 1))
    assert honoured(grant, D(2025, 6, 30))  # the end date is inclusive
    assert not honoured(grant, D(2024, 12, 31))
    assert not honoured(grant, D(2025, 7, 1))
    assert not honoured(a_grant(status="inactive"), TODAY)
    assert not honoured(a_grant(decision="deny"), TODAY)


def test_dutch_days_end_at_dutch_midnight() -> None:
    # 30 June 2025 ends at 22:00 UTC (CEST, UTC+2)
    end = day_end(D(2025, 6, 30))
    assert end == int(datetime.datetime(2025, 6, 30, 22, 0, tzinfo=datetime.UTC).timestamp())
    assert day_of(end - 1) == D(2025, 6, 30)
    assert day_of(end) == D(2025, 7, 1)


# --- objections win ---------------------------------------------------------------------


def test_an_objection_wins_over_a_permit_for_the_same_exchange() -> None:
    permit = a_grant(categories=frozenset({"signals", "safety-plan"}))
    objection = a_grant(id="bezwaar-1", decision="deny", categories=frozenset({"safety-plan"}))
    ask: dict[str, Any] = {
        "subject_bsn": MOTHER,
        "grantee": YOUTH_CARE,
        "holder": MENTAL_HEALTH,
        "purpose": "joint-safety-planning",
        "on": TODAY,
    }
    assert effective_decision([permit, objection], **ask) == frozenset({"signals"})
    assert denied_categories(
        [permit, objection], YOUTH_CARE, MENTAL_HEALTH, "joint-safety-planning", TODAY
    ) == frozenset({"safety-plan"})


def test_an_objection_without_recipients_applies_to_everyone() -> None:
    objection = a_grant(
        decision="deny",
        recipients=frozenset(),
        holders=frozenset(),
        purpose="",
        categories=frozenset({"care-status"}),
    )
    assert denied_categories([objection], SAFE_HOME, MENTAL_HEALTH, "referral", TODAY) == {"care-status"}


def test_objections_elsewhere_revoked_or_expired_do_not_withhold() -> None:
    others = [
        a_grant(decision="deny", recipients=frozenset({SAFE_HOME})),
        a_grant(decision="deny", status="inactive"),
        a_grant(decision="deny", end=D(2025, 6, 14)),
        a_grant(decision="deny", purpose="referral"),
    ]
    assert denied_categories(others, YOUTH_CARE, MENTAL_HEALTH, "joint-safety-planning", TODAY) == NONE
    ask: dict[str, Any] = {
        "subject_bsn": MOTHER,
        "grantee": YOUTH_CARE,
        "holder": MENTAL_HEALTH,
        "purpose": "joint-safety-planning",
        "on": TODAY,
    }
    assert effective_decision([a_grant(), *others], **ask) == a_grant().categories


def test_no_permit_means_nothing_to_disclose() -> None:
    ask: dict[str, Any] = {
        "subject_bsn": MOTHER,
        "grantee": SAFE_HOME,
        "holder": MENTAL_HEALTH,
        "purpose": "joint-safety-planning",
        "on": TODAY,
    }
    assert effective_decision([a_grant()], **ask) == NONE


# --- properties ---------------------------------------------------------------------------


def _birthday_in(year: int, birth: datetime.date) -> datetime.date:
    try:
        return birth.replace(year=year)
    except ValueError:  # 29 February in a non-leap year: the birthday is 1 March
        return D(year, 3, 1)


@given(
    st.dates(min_value=D(1900, 1, 1), max_value=D(2100, 12, 31)),
    st.dates(min_value=D(1900, 1, 1), max_value=D(2100, 12, 31)),
)
def test_age_is_the_number_of_birthdays_passed(birth: datetime.date, day: datetime.date) -> None:
    if day < birth:
        return
    birthdays = sum(1 for year in range(birth.year + 1, day.year + 1) if _birthday_in(year, birth) <= day)
    assert age_on(birth, day) == birthdays
