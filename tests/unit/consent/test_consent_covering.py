"""Which consent covers an exchange: the one rule every place uses (consent.covering)."""

from __future__ import annotations

import datetime

import pytest
from consent_builders import (
    MENTAL_HEALTH,
    NOW,
    SAFE_HOME,
    TODAY,
    YOUTH_CARE,
    a_grant,
    an_ec_key,
    born_years_before,
    key,
)

from consent import covering, token
from consent.model import Subject
from contract.errors import InvalidRequest

ASK = covering.Ask(
    recipient=YOUTH_CARE, holder=MENTAL_HEALTH, purpose="joint-safety-planning", categories=frozenset({"signals"})
)
AT = datetime.datetime(2025, 6, 15, 10, tzinfo=datetime.UTC)


def an_objection(**overrides: object) -> object:
    return a_grant(id="objection-1", decision="deny", categories=frozenset({"care-team"}), **overrides)


def test_an_honoured_permit_naming_both_parties_covers_the_ask() -> None:
    assert covering.why_not(a_grant(), ASK, others=[], on=TODAY) is None


@pytest.mark.parametrize(
    ("ask", "text"),
    [
        (covering.Ask(recipient=SAFE_HOME), "geen ontvanger"),
        (covering.Ask(recipient=YOUTH_CARE, holder=SAFE_HOME), "geen bronhouder"),
        (covering.Ask(recipient=YOUTH_CARE, holder=YOUTH_CARE), "geen bronhouder"),
        (covering.Ask(recipient=YOUTH_CARE, purpose="referral"), "ander doel"),
        (covering.Ask(recipient=YOUTH_CARE, categories=frozenset({"signals", "parenting"})), "niet al deze"),
        (covering.Ask(recipient=YOUTH_CARE, categories=frozenset()), "niet al deze"),
    ],
)
def test_a_consent_that_does_not_name_the_ask_is_no_cover_and_not_lapsed(ask: covering.Ask, text: str) -> None:
    why = covering.why_not(a_grant(), ask, others=[], on=TODAY)

    assert why is not None and not why.lapsed and text in why.reason


def test_an_objection_is_never_a_cover() -> None:
    why = covering.why_not(a_grant(decision="deny"), ASK, others=[], on=TODAY)

    assert why is not None and not why.lapsed


@pytest.mark.parametrize(
    "overrides",
    [
        {"status": "inactive"},
        {"end": datetime.date(2025, 6, 14)},
        {"start": datetime.date(2025, 6, 16)},
        # parents alone consented for someone who is 16 now
        {"subject": Subject("111222333", born_years_before(16)), "grantors": frozenset({key("222333444")})},
    ],
)
def test_a_consent_no_longer_honoured_has_lapsed(overrides: dict[str, object]) -> None:
    why = covering.why_not(a_grant(**overrides), ASK, others=[], on=TODAY)

    assert why is not None and why.lapsed


def test_an_objection_against_a_category_the_ask_leaves_out_still_lapses_the_consent() -> None:
    """The token carries every category of the consent: the objected one would travel too."""
    why = covering.why_not(a_grant(), ASK, others=[an_objection()], on=TODAY)

    assert why is not None and why.lapsed and "bezwaar" in why.reason


def test_the_newest_covering_consent_wins_and_ties_go_by_id() -> None:
    old = a_grant(id="a-old")
    renewed = a_grant(id="b-renewed")
    same_time = a_grant(id="c-same-time")
    earlier, later = AT - datetime.timedelta(days=30), AT

    assert covering.newest([(old, earlier), (renewed, later)], ASK, on=TODAY) == ((renewed, old), None)
    assert covering.newest([(renewed, later), (old, earlier)], ASK, on=TODAY) == ((renewed, old), None)
    assert covering.newest([(renewed, later), (same_time, later)], ASK, on=TODAY)[0] == (same_time, renewed)


def test_without_a_cover_the_reason_of_an_active_lapsed_consent_is_told_first() -> None:
    expired = a_grant(id="expired", end=datetime.date(2025, 6, 1))
    revoked = a_grant(id="revoked", status="inactive")

    grants, why = covering.newest([(revoked, AT), (expired, AT - datetime.timedelta(days=1))], ASK, on=TODAY)

    assert grants == () and why is not None and "verlopen" in why.reason


def test_no_consent_naming_the_ask_gives_no_reason_at_all() -> None:
    assert covering.newest([(a_grant(purpose="referral"), AT)], ASK, on=TODAY) == ((), None)


def test_a_token_is_refused_for_a_consent_with_an_objection_against_any_of_its_categories() -> None:

    signer = an_ec_key()
    grant = a_grant()
    with pytest.raises(InvalidRequest, match="bezwaar"):
        token.issue(
            grant,
            grantee=YOUTH_CARE,
            objections=[grant, an_objection()],
            key=signer,
            kid="yc-2025",
            alg="ES256",
            now=NOW,
        )
    assert token.issue(grant, grantee=YOUTH_CARE, objections=[grant], key=signer, kid="yc-2025", alg="ES256", now=NOW)
