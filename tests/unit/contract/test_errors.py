"""Every reason code has one home: a class in contract/errors.py and a concept in the CodeSystem.

The refusal-reason CodeSystem is what partners read (``GET /fhir/CodeSystem``) and where
each code's HTTP status is written; ``gateway.http.outcomes`` derives its table from it.
A code raised but not served, or served but never raised, is a drift these tests catch.
"""

from __future__ import annotations

import inspect

import pytest

from contract import errors
from contract.systems import REFUSAL_REASON_SYSTEM
from gateway.http import outcomes
from profiles import catalog

PASSED_THROUGH = {errors.PartnerRefusal.code}
"""Never answered under its own code: the partner's OperationOutcome goes back as it came."""

HTTP_LEVEL = {
    "method-not-allowed",
    "not-acceptable",
    "too-large",
    "unsupported-media-type",
    "http-error",
    "internal-error",
}
"""Answered by the HTTP edge (werkzeug's errors, the last-resort 500), not by a domain class."""


def error_classes() -> list[type[errors.GatewayError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.GatewayError) and cls.__module__ == errors.__name__
    ]


def served() -> dict[str, int | None]:
    return catalog.http_statuses(REFUSAL_REASON_SYSTEM)


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_class_code_is_served_in_the_codesystem(cls: type[errors.GatewayError]) -> None:
    if cls.code in PASSED_THROUGH:
        return
    assert cls.code in served(), f"{cls.__name__}.code {cls.code!r} is not in refusal-reason.json"
    assert served()[cls.code] is not None, f"{cls.code!r} has no http-status"


def test_every_served_code_is_raised_by_a_class_or_answered_by_the_http_edge() -> None:
    raised = {cls.code for cls in error_classes()}
    assert set(served()) - raised == HTTP_LEVEL


def test_the_contracts_refusal_list_is_served_with_the_contracts_statuses() -> None:
    # contract section 4, "Refusals": the statuses partners rely on
    contract = {
        "unknown-partner": 401,
        "bad-signature": 401,
        "token-expired": 401,
        "replay": 401,
        "wrong-audience": 403,
        "consent-revoked": 403,
        "purpose-mismatch": 403,
        "category-not-consented": 403,
        "not-shareable": 403,
        "subject-unknown": 404,
        "consent-status-unavailable": 503,
        "invalid-request": 400,
        "grantee-mismatch": 403,
        "subject-mismatch": 403,
        "partner-unavailable": 502,
        "partner-timeout": 504,
        "bad-partner-signature": 502,
        "store-unavailable": 503,
        "issuer-not-party": 403,
    }
    assert set(errors.REFUSAL_CODES) == set(contract)
    assert {code: served()[code] for code in contract} == contract


def test_the_http_table_takes_each_status_from_the_codesystem() -> None:

    for code, (status, _issue) in outcomes.TABLE.items():
        assert status == served()[code], code
    assert set(outcomes.TABLE) == {cls.code for cls in error_classes()} - PASSED_THROUGH
    assert outcomes.answerable() == served()
