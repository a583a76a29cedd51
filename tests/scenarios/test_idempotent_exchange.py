"""An EHR's request times out on its side and it retries with the same Idempotency-Key
(issue 20.1): the summary is asked once, a safety disclosure is pushed once."""

from __future__ import annotations

import pytest
import requests

from audit import events
from gateway.demo import data as d
from gateway.demo import runner as demo

pytestmark = pytest.mark.scenario


def post(session, path: str, body, key: str) -> requests.Response:  # type: ignore[no-untyped-def]
    headers = dict(session.headers(), **{"Idempotency-Key": key})
    return requests.post(session.node.url + path, json=body, headers=headers, timeout=30)


def test_a_retried_summary_request_is_asked_once_and_names_the_exchange(fed) -> None:
    fed.consent()
    ehr = fed.jeugd.session("jeugd-epd", "uzi:900000202")
    ask = d.summary_request("ggz-noord", demo.MOTHER, "joint-safety-planning", ["signals"])
    before = len(fed.audit(fed.ggz, action=events.DISCLOSURE_SENT))

    first = post(ehr, "/fhir/$request-summary", ask, "epd-retry-1")
    again = post(ehr, "/fhir/$request-summary", ask, "epd-retry-1")

    assert first.status_code == 200, first.text
    assert again.status_code == 409 and first.json()["id"] in again.json()["issue"][0]["details"]["text"]
    assert len(fed.audit(fed.ggz, action=events.DISCLOSURE_SENT)) == before + 1


def test_a_retried_safety_disclosure_is_pushed_once(fed) -> None:
    fed.ggz.add_client("ggz-spv-idem", "professional")
    spv = fed.ggz.session("ggz-spv-idem", "uzi:900000111")
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "recipient", "valueString": "jeugdteam-west"},
            {
                "name": "subject",
                "valueIdentifier": {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": demo.MOTHER},
            },
            {"name": "category", "valueCoding": {"system": d.CATEGORY_SYSTEM, "code": "signals"}},
            {"name": "legal-ground", "valueCode": "meldcode"},
            {"name": "justification", "valueString": "Moeder is ontregeld en alleen met de kinderen; meldcode."},
        ],
    }
    before = len(fed.audit(fed.jeugd, action=events.SAFETY_DISCLOSURE_RECEIVED))

    first = post(spv, "/fhir/$safety-disclosure", body, "spv-melding-1")
    again = post(spv, "/fhir/$safety-disclosure", body, "spv-melding-1")

    assert first.status_code == again.status_code == 200, first.text
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(fed.audit(fed.jeugd, action=events.SAFETY_DISCLOSURE_RECEIVED)) == before + 1
