"""The holder's decision: each refusal a professional may meet, with its reason code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from consent_builders import (
    FATHER,
    MENTAL_HEALTH,
    MOTHER,
    NOW,
    SAFE_HOME,
    YOUTH_CARE,
    a_grant,
    an_ec_key,
    public_set,
)

from consent import decision, local, token
from consent.model import VerifiedConsent
from contract.errors import (
    CategoryNotConsented,
    GatewayError,
    GranteeMismatch,
    InvalidRequest,
    IssuerNotParty,
    NotShareable,
    PurposeMismatch,
    SubjectMismatch,
    WrongAudience,
)

MATRIX = {
    "joint-safety-planning": frozenset({"signals", "safety-plan", "care-team", "care-status"}),
    "referral": frozenset({"care-team", "care-status"}),
}
KEY = an_ec_key("yc-1")


def a_verified_consent(**grant: Any) -> VerifiedConsent:
    """The real path: youth care issues, the mental-health holder verifies."""
    tok = token.issue(a_grant(**grant), grantee=YOUTH_CARE, objections=(), key=KEY, kid="yc-1", alg="ES256", now=NOW)
    keys = public_set(KEY)
    return token.verify(
        tok,
        keys_for=lambda iss, _kid: keys if iss == YOUTH_CARE else None,
        holder=MENTAL_HEALTH,
        now=NOW,
    )


def ask(verified: VerifiedConsent, **overrides: Any) -> frozenset[str]:
    request: dict[str, Any] = {
        "caller_org": YOUTH_CARE,
        "holder_org": MENTAL_HEALTH,
        "subject_bsn": MOTHER,
        "purpose": "joint-safety-planning",
        "categories": ["signals", "safety-plan"],
        "matrix": MATRIX,
    }
    request.update(overrides)
    return decision.check(verified, **request)


def test_the_consented_categories_are_disclosed() -> None:
    assert ask(a_verified_consent()) == {"signals", "safety-plan"}


@pytest.mark.parametrize(
    ("overrides", "error", "code"),
    [
        ({"caller_org": SAFE_HOME}, GranteeMismatch, "grantee-mismatch"),
        ({"holder_org": SAFE_HOME}, WrongAudience, "wrong-audience"),
        ({"subject_bsn": FATHER}, SubjectMismatch, "subject-mismatch"),
        ({"purpose": "referral"}, PurposeMismatch, "purpose-mismatch"),
        ({"categories": []}, InvalidRequest, "invalid-request"),
        ({"categories": ["signals", "signals"]}, InvalidRequest, "invalid-request"),
        ({"categories": "signals"}, InvalidRequest, "invalid-request"),
        ({"categories": ["signals", ""]}, InvalidRequest, "invalid-request"),
        # SUBSET rule: one consented category does not open the others ("any of" would)
        ({"categories": ["signals", "parenting"]}, CategoryNotConsented, "category-not-consented"),
        ({"categories": ["parenting"]}, CategoryNotConsented, "category-not-consented"),
        ({"denied": frozenset({"safety-plan"})}, CategoryNotConsented, "category-not-consented"),
    ],
)
def test_each_refusal_carries_its_reason_code(overrides: dict[str, Any], error: type[GatewayError], code: str) -> None:
    with pytest.raises(error) as refused:
        ask(a_verified_consent(), **overrides)
    assert type(refused.value) is error
    assert refused.value.code == code


def test_a_category_the_purpose_may_not_see_is_not_shareable() -> None:
    verified = a_verified_consent(purpose="referral", categories=frozenset({"signals", "care-team"}))
    assert ask(verified, purpose="referral", categories=["care-team"]) == {"care-team"}
    with pytest.raises(NotShareable) as refused:
        ask(verified, purpose="referral", categories=["care-team", "signals"])
    assert refused.value.code == "not-shareable"
    assert "signals" in refused.value.detail


def test_a_purpose_missing_from_the_matrix_shares_nothing() -> None:
    verified = a_verified_consent(purpose="assessment")
    with pytest.raises(NotShareable):
        ask(verified, purpose="assessment", categories=["signals"])


def test_the_grantee_check_comes_before_anything_else() -> None:
    everything_wrong = {
        "caller_org": SAFE_HOME,
        "holder_org": SAFE_HOME,
        "subject_bsn": FATHER,
        "purpose": "referral",
        "categories": ["parenting"],
    }
    with pytest.raises(GranteeMismatch):
        ask(a_verified_consent(), **everything_wrong)


def test_only_a_verified_consent_is_accepted() -> None:
    forged: Any = {"grantee": YOUTH_CARE}
    with pytest.raises(TypeError):
        ask(forged)


def test_a_local_consent_reaches_the_same_decision() -> None:
    verified = local.vouch(a_grant(issuer=MENTAL_HEALTH), YOUTH_CARE, MENTAL_HEALTH, NOW)
    categories: Sequence[str] = ("care-team",)
    assert ask(verified, categories=categories) == {"care-team"}


def _issued_by_youth_care_for_safe_home() -> VerifiedConsent:
    """Youth care recorded a consent naming Veilig Thuis as recipient and ggz as holder."""
    tok = token.issue(
        a_grant(recipients=frozenset({SAFE_HOME})),
        grantee=SAFE_HOME,
        objections=(),
        key=KEY,
        kid="yc-1",
        alg="ES256",
        now=NOW,
    )
    keys = public_set(KEY)
    return token.verify(
        tok, keys_for=lambda iss, _kid: keys if iss == YOUTH_CARE else None, holder=MENTAL_HEALTH, now=NOW
    )


def test_a_token_from_an_issuer_that_is_no_party_is_refused() -> None:
    """Issue 13 item 2: the issuer is neither the holder nor the grantee."""
    with pytest.raises(IssuerNotParty) as raised:
        ask(_issued_by_youth_care_for_safe_home(), caller_org=SAFE_HOME)
    assert raised.value.code == "issuer-not-party"


def test_a_registrar_the_holder_names_may_issue_for_others() -> None:
    allowed = ask(_issued_by_youth_care_for_safe_home(), caller_org=SAFE_HOME, registrars=frozenset({YOUTH_CARE}))
    assert allowed == {"signals", "safety-plan"}
