"""What an EHR writes into a person's file, and withdraws, is in the audit (NEN 7513), on
both stores; a refused write or withdrawal leaves the file and the log as they were."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from builders import Api, new_bsn, reason

from audit import events
from gateway.demo import data as d
from gateway.fhir.fhir_in import BSN_SYSTEM
from gateway.repositories import audit_log


@pytest.fixture
def api(app: Any, client: Any) -> Api:
    return Api(app, client)


def person(api: Api) -> tuple[str, str]:
    bsn = new_bsn()
    return bsn, api.created("/fhir/Patient", d.patient(bsn, date(1990, 2, 3), "Eva", "Bos"))["id"]


def logged(api: Api, action: str) -> list[dict[str, Any]]:
    """Entries of ``action``, oldest first, as stored."""
    with api.app.extensions["gateway"].uow(read_only=True) as uow:
        return [json.loads(e.record_json) for e in reversed(audit_log.entries(uow.session, action=action))]


def a_signal(pid: str, source_id: str) -> dict[str, Any]:
    return d.observation(pid, "signals", "Belt niet terug.", shareable=True, source_id=source_id)


def test_a_pushed_record_is_audited_with_the_professional_and_the_ehr(api: Api) -> None:
    bsn, pid = person(api)

    assert api.post("/fhir/Observation", a_signal(pid, "s-1")).status_code == 201
    assert api.post("/fhir/Observation", a_signal(pid, "s-1")).status_code == 200  # the same record again

    first, second = logged(api, events.RECORD_WRITTEN)
    assert (first["subject"], first["actor_id"], first["on_behalf_of"]) == (bsn, api.practitioner, "epd")
    assert (first["categories"], first["resource_types"], first["count"]) == (["signals"], ["Observation"], 1)
    assert first["detail"] == {"created": 1, "updated": 0} and second["detail"] == {"created": 0, "updated": 1}


def test_an_ehr_job_without_a_professional_is_logged_as_itself(api: Api) -> None:
    _, pid = person(api)

    assert api.post("/fhir/Observation", a_signal(pid, "s-2"), practitioner=None).status_code == 201

    [entry] = logged(api, events.RECORD_WRITTEN)
    assert entry["actor_id"] == "client:epd"


def test_a_transaction_leaves_one_entry_per_person_it_wrote_for(api: Api) -> None:
    mother_bsn, mother = person(api)
    father_bsn, father = person(api)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": a_signal(mother, "m-1")},
            {"resource": d.safety_plan(mother, source_id="m-2")},
            {"resource": a_signal(father, "f-1")},
        ],
    }

    assert api.post("/fhir", bundle).status_code == 200

    entries = {e["subject"]: e for e in logged(api, events.RECORD_WRITTEN)}
    assert set(entries) == {mother_bsn, father_bsn}
    assert (entries[mother_bsn]["count"], entries[mother_bsn]["categories"]) == (2, ["safety-plan", "signals"])
    assert entries[mother_bsn]["resource_types"] == ["CarePlan", "Observation"]
    assert entries[father_bsn]["count"] == 1


def test_a_refused_transaction_writes_nothing_and_logs_nothing(api: Api) -> None:
    _, pid = person(api)
    unknown = a_signal(pid, "x-2")
    unknown["subject"] = {"identifier": {"system": BSN_SYSTEM, "value": new_bsn()}}  # not registered here
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": a_signal(pid, "x-1")}, {"resource": unknown}],
    }

    refused = api.post("/fhir", bundle)

    assert refused.status_code == 400 and "entry[1]" in refused.get_data(as_text=True)
    assert logged(api, events.RECORD_WRITTEN) == []
    assert (
        api.client.delete(
            "/fhir/Observation", query_string={"identifier": "urn:ehr:demo|x-1"}, headers=api.headers()
        ).status_code
        == 404
    )  # the first entry was not kept


def withdraw(api: Api, path: str, **query: str) -> Any:
    return api.client.delete(path, query_string=query, headers=api.headers())


def test_a_withdrawn_record_is_gone_and_its_withdrawal_logged(api: Api) -> None:
    bsn, pid = person(api)
    rid = api.created("/fhir/Observation", a_signal(pid, "w-1"))["id"]

    assert withdraw(api, "/fhir/Observation", identifier="urn:ehr:demo|w-1").status_code == 204

    [entry] = logged(api, events.RECORD_DELETED)
    assert (entry["subject"], entry["actor_id"], entry["categories"]) == (bsn, api.practitioner, ["signals"])
    assert entry["detail"] == {"record": f"Observation/{rid}", "source_system": "urn:ehr:demo", "source_id": "w-1"}
    # the same source identifier may be written again later: a new record
    assert api.post("/fhir/Observation", a_signal(pid, "w-1")).status_code == 201


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"identifier": "w-1"},
        {"identifier": "|w-1"},
        {"identifier": "urn:x|"},
        {"identifier": "urn:ehr:demo|w-1", "subject": "x"},
    ],
    ids=["none", "no-system", "empty-system", "empty-value", "unknown-parameter"],
)
def test_a_withdrawal_names_exactly_one_source_record(api: Api, query: dict[str, str]) -> None:
    _, pid = person(api)
    api.created("/fhir/Observation", a_signal(pid, "w-1"))

    refused = withdraw(api, "/fhir/Observation", **query)

    assert refused.status_code == 400 and reason(refused) == "invalid-request"
    assert logged(api, events.RECORD_DELETED) == []


def test_only_writers_may_withdraw_and_only_with_a_token(app: Any, client: Any) -> None:
    writer = Api(app, client)
    _, pid = person(writer)
    rid = writer.created("/fhir/Observation", a_signal(pid, "w-3"))["id"]
    officer = Api(app, client, client_id="po", role="privacy-officer")

    assert client.delete(f"/fhir/Observation/{rid}").status_code == 401
    assert withdraw(officer, f"/fhir/Observation/{rid}").status_code == 403
    assert withdraw(writer, f"/fhir/Observation/{rid}").status_code == 204


def test_a_source_id_the_log_may_not_hold_is_withdrawn_all_the_same(api: Api) -> None:
    """The log refuses text that looks like a credential; the withdrawal must not fail on it."""
    _, pid = person(api)
    odd = "Bearer abc"  # an EHR's id that happens to look like an Authorization header
    api.created("/fhir/Observation", a_signal(pid, odd))

    assert withdraw(api, "/fhir/Observation", identifier=f"urn:ehr:demo|{odd}").status_code == 204

    [entry] = logged(api, events.RECORD_DELETED)
    assert "source_id" not in entry["detail"] and len(entry["detail"]["source_id_hash"]) == 64
