"""What a generic FHIR client or an EHR vendor expects of a node (issue 21), on both stores.

An EHR pushes, reads back and searches as FHIR R4 defines it; a program reads a refusal's
``expression``; a SMART client finds the token endpoint and gets a scope; and every
canonical or system URL the node writes resolves on the node itself.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from builders import HERE, PARTNER, PURPOSE, Api, new_bsn, reason
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationdefinition import OperationDefinition
from fhir.resources.R4B.structuredefinition import StructureDefinition
from openapi_spec_validator import validate

from adapters.store.models import Record
from gateway.demo import data as d
from gateway.fhir.fhir_in import BSN_SYSTEM
from tests.fhir_validators.validators import unresolved

OURS = "https://jggz-gateway.nl/fhir/"
UZI = "http://fhir.nl/fhir/NamingSystem/uzi-nr-pers"


@pytest.fixture
def api(app: Any, client: Any) -> Api:
    return Api(app, client)


@pytest.fixture
def officer(app: Any, client: Any) -> Api:
    return Api(app, client, client_id="privacy", role="privacy-officer", practitioner="uzi:900000999")


def person(api: Api, *, born: date = date(1990, 2, 3)) -> tuple[str, str]:
    bsn = new_bsn()
    return bsn, api.created("/fhir/Patient", d.patient(bsn, born, "Eva", "Bos"))["id"]


def own_consent(api: Api, pid: str) -> dict[str, Any]:
    """An adult's consent for her own data: this node holds, the partner receives."""
    return d.consent(
        pid,
        [f"Patient/{pid}"],
        recipients=[PARTNER],
        holders=[HERE],
        purpose=PURPOSE,
        categories=["signals"],
        start=date.today(),
    )


def records_stored(api: Api) -> int:
    with api.app.extensions["gateway"].uow(read_only=True) as uow:
        return len(uow.session.query(Record).all())


def issue(resp: Any) -> dict[str, Any]:
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"][0]  # type: ignore[no-any-return]


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --- 6 and 7: refusals a program can act on; invalid input is not stored --------------------


def test_an_observation_with_an_unknown_status_is_refused_naming_the_element(api: Api) -> None:
    _, pid = person(api)
    bogus = d.observation(pid, "signals", "Belt niet terug.", shareable=True, source_id="s-1")
    bogus["status"] = "bogus"

    resp = api.post("/fhir/Observation", bogus)

    assert resp.status_code == 400 and reason(resp) == "invalid-request"
    found = issue(resp)
    assert found["expression"] == ["Observation.status"]
    assert "required value set" in found["diagnostics"]  # English, for the EHR's developers
    assert "Observation.status" in found["details"]["text"] and "onbekende code" in found["details"]["text"]
    assert records_stored(api) == 0


def test_a_consent_without_a_policy_breaks_ppc_1_and_is_not_recorded(api: Api) -> None:
    _, pid = person(api)
    consent = own_consent(api, pid)
    del consent["policyRule"]

    resp = api.post("/fhir/Consent", consent)

    assert resp.status_code == 400 and reason(resp) == "invalid-request"
    assert issue(resp)["expression"] == ["Consent.policyRule", "Consent.policy"]
    assert "ppc-1" in issue(resp)["diagnostics"]
    assert api.get("/fhir/Consent", query_string={"patient": f"Patient/{pid}"}).get_json()["total"] == 0


def test_a_bad_datatype_names_its_element_in_fhirpath(api: Api) -> None:
    _, pid = person(api)
    late = d.observation(pid, "signals", "Belt niet terug.", shareable=True, source_id="s-2")
    late["effectiveDateTime"] = "gisteren"

    resp = api.post("/fhir/Observation", late)

    assert resp.status_code == 400
    found = issue(resp)
    assert found["expression"] == ["Observation.effectiveDateTime"]
    assert found["diagnostics"].startswith("Observation.effectiveDateTime: ")
    assert "ongeldige waarde" in found["details"]["text"]  # Dutch for the professional


def test_a_wrong_method_answers_a_code_its_own_codesystem_defines(api: Api) -> None:
    resp = api.client.put("/fhir/metadata")

    assert resp.status_code == 405
    code = issue(resp)["details"]["coding"][0]["code"]
    served = api.client.get("/fhir/CodeSystem/refusal-reason").get_json()
    assert code in {c["code"] for c in served["concept"]}


# --- 5: content negotiation ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "ttl", "html"])
def test_asking_for_a_format_the_node_does_not_speak_is_406(api: Api, fmt: str) -> None:
    resp = api.client.get("/fhir/metadata", query_string={"_format": fmt})

    assert resp.status_code == 406 and resp.mimetype == "application/fhir+json"
    assert issue(resp)["details"]["coding"][0]["code"] == "not-acceptable"


def test_json_formats_and_wildcards_are_served(api: Api) -> None:
    for fmt in ("json", "application/fhir+json", "application/json"):
        assert api.client.get("/fhir/metadata", query_string={"_format": fmt}).status_code == 200
    assert api.client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"}).status_code == 406
    assert api.client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml, */*;q=0.1"}).status_code == 200


@pytest.mark.parametrize("ctype", ["text/plain", "application/fhir+xml"])
def test_a_body_that_is_not_json_is_415_as_the_openapi_document_promises(api: Api, ctype: str) -> None:
    resp = api.client.post("/fhir/Patient", data=b"<Patient/>", content_type=ctype, headers=api.headers())

    assert resp.status_code == 415
    assert issue(resp)["details"]["coding"][0]["code"] == "unsupported-media-type"
    assert "415" in api.client.get("/openapi.json").get_json()["paths"]["/fhir/Patient"]["post"]["responses"]


# --- 4: create and versioning -----------------------------------------------------------------


def test_a_patient_create_answers_an_absolute_versioned_location_and_etag(api: Api) -> None:
    base = api.app.extensions["gateway"].config.node.url.rstrip("/")
    resp = api.post("/fhir/Patient", d.patient(new_bsn(), date(1990, 2, 3), "Eva", "Bos"))

    assert resp.status_code == 201
    body = resp.get_json()
    assert resp.headers["Location"] == f"{base}/fhir/Patient/{body['id']}/_history/1"
    assert resp.headers["ETag"] == 'W/"1"' and resp.headers["Last-Modified"].endswith("GMT")
    assert body["meta"]["versionId"] == "1" and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", body["meta"]["lastUpdated"])
    again = api.get(path_of(resp.headers["Location"]))
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert api.get(f"/fhir/Patient/{body['id']}").headers["ETag"] == 'W/"1"'


def test_a_record_pushed_again_is_its_next_version_and_reads_back(api: Api) -> None:
    _, pid = person(api)
    signal = d.observation(pid, "signals", "Belt niet terug.", shareable=True, source_id="s-3")
    first = api.post("/fhir/Observation", signal)
    assert first.status_code == 201 and first.headers["Location"].endswith("/_history/1")
    rid = first.get_json()["id"]

    signal["note"] = [{"text": "Nu wel, na twee dagen."}]
    second = api.post("/fhir/Observation", signal)

    assert second.status_code == 200 and second.headers["ETag"] == 'W/"2"'
    read = api.get(f"/fhir/Observation/{rid}")
    assert read.status_code == 200
    assert read.get_json()["meta"]["versionId"] == "2" and read.get_json()["note"][0]["text"].startswith("Nu wel")
    assert api.get(f"/fhir/Observation/{rid}/_history/2").status_code == 200
    assert api.get(f"/fhir/Observation/{rid}/_history/1").status_code == 404  # no history is kept
    assert api.get(f"/fhir/CarePlan/{rid}").status_code == 404  # not a CarePlan


def test_the_same_record_pushed_again_is_not_a_new_version(api: Api) -> None:
    _, pid = person(api)
    signal = d.observation(pid, "signals", "Belt niet terug.", shareable=True, source_id="s-4")
    first = api.post("/fhir/Observation", signal).get_json()

    again = api.post("/fhir/Observation", signal)

    assert again.status_code == 200 and again.headers["ETag"] == 'W/"1"'
    assert again.get_json()["meta"] == first["meta"]


@pytest.mark.parametrize("rtype", ["CarePlan", "CareTeam"])
def test_an_ehr_reads_back_the_plan_and_team_it_pushed(api: Api, rtype: str) -> None:
    _, pid = person(api)
    pushed = d.safety_plan(pid, source_id="p-1") if rtype == "CarePlan" else d.care_team(pid, source_id="t-1")
    rid = api.created(f"/fhir/{rtype}", pushed)["id"]

    read = api.get(f"/fhir/{rtype}/{rid}")

    assert read.status_code == 200 and read.get_json()["resourceType"] == rtype


def test_prefer_return_minimal_and_operation_outcome(api: Api) -> None:
    headers = {**api.headers(), "Prefer": "return=minimal"}
    minimal = api.client.post(
        "/fhir/Patient",
        json=d.patient(new_bsn(), date(1990, 2, 3), "A", "B"),
        content_type="application/fhir+json",
        headers=headers,
    )
    assert minimal.status_code == 201 and minimal.get_data() == b"" and "/_history/1" in minimal.headers["Location"]

    headers["Prefer"] = "return=OperationOutcome"
    told = api.client.post(
        "/fhir/Patient",
        json=d.patient(new_bsn(), date(1990, 2, 3), "C", "D"),
        content_type="application/fhir+json",
        headers=headers,
    )
    assert told.status_code == 201 and issue(told)["severity"] == "information"


def test_a_consent_is_version_2_once_revoked(api: Api) -> None:
    _, pid = person(api)
    created = api.post("/fhir/Consent", own_consent(api, pid))
    cid = created.get_json()["id"]
    assert created.headers["ETag"] == 'W/"1"'

    api.post(f"/fhir/Consent/{cid}/$revoke")

    read = api.get(f"/fhir/Consent/{cid}")
    assert read.get_json()["status"] == "inactive" and read.headers["ETag"] == 'W/"2"'


# --- 2 and 8: search as FHIR defines it ---------------------------------------------------------


def test_consents_are_found_by_a_patient_reference_and_paged(api: Api) -> None:
    _, pid = person(api)
    _, other = person(api)
    for _ in range(3):
        api.created("/fhir/Consent", own_consent(api, pid))
    api.created("/fhir/Consent", own_consent(api, other))

    first = api.get("/fhir/Consent", query_string={"patient": f"Patient/{pid}", "_count": "2"}).get_json()

    assert first["total"] == 3 and len(first["entry"]) == 2
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert parse_qs(urlsplit(links["self"]).query) == {"patient": [f"Patient/{pid}"], "_count": ["2"]}
    second = api.get(path_of(links["next"])).get_json()
    assert len(second["entry"]) == 1 and "next" not in {link["relation"] for link in second["link"]}
    seen = {e["resource"]["id"] for e in first["entry"] + second["entry"]}
    assert len(seen) == 3
    assert api.get("/fhir/Consent", query_string={"patient": pid}).get_json()["total"] == 3
    assert api.get("/fhir/Consent", query_string={"patient": "Practitioner/x"}).get_json()["total"] == 0
    unsupported = api.get("/fhir/Consent", query_string={"patient:identifier": f"{BSN_SYSTEM}|{new_bsn()}"})
    assert unsupported.status_code == 400  # never silently every consent
    only = api.get("/fhir/Consent", query_string={"patient": f"Patient/{pid}", "_summary": "count"}).get_json()
    assert only["total"] == 3 and "entry" not in only


def test_a_patient_is_found_by_bsn_without_a_system_and_by_post(api: Api) -> None:
    bsn, pid = person(api)

    plain = api.get("/fhir/Patient", query_string={"identifier": bsn}).get_json()
    posted = api.client.post("/fhir/Patient/_search", data={"identifier": f"{BSN_SYSTEM}|{bsn}"}, headers=api.headers())

    assert [e["resource"]["id"] for e in plain["entry"]] == [pid]
    assert posted.status_code == 200 and [e["resource"]["id"] for e in posted.get_json()["entry"]] == [pid]
    assert bsn not in json.dumps(posted.get_json()["link"])  # searched by POST: the BSN stays out of URLs


def test_the_privacy_officer_pages_through_a_persons_audit_trail(api: Api, officer: Api) -> None:
    bsn, pid = person(api)
    for _ in range(3):
        api.get(f"/fhir/Patient/{pid}")  # three record-viewed entries about her

    page = officer.get(
        "/fhir/AuditEvent",
        query_string={
            "patient": f"Patient/{pid}",
            "action": "record-viewed",
            "_count": "2",
            "_format": "json",
            "_sort": "-date",
            "_pretty": "true",
            "something-else": "ignored",
        },
    ).get_json()

    assert page["total"] == 3 and len(page["entry"]) == 2
    nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
    assert "something-else" not in nxt and "_offset=2" in nxt
    assert len(officer.get(path_of(nxt)).get_json()["entry"]) == 1
    by_identifier = officer.get(
        "/fhir/AuditEvent", query_string={"patient:identifier": f"{BSN_SYSTEM}|{bsn}", "action": "record-viewed"}
    ).get_json()
    assert by_identifier["total"] == 3
    by_agent = officer.get(
        "/fhir/AuditEvent",
        query_string={
            "agent:identifier": f"{UZI}|{api.practitioner.split(':')[1]}",
            "patient": bsn,
            "action": "record-viewed",
        },
    ).get_json()
    assert by_agent["total"] == 3
    strict = {**officer.headers(), "Prefer": "handling=strict"}
    refused = officer.client.get("/fhir/AuditEvent", query_string={"something-else": "x"}, headers=strict)
    assert refused.status_code == 400 and issue(refused)["expression"] == ["something-else"]


# --- 3: SMART discovery, scopes, RFC 6750 ----------------------------------------------------------


def test_a_smart_client_finds_the_token_endpoint_and_gets_a_scope(api: Api) -> None:
    config = api.client.get("/.well-known/smart-configuration").get_json()
    assert config["token_endpoint"].endswith("/oauth/token")
    assert {"client_secret_basic", "private_key_jwt"} <= set(config["token_endpoint_auth_methods_supported"])

    basic = base64.b64encode(f"{api.client_id}:{api.secret}".encode()).decode()
    granted = api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    ).get_json()

    assert "system/Patient.crs" in granted["scope"].split()
    claims = json.loads(base64.urlsafe_b64decode(granted["access_token"].split(".")[1] + "=="))
    assert claims["scope"] == granted["scope"]
    statement = api.client.get("/fhir/metadata").get_json()
    [oauth] = statement["rest"][0]["security"]["extension"]
    assert oauth["extension"][0]["valueUri"] == config["token_endpoint"]


def test_a_token_asked_for_reading_only_cannot_register_a_person(api: Api) -> None:
    basic = base64.b64encode(f"{api.client_id}:{api.secret}".encode()).decode()
    granted = api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "system/Patient.read"},
        headers={"Authorization": f"Basic {basic}"},
    ).get_json()
    assert granted["scope"] == "system/Patient.rs"
    _, pid = person(api)
    narrow = {"Authorization": f"Bearer {granted['access_token']}", "X-Practitioner": api.practitioner}

    assert api.client.get(f"/fhir/Patient/{pid}", headers=narrow).status_code == 200
    refused = api.client.post(
        "/fhir/Patient",
        json=d.patient(new_bsn(), date(1990, 1, 1), "A", "B"),
        content_type="application/fhir+json",
        headers=narrow,
    )
    assert refused.status_code == 403 and reason(refused) == "forbidden"

    beyond = api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "system/AuditEvent.read"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert beyond.status_code == 400 and beyond.get_json()["error"] == "invalid_scope"


def test_a_bad_bearer_token_is_named_invalid_token(api: Api) -> None:
    bad = api.client.get("/fhir/Patient/x", headers={"Authorization": "Bearer not.a.token"})
    none = api.client.get("/fhir/Patient/x")

    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    assert none.status_code == 401 and "error=" not in none.headers["WWW-Authenticate"]


# --- 1 and 9: conformance resources, generated from one route table ---------------------------------


def test_the_capability_statement_declares_reference_params_and_every_route(api: Api) -> None:
    statement = api.client.get("/fhir/metadata").get_json()
    CapabilityStatement.model_validate(statement)
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    params = {(t, p["name"]): p["type"] for t, r in resources.items() for p in r.get("searchParam", [])}

    assert params[("Consent", "patient")] == "reference"
    assert params[("AuditEvent", "patient")] == "reference" and params[("AuditEvent", "agent")] == "reference"
    assert params[("Patient", "identifier")] == "token"
    assert {"read", "vread", "create", "delete"} <= {i["code"] for i in resources["Observation"]["interaction"]}
    assert "search-type" in {i["code"] for i in resources["Patient"]["interaction"]}
    openapi = api.client.get("/openapi.json").get_json()
    ops = [op for item in openapi["paths"].values() for op in item.values()]
    assert all(op.get("operationId") for op in ops) and len({op["operationId"] for op in ops}) == len(ops)
    dollar = {p.rsplit("$", 1)[1] for p in openapi["paths"] if "$" in p}
    declared = {o["name"] for o in statement["rest"][0]["operation"]}
    declared |= {o["name"] for r in resources.values() for o in r.get("operation", [])}
    assert declared == dollar


def test_the_openapi_document_passes_an_independent_validator(api: Api) -> None:
    validate(api.client.get("/openapi.json").get_json())


def test_the_empty_parameters_body_is_valid_in_the_openapi_document(api: Api) -> None:
    openapi = api.client.get("/openapi.json").get_json()
    body = openapi["paths"]["/fhir/$request-summary"]["post"]["requestBody"]["content"]["application/fhir+json"]
    assert body["schema"]["required"] == ["resourceType"]


def test_every_operation_definition_is_valid_and_names_its_parameters(api: Api) -> None:
    bundle = api.client.get("/fhir/OperationDefinition").get_json()
    by_code = {e["resource"]["code"]: e["resource"] for e in bundle["entry"]}
    for definition in by_code.values():
        OperationDefinition.model_validate(definition)
    summary = {p["name"]: p for p in by_code["request-summary"]["parameter"] if p["use"] == "in"}
    assert summary["partner"]["min"] == 1 and summary["category"]["max"] == "*"
    assert by_code["issue-token"]["instance"] is True and by_code["issue-token"]["resource"] == ["Consent"]


def test_every_served_profile_is_a_valid_structure_definition(api: Api) -> None:
    bundle = api.client.get("/fhir/StructureDefinition").get_json()
    assert bundle["total"] == len(bundle["entry"]) >= 7
    for entry in bundle["entry"]:
        StructureDefinition.model_validate(entry["resource"])
        assert entry["fullUrl"] == entry["resource"]["url"]


def assert_every_canonical_resolves(client: Any, resources: list[dict[str, Any]]) -> int:
    def fetch(path: str, params: dict[str, str]) -> tuple[int, Any]:
        answer = client.get(path, query_string=params)
        return answer.status_code, answer.get_json()

    checked, problems = unresolved(fetch, resources)
    assert problems == []
    return checked


def test_every_canonical_and_system_the_node_emits_resolves_on_the_node(api: Api, officer: Api) -> None:
    bsn, pid = person(api)
    child = api.created("/fhir/Patient", d.patient(new_bsn(), date(2015, 3, 3), "Noor", "Bos"))["id"]
    emitted = [api.created("/fhir/RelatedPerson", d.parent_of(child, bsn))]
    for record in (
        d.observation(pid, "signals", "Belt niet terug.", shareable=True, source_id="c-1"),
        d.safety_plan(pid, source_id="c-2"),
        d.care_team(pid, source_id="c-3"),
    ):
        emitted.append(api.created(f"/fhir/{record['resourceType']}", record))
    cid = api.created("/fhir/Consent", own_consent(api, pid))["id"]
    emitted.append(api.post(f"/fhir/Consent/{cid}/$issue-token").get_json())
    emitted.append(api.post(f"/fhir/Consent/{cid}/$revoke").get_json())
    emitted.append(api.get("/fhir/Consent", query_string={"patient": f"Patient/{pid}"}).get_json())
    emitted.append(api.get("/fhir/Patient", query_string={"identifier": bsn}).get_json())
    emitted.append(api.post("/fhir/Consent", {"resourceType": "Consent"}).get_json())  # an OperationOutcome
    emitted.append(api.client.put("/fhir/metadata").get_json())
    emitted.append(officer.get("/fhir/AuditEvent", query_string={"_count": "1000"}).get_json())
    emitted.append(api.client.get("/fhir/metadata").get_json())
    for kind in ("CodeSystem", "StructureDefinition", "OperationDefinition", "NamingSystem"):
        emitted.append(api.client.get(f"/fhir/{kind}").get_json())

    checked = assert_every_canonical_resolves(api.client, emitted)

    assert checked > 100
    audit_actions = {e["resource"]["subtype"][-1]["code"] for e in emitted[-6]["entry"]}
    assert {"consent-recorded", "consent-revoked", "token-issued", "record-written"} <= audit_actions


def test_an_unknown_conformance_resource_is_not_found(api: Api) -> None:
    assert api.client.get("/fhir/StructureDefinition/nope").status_code == 404
    assert api.client.get("/fhir/CodeSystem", query_string={"url": OURS + "CodeSystem/nope"}).get_json()["total"] == 0
