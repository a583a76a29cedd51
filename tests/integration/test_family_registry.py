"""People and families through the local API (issue 3, contract section 3), on both stores."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from builders import Api, a_family, a_voogd, born_aged, new_bsn, reason

from audit import events
from gateway.demo import data as d
from gateway.fhir.fhir_in import BSN_SYSTEM
from gateway.repositories import audit_log


@pytest.fixture
def api(app: Any, client: Any) -> Api:
    return Api(app, client)


def a_patient(api: Api, bsn: str, age: int = 30) -> dict[str, Any]:
    return d.patient(bsn, born_aged(api.app, age), "Sanne", "Jansen")


# --- Patient -------------------------------------------------------------------------


FULL_WIDTH = "".join(chr(ord(c) - ord("0") + 0xFF10) for c in d.bsn(7))


@pytest.mark.parametrize(
    ("bsn", "why"),
    [
        ("123456780", "fails the eleven-test"),
        ("000000000", "passes the eleven-test, but is no one's number"),
        (FULL_WIDTH, "full-width digits of a valid BSN"),
        ("12345678", "eight digits"),
        (" " + d.bsn(7), "leading space"),
    ],
)
def test_a_bsn_that_is_not_a_bsn_is_refused(api: Api, bsn: str, why: str) -> None:
    resp = api.post("/fhir/Patient", a_patient(api, bsn))

    assert resp.status_code == 400, why
    assert reason(resp) == "invalid-request"
    assert "elfproef" in resp.get_json()["issue"][0]["details"]["text"]


def test_a_patient_without_birth_date_is_refused(api: Api) -> None:
    body = a_patient(api, new_bsn())
    del body["birthDate"]

    resp = api.post("/fhir/Patient", body)

    assert resp.status_code == 400
    assert reason(resp) == "invalid-request"
    assert "birthDate" in resp.get_json()["issue"][0]["details"]["text"]


def test_a_patient_without_bsn_is_refused(api: Api) -> None:
    body = a_patient(api, new_bsn())
    body["identifier"] = [{"system": "urn:ehr:local", "value": "42"}]

    resp = api.post("/fhir/Patient", body)

    assert resp.status_code == 400
    assert reason(resp) == "invalid-request"


def test_registering_the_same_bsn_twice_returns_the_first_person(api: Api) -> None:
    bsn = new_bsn()
    first = api.post("/fhir/Patient", a_patient(api, bsn))
    again = api.post("/fhir/Patient", a_patient(api, bsn))

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    found = api.get("/fhir/Patient", query_string={"identifier": f"{BSN_SYSTEM}|{bsn}"}).get_json()
    assert found["total"] == 1


@pytest.mark.parametrize(
    "value",
    [
        "１１１２２２３３３",
        "١١١٢٢٢٣٣٣",
        "000000000",
        "123456789",
        "11122233A",
        "111222333\x00",
        "\x00",
        "",
        "1112223334",
        " 111222333",
    ],
    ids=["full-width", "arabic-indic", "zeros", "eleven-test", "letter", "nul-after", "nul", "empty", "ten", "space"],
)
def test_searching_a_patient_by_something_that_is_no_bsn_is_refused(api: Api, value: str) -> None:
    """Issue 13 item 3: 400 invalid-request on both stores, as for POST, and nothing logged."""
    resp = api.get("/fhir/Patient", query_string={"identifier": f"{BSN_SYSTEM}|{value}"})

    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert reason(resp) == "invalid-request"


def at_once(api: Api, path: str, body: dict[str, Any], times: int = 8) -> list[Any]:
    """POST ``body`` from ``times`` threads released together, as several EHR workers would."""
    start, answers = threading.Barrier(times), []

    def post() -> None:
        own = api.app.test_client()
        start.wait()
        resp = own.post(path, json=body, content_type="application/fhir+json", headers=api.headers())
        answers.append((resp.status_code, resp.get_json().get("id")))

    threads = [threading.Thread(target=post) for _ in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_registering_the_same_bsn_at_once_still_makes_one_person(api: Api) -> None:
    bsn = new_bsn()

    answers = at_once(api, "/fhir/Patient", a_patient(api, bsn))

    assert sorted(status for status, _ in answers) == [200] * 7 + [201]
    assert len({pid for _, pid in answers}) == 1
    found = api.get("/fhir/Patient", query_string={"identifier": f"{BSN_SYSTEM}|{bsn}"}).get_json()
    assert found["total"] == 1


def test_recording_the_same_parent_at_once_makes_one_relation(api: Api) -> None:
    child = api.created("/fhir/Patient", a_patient(api, new_bsn(), age=8))["id"]

    answers = at_once(api, "/fhir/RelatedPerson", d.parent_of(child, new_bsn()))

    assert {status for status, _ in answers} == {201}
    assert len({rid for _, rid in answers}) == 1


def test_a_registered_person_is_found_by_bsn_and_read_by_id(api: Api) -> None:
    bsn = new_bsn()
    created = api.post("/fhir/Patient", a_patient(api, bsn))
    pid = created.get_json()["id"]

    found = api.get("/fhir/Patient", query_string={"identifier": f"{BSN_SYSTEM}|{bsn}"})
    read = api.get(created.headers["Location"])

    assert found.status_code == 200
    bundle = found.get_json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert [e["resource"]["id"] for e in bundle["entry"]] == [pid]
    assert bundle["entry"][0]["resource"]["identifier"][0]["value"] == bsn
    assert read.status_code == 200 and read.get_json()["id"] == pid


def test_an_unknown_bsn_finds_no_one(api: Api) -> None:
    bsn = new_bsn()
    found = api.get("/fhir/Patient", query_string={"identifier": f"{BSN_SYSTEM}|{bsn}"})

    assert found.status_code == 200
    assert found.get_json()["total"] == 0
    assert viewed(api, bsn) == []  # no one was shown


def viewed(api: Api, bsn: str) -> list[tuple[str, str]]:
    """The record-viewed audit entries about ``bsn``: (actor, view), oldest first."""
    with api.app.extensions["gateway"].uow(read_only=True) as uow:
        found = audit_log.entries(uow.session, subject=bsn, action=events.RECORD_VIEWED)
        return [(e.actor_id, json.loads(e.record_json)["detail"]["view"]) for e in reversed(found)]


def test_looking_a_person_up_is_audited_with_the_professional_who_looked(api: Api) -> None:
    bsn = new_bsn()
    created = api.post("/fhir/Patient", a_patient(api, bsn))
    assert viewed(api, bsn) == []  # registering is not looking

    api.get("/fhir/Patient", query_string={"identifier": f"{BSN_SYSTEM}|{bsn}"})
    api.get(created.headers["Location"])

    assert viewed(api, bsn) == [(api.practitioner, "patient-search"), (api.practitioner, "patient-read")]


def test_an_unknown_patient_id_is_404(api: Api) -> None:
    resp = api.get("/fhir/Patient/nope")

    assert resp.status_code == 404
    assert reason(resp) == "not-found"


def test_searching_in_another_identifier_system_finds_no_one(api: Api) -> None:
    # FHIR token search: system|value matches in that system only; this node keeps BSNs alone
    bsn = new_bsn()
    api.post("/fhir/Patient", a_patient(api, bsn))
    resp = api.get("/fhir/Patient", query_string={"identifier": f"urn:other|{bsn}"})

    assert resp.status_code == 200
    assert resp.get_json()["total"] == 0 and "entry" not in resp.get_json()


def test_searching_without_an_identifier_is_refused(api: Api) -> None:
    resp = api.get("/fhir/Patient", query_string={"name": "Jansen"})

    assert resp.status_code == 400
    assert reason(resp) == "invalid-request"


@pytest.mark.parametrize("path", ["/fhir/Patient?identifier=" + BSN_SYSTEM + "|" + d.bsn(7), "/fhir/Patient/any"])
def test_reading_people_requires_the_acting_professional(api: Api, path: str) -> None:
    resp = api.get(path, practitioner=None)

    assert resp.status_code == 400
    assert reason(resp) == "invalid-request"
    assert "X-Practitioner" in resp.get_json()["issue"][0]["details"]["text"]


def test_reading_people_requires_a_bearer_token(client: Any) -> None:
    resp = client.get(
        "/fhir/Patient", query_string={"identifier": f"{BSN_SYSTEM}|{d.bsn(7)}"}, headers={"X-Practitioner": "uzi:1"}
    )

    assert resp.status_code == 401
    assert reason(resp) == "unauthenticated"


# --- RelatedPerson -------------------------------------------------------------------


def _relation(api: Api, body: dict[str, Any]) -> Any:
    return api.post("/fhir/RelatedPerson", body)


def test_a_parent_with_custody_is_recorded(api: Api) -> None:
    child = api.created("/fhir/Patient", a_patient(api, new_bsn(), age=8))["id"]

    resp = _relation(api, d.parent_of(child, new_bsn(), mother=True, custody=True))

    assert resp.status_code == 201
    rel = resp.get_json()
    assert rel["id"] and rel["patient"]["reference"] == f"Patient/{child}"
    assert {c["code"] for c in rel["relationship"][0]["coding"]} == {"MTH", "GUARD"}


def test_a_parent_without_custody_is_recorded(api: Api) -> None:
    child = api.created("/fhir/Patient", a_patient(api, new_bsn(), age=8))["id"]

    resp = _relation(api, d.parent_of(child, new_bsn(), mother=False, custody=False))

    assert resp.status_code == 201
    assert {c["code"] for c in resp.get_json()["relationship"][0]["coding"]} == {"FTH"}


def test_a_voogd_who_is_not_a_parent_is_recorded(api: Api) -> None:
    child = api.created("/fhir/Patient", a_patient(api, new_bsn(), age=8))["id"]

    resp = _relation(api, a_voogd(child, new_bsn()))

    assert resp.status_code == 201


def test_a_guardian_institution_is_recorded(api: Api) -> None:
    child = api.created("/fhir/Patient", a_patient(api, new_bsn(), age=8))["id"]

    resp = _relation(api, d.guardian_institution(child, "william-schrikker"))

    assert resp.status_code == 201


@pytest.mark.parametrize("org", ["", "with space", "x" * 65, "-leading-dash"])
def test_a_guardian_institution_needs_a_proper_org_id(api: Api, org: str) -> None:
    child = api.created("/fhir/Patient", a_patient(api, new_bsn(), age=8))["id"]

    resp = _relation(api, d.guardian_institution(child, org))

    assert resp.status_code == 400
    assert reason(resp) == "invalid-request"


def test_a_relation_without_parent_or_custody_role_is_refused(api: Api) -> None:
    child = api.created("/fhir/Patient", a_patient(api, new_bsn(), age=8))["id"]
    body = d.parent_of(child, new_bsn())
    body["relationship"] = [{"coding": [{"system": d.ROLECODE, "code": "FRND"}]}]

    resp = _relation(api, body)

    assert resp.status_code == 400
    assert reason(resp) == "invalid-request"


def test_a_parent_with_an_invalid_bsn_is_refused(api: Api) -> None:
    child = api.created("/fhir/Patient", a_patient(api, new_bsn(), age=8))["id"]

    resp = _relation(api, d.parent_of(child, "123456780"))

    assert resp.status_code == 400
    assert reason(resp) == "invalid-request"


def test_a_relation_to_an_unknown_child_is_404(api: Api) -> None:
    resp = _relation(api, d.parent_of("nope", new_bsn()))

    assert resp.status_code == 404
    assert reason(resp) == "not-found"


def test_recording_custody_again_updates_the_relation(api: Api) -> None:
    child = api.created("/fhir/Patient", a_patient(api, new_bsn(), age=8))["id"]
    parent = new_bsn()
    first = _relation(api, d.parent_of(child, parent, custody=True)).get_json()

    again = _relation(api, d.parent_of(child, parent, custody=False))

    assert again.status_code in (200, 201)
    assert again.get_json()["id"] == first["id"]


@pytest.mark.parametrize("custody", ["joint", "mother", "institution", "voogd"])
def test_a_family_can_be_registered_with_each_kind_of_custody(api: Api, custody: str) -> None:
    family = a_family(api, child_age=9, custody=custody)

    holders = family.custody_holders
    assert holders
    assert all(p.relation for p in holders)
    assert (family.guardian is not None) == (custody in ("institution", "voogd"))
