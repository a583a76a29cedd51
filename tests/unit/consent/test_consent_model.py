"""BSNs, parties and grants: values that cannot be built wrong."""

from __future__ import annotations

import ast
import datetime
import pathlib
from typing import Any

import pytest
from consent_builders import (
    MENTAL_HEALTH,
    MOTHER,
    NOW,
    SAFE_HOME,
    YOUTH_CARE,
    a_child,
    a_grant,
    born_years_before,
    key,
)
from hypothesis import given
from hypothesis import strategies as st

import consent
from consent import local
from consent.model import Party, Subject, valid_bsn
from contract.errors import ConsentRevoked, GranteeMismatch, InvalidRequest, WrongAudience


@pytest.mark.parametrize("value", ["111222333", "123456782", MOTHER])
def test_valid_bsns_pass_the_eleven_test(value: str) -> None:
    assert valid_bsn(value)


@pytest.mark.parametrize(
    "value",
    [
        "000000000",  # passes the eleven-test, but is no BSN
        "１１１２２２３３３",  # full-width digits: int() would accept them
        "١١١٢٢٢٣٣٣",  # Arabic-Indic digits
        "11122233",  # 8 digits
        "1112223330",  # 10 digits
        "123456789",  # fails the eleven-test
        "111222334",
        "111222333\n",
        " 111222333",
        "11122233a",
        "",
    ],
)
def test_everything_else_is_not_a_bsn(value: str) -> None:
    assert not valid_bsn(value)


def test_a_bsn_must_be_a_string() -> None:
    assert not valid_bsn(111222333)  # type: ignore[arg-type]


def test_a_subject_needs_a_valid_bsn() -> None:
    with pytest.raises(InvalidRequest):
        Subject("123456789", datetime.date(2010, 1, 1))


@pytest.mark.parametrize(
    ("party_key", "kind"),
    [
        ("bsn:123456789", "parent"),  # fails the eleven-test
        ("123456782", "parent"),  # no prefix
        ("org:ggz", "parent"),  # a parent is a person
        ("bsn:123456782", "institution"),  # an institution is not
        ("org:", "institution"),
        ("org:a b", "institution"),
        ("bsn:123456782", "aunt"),
    ],
)
def test_parties_are_people_or_institutions_with_matching_keys(party_key: str, kind: str) -> None:
    with pytest.raises(InvalidRequest):
        Party(party_key, kind, True)  # type: ignore[arg-type]


def test_a_voogd_may_be_a_person_or_a_certified_institution() -> None:
    assert Party("bsn:123456782", "guardian", True).custody
    assert Party("org:wss", "guardian", True).custody


def test_grants_refuse_impossible_values() -> None:
    with pytest.raises(InvalidRequest):
        a_grant(start=datetime.date(2025, 2, 1), end=datetime.date(2025, 1, 31))
    with pytest.raises(InvalidRequest):
        a_grant(decision="maybe")
    with pytest.raises(InvalidRequest):
        a_grant(status="paused")
    with pytest.raises(TypeError):
        a_grant(categories={"signals"})  # a mutable set
    with pytest.raises(TypeError):
        a_grant(holders=MENTAL_HEALTH)  # a str is not a set of org ids


# --- a consent recorded at the holder itself ------------------------------------------


def local_grant(**overrides: Any) -> consent.Grant:
    return a_grant(issuer=MENTAL_HEALTH, **overrides)


def test_a_consent_recorded_at_the_holder_vouches_without_a_token() -> None:
    verified = local.vouch(local_grant(), YOUTH_CARE, MENTAL_HEALTH, NOW)
    assert (verified.issuer, verified.subject_bsn, verified.grantee) == (
        MENTAL_HEALTH,
        MOTHER,
        YOUTH_CARE,
    )
    assert verified.audience == (MENTAL_HEALTH,)
    assert not verified.from_token
    assert verified.jti == verified.kid == ""


@pytest.mark.parametrize(
    ("grant", "grantee", "error"),
    [
        (a_grant(), YOUTH_CARE, InvalidRequest),  # recorded at youth care, not here
        (a_grant(issuer=MENTAL_HEALTH), SAFE_HOME, GranteeMismatch),
        (a_grant(issuer=MENTAL_HEALTH, holders=frozenset({SAFE_HOME})), YOUTH_CARE, WrongAudience),
        (a_grant(issuer=MENTAL_HEALTH, status="inactive"), YOUTH_CARE, ConsentRevoked),
        (a_grant(issuer=MENTAL_HEALTH, end=datetime.date(2025, 6, 14)), YOUTH_CARE, ConsentRevoked),
        (
            a_grant(a_child(born_years_before(16)), {key(MOTHER)}, issuer=MENTAL_HEALTH),
            YOUTH_CARE,
            ConsentRevoked,
        ),
    ],
)
def test_a_local_consent_is_refused_like_a_token_would_be(
    grant: consent.Grant, grantee: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        local.vouch(grant, grantee, MENTAL_HEALTH, NOW)


# --- the domain stays pure --------------------------------------------------------------

FORBIDDEN = {
    "flask",
    "requests",
    "sqlalchemy",
    "gateway",
    "adapters",
    "psycopg",
    "urllib3",
    "httpx",
}


def test_the_consent_package_imports_no_web_http_or_database_code() -> None:
    package = pathlib.Path(consent.__file__).parent
    for source in sorted(package.glob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{source.name} imports {name}"


# --- properties ---------------------------------------------------------------------------


@given(st.text(max_size=12))
def test_anything_accepted_as_a_bsn_is_nine_ascii_digits_passing_the_eleven_test(text: str) -> None:
    if valid_bsn(text):
        assert len(text) == 9
        assert all(c in "0123456789" for c in text)
        assert sum((9 - i) * int(c) for i, c in enumerate(text[:8])) % 11 == int(text[8])


@given(st.integers(min_value=1, max_value=999_999_999))
def test_the_eleven_test_matches_its_textbook_definition(number: int) -> None:
    text = f"{number:09d}"
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    assert valid_bsn(text) == (sum(w * int(c) for w, c in zip(weights, text, strict=True)) % 11 == 0)
