"""An EHR retries a write after a timeout: with the same ``Idempotency-Key`` nothing is done
twice (issue 20.1), on both stores."""

from __future__ import annotations

import json
from typing import Any

import pytest
from builders import Api, a_consent, a_family, reason, today

from adapters.store.models import ConsentRow
from audit import events
from gateway.repositories import audit_log


@pytest.fixture
def api(app: Any, client: Any) -> Api:
    return Api(app, client)


def send(api: Api, path: str, body: Any, key: str | None, practitioner: str | None = None) -> Any:
    headers = api.headers()
    if practitioner:
        headers["X-Practitioner"] = practitioner
    if key is not None:
        headers["Idempotency-Key"] = key
    return api.client.post(path, json=body, content_type="application/fhir+json", headers=headers)


def consents_in_store(api: Api) -> int:
    with api.app.extensions["gateway"].uow(read_only=True) as uow:
        return len(uow.session.query(ConsentRow).all())


def logged(api: Api, action: str) -> list[dict[str, Any]]:
    with api.app.extensions["gateway"].uow(read_only=True) as uow:
        return [json.loads(e.record_json) for e in audit_log.entries(uow.session, action=action)]


def test_a_retried_consent_with_the_same_key_is_recorded_once(api: Api) -> None:
    fam = a_family(api, child_age=17)
    body = a_consent(fam.child, [fam.child.self_ref], start=today(api.app))

    first = send(api, "/fhir/Consent", body, "epd-7f3a-consent-1")
    again = send(api, "/fhir/Consent", body, "epd-7f3a-consent-1")

    assert first.status_code == 201 and again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert consents_in_store(api) == 1 and len(logged(api, events.CONSENT_RECORDED)) == 1
    # without a key, the EHR asked for a second consent and gets one (as before)
    assert send(api, "/fhir/Consent", body, None).status_code == 201 and consents_in_store(api) == 2


def test_a_key_reused_for_another_request_is_refused_and_changes_nothing(api: Api) -> None:
    fam = a_family(api, child_age=17)
    body = a_consent(fam.child, [fam.child.self_ref], start=today(api.app))
    assert send(api, "/fhir/Consent", body, "k-1").status_code == 201

    other = dict(body, dateTime="2026-01-02T10:00:00+01:00")
    reused = send(api, "/fhir/Consent", other, "k-1")
    other_professional = send(api, "/fhir/Consent", body, "k-1", practitioner="uzi:900000999")

    assert reused.status_code == 422 and reason(reused) == "idempotency-key-reused"
    assert other_professional.status_code == 422
    assert consents_in_store(api) == 1


def test_a_revocation_retried_answers_as_the_first_time_and_a_refusal_is_kept_too(api: Api) -> None:
    fam = a_family(api, child_age=17)
    cid = api.created("/fhir/Consent", a_consent(fam.child, [fam.child.self_ref], start=today(api.app)))["id"]

    first = send(api, f"/fhir/Consent/{cid}/$revoke", None, "rev-1")
    again = send(api, f"/fhir/Consent/{cid}/$revoke", None, "rev-1")
    without_key = send(api, f"/fhir/Consent/{cid}/$revoke", None, None)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json()["status"] == "inactive" and again.headers["Idempotent-Replayed"] == "true"
    assert len(logged(api, events.CONSENT_REVOKED)) == 1
    assert without_key.status_code == 409  # a second revocation without the key is a conflict, as before


def test_keys_belong_to_one_client(app: Any, client: Any) -> None:
    epd = Api(app, client)
    portal = Api(app, client, client_id="portaal")
    fam = a_family(epd, child_age=17)
    body = a_consent(fam.child, [fam.child.self_ref], start=today(app))

    assert send(epd, "/fhir/Consent", body, "shared-key").status_code == 201
    theirs = send(portal, "/fhir/Consent", body, "shared-key")

    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert consents_in_store(epd) == 2


@pytest.mark.parametrize("key", ["", "a" * 256, "sleutel met spaties", "é"])
def test_a_malformed_key_is_refused_before_anything_happens(api: Api, key: str) -> None:
    fam = a_family(api, child_age=17)
    body = a_consent(fam.child, [fam.child.self_ref], start=today(api.app))

    refused = send(api, "/fhir/Consent", body, key)

    assert refused.status_code == 400 and reason(refused) == "invalid-request"
    assert consents_in_store(api) == 0


def test_without_a_token_a_key_claims_nothing(api: Api) -> None:
    resp = api.client.post(
        "/fhir/Consent", json={}, content_type="application/fhir+json", headers={"Idempotency-Key": "k-9"}
    )
    assert resp.status_code == 401
