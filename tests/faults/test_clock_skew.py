"""Clocks two minutes apart (issue 8; contract section 4: clock skew <= 60 s).

Two ways: tokens signed with the issuer's real key but stamped as a clock 50 s or 130 s off
would stamp them, and the requesting (issuing) node itself restarted with its clock off
(``skewed_clock/sitecustomize.py``: Debian's libfaketime moves ``time.time`` but breaks
``time.sleep`` in CPython 3.11, so a gunicorn node cannot run under it).
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from faults_support import reason

from consent import token
from contract import jwt
from gateway import config
from gateway.demo import data as d
from gateway.demo import runner as demo
from gateway.keys import KeyRing


def _partner_token(fed: Any) -> str:
    """An access token at the holder for the requester, via private_key_jwt with its own key."""

    kid, alg, key = KeyRing(config.load(fed.jeugd.home).home).active
    now = int(time.time())
    assertion = jwt.sign(
        {
            "iss": fed.jeugd.org_id,
            "sub": fed.jeugd.org_id,
            "aud": fed.ggz.url + "/oauth/token",
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
        },
        key,
        kid=kid,
        alg=alg,
        typ="JWT",
    )
    resp = requests.post(
        fed.ggz.url + "/oauth/token",
        timeout=10,
        data={
            "grant_type": "client_credentials",
            "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        },
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]  # type: ignore[no-any-return]


def _consent_token(fed: Any, consent_id: str, skew: int) -> str:
    """A consent token as the issuer would sign it with its clock ``skew`` seconds off."""

    kid, alg, key = KeyRing(config.load(fed.jeugd.home).home).active
    now = int(time.time()) + skew
    return jwt.sign(
        {
            "iss": fed.jeugd.org_id,
            "sub": demo.MOTHER,
            "aud": [fed.ggz.org_id],
            "grantee": fed.jeugd.org_id,
            "purpose": "joint-safety-planning",
            "categories": sorted(demo.CATEGORIES),
            "consent": consent_id,
            "iat": now,
            "nbf": now,
            "exp": now + 3600 if skew >= 0 else now + 60,
            "jti": uuid.uuid4().hex,
        },
        key,
        kid=kid,
        alg=alg,
        typ=token.TYP,
    )


def _behaviour_summary(fed: Any, access: str, tok: str) -> requests.Response:
    body = d.summary_request("unused", demo.MOTHER, "joint-safety-planning", list(demo.CATEGORIES), token=tok)
    params = [p for p in body["parameter"] if p["name"] != "partner"]
    params += [
        {"name": "practitioner", "valueIdentifier": {"value": "uzi:900000202"}},
        {"name": "exchange-id", "valueString": uuid.uuid4().hex},
    ]
    return requests.post(
        fed.ggz.url + "/fhir/$behaviour-summary",
        timeout=30,
        json={"resourceType": "Parameters", "parameter": params},
        headers={"Authorization": f"Bearer {access}", "Content-Type": "application/fhir+json"},
    )


def _consent_id(fed: Any) -> str:
    tok = fed.token()

    payload = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["consent"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("skew", "status", "code"),
    [
        (50, 200, None),  # issuer 50 s ahead: nbf/iat within the 60 s leeway
        (130, 401, "token-expired"),  # issuer over two minutes ahead: not yet valid
        (-130, 401, "token-expired"),  # issuer behind: its 60 s token already expired here
        (-50, 200, None),  # issuer 50 s behind, same short token: still inside the leeway
    ],
)
def test_consent_token_from_a_skewed_issuer_clock(fed: Any, skew: int, status: int, code: str | None) -> None:
    resp = _behaviour_summary(fed, _partner_token(fed), _consent_token(fed, _consent_id(fed), skew))
    assert resp.status_code == status, resp.text
    if code:
        assert reason(resp) == code
        assert resp.json()["resourceType"] == "OperationOutcome"


SHIM = str(Path(__file__).parent / "skewed_clock")


@pytest.fixture
def skewed(fed: Any) -> Any:
    def run(seconds: int) -> None:
        path = os.pathsep.join(p for p in (SHIM, os.environ.get("PYTHONPATH", "")) if p)
        fed.restart(fed.jeugd, {"PYTHONPATH": path, "GATEWAY_TEST_CLOCK_SKEW": str(seconds)})

    yield run
    fed.restart(fed.jeugd)


def test_requester_45_seconds_ahead_still_exchanges(fed: Any, skewed: Any) -> None:
    skewed(45)
    resp = fed.ask(fed.token())
    assert resp.status_code == 200, resp.text


def test_token_from_a_requester_two_minutes_ahead_is_token_expired_at_the_holder(fed: Any, skewed: Any) -> None:
    skewed(120)
    tok = fed.token()  # stamped by the skewed node: nbf two minutes in the holder's future
    direct = _behaviour_summary(fed, _partner_token(fed), tok)  # presented from a sane clock
    assert direct.status_code == 401 and reason(direct) == "token-expired", direct.text
    assert direct.json()["resourceType"] == "OperationOutcome"


def test_requester_two_minutes_ahead_is_told_its_clock_is_off(fed: Any, skewed: Any) -> None:
    skewed(120)
    resp = fed.ask(fed.token())
    assert resp.status_code == 401, resp.text
    assert reason(resp) == "token-expired", resp.json()
