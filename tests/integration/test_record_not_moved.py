"""A record never changes person: a push with a source identifier stored for someone else is
refused (409), audited for both persons, and leaves both files as they were (issue 20.2)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from builders import Api, new_bsn, reason

from adapters.store.models import Record
from audit import events
from gateway.demo import data as d
from gateway.repositories import audit_log


@pytest.fixture
def api(app: Any, client: Any) -> Api:
    return Api(app, client)


def person(api: Api, given: str) -> tuple[str, str]:
    bsn = new_bsn()
    return bsn, api.created("/fhir/Patient", d.patient(bsn, date(1990, 2, 3), given, "Bos"))["id"]


def stored_subject(api: Api, rid: str) -> str:
    with api.app.extensions["gateway"].uow(read_only=True) as uow:
        return uow.session.get(Record, rid).subject_id  # type: ignore[no-any-return]


def refusals(api: Api) -> list[dict[str, Any]]:
    with api.app.extensions["gateway"].uow(read_only=True) as uow:
        rows = [json.loads(e.record_json) for e in audit_log.entries(uow.session, action=events.RECORD_WRITTEN)]
    return [r for r in rows if r["outcome"] == events.REFUSED]


def test_a_diagnosis_pushed_under_another_persons_source_id_stays_with_its_person(api: Api) -> None:
    eva_bsn, eva = person(api, "Eva")
    tom_bsn, tom = person(api, "Tom")
    rid = api.created(
        "/fhir/Observation", d.observation(eva, "signals", "Belt niet terug.", shareable=True, source_id="obs-77")
    )["id"]

    moved = api.post(
        "/fhir/Observation", d.observation(tom, "signals", "Slaapt slecht.", shareable=True, source_id="obs-77")
    )

    assert moved.status_code == 409 and reason(moved) == "conflict"
    assert "andere persoon" in moved.get_json()["issue"][0]["details"]["text"]
    assert stored_subject(api, rid) == eva  # still Eva's record
    assert {r["subject"] for r in refusals(api)} == {eva_bsn, tom_bsn}
    # the same push for Eva herself still updates (a retry never duplicates)
    assert (
        api.post(
            "/fhir/Observation", d.observation(eva, "signals", "Belt weer terug.", shareable=True, source_id="obs-77")
        ).status_code
        == 200
    )


def test_a_transaction_that_would_move_a_record_writes_nothing(api: Api) -> None:
    _, eva = person(api, "Eva")
    _, tom = person(api, "Tom")
    rid = api.created(
        "/fhir/Observation", d.observation(eva, "signals", "Belt niet terug.", shareable=True, source_id="obs-1")
    )["id"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": d.observation(tom, "signals", "Nieuw.", shareable=True, source_id="obs-2")},
            {"resource": d.observation(tom, "signals", "Verhuisd?", shareable=True, source_id="obs-1")},
        ],
    }

    refused = api.post("/fhir", bundle)

    assert refused.status_code == 409 and "entry[1]" in refused.get_json()["issue"][0]["details"]["text"]
    assert stored_subject(api, rid) == eva
    assert (
        api.client.delete(
            "/fhir/Observation", query_string={"identifier": "urn:ehr:demo|obs-2"}, headers=api.headers()
        ).status_code
        == 404
    )  # entry[0] was not kept
