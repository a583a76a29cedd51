"""Through the API: a refusal is recorded as a Consent with status ``rejected`` (issue 20.4),
and ``$revoke`` records who withdrew."""

from __future__ import annotations

from typing import Any

import pytest
from builders import Api, a_consent, a_family, reason, today


@pytest.fixture
def api(app: Any, client: Any) -> Api:
    return Api(app, client)


def refusal(fam: Any, refused: list[str], agreed: list[str], day: Any) -> dict[str, Any]:
    body = a_consent(fam.child, agreed, start=day, refused_by=refused)
    body["status"] = "rejected"
    if not agreed:  # nobody agreed: no performer at all (an empty array is invalid FHIR, ele-1)
        body.pop("performer", None)
    return body


def test_a_custody_holders_refusal_is_recorded_and_gives_no_token(api: Api) -> None:
    fam = a_family(api, child_age=7)

    kept = api.post("/fhir/Consent", refusal(fam, [fam.father.ref], [fam.mother.ref], today(api.app)))

    assert kept.status_code == 201 and kept.get_json()["status"] == "rejected"
    cid = kept.get_json()["id"]
    assert api.get(f"/fhir/Consent/{cid}").get_json()["status"] == "rejected"
    no_token = api.post(f"/fhir/Consent/{cid}/$issue-token")
    assert no_token.status_code == 403 and reason(no_token) == "consent-revoked"
    assert api.post(f"/fhir/Consent/{cid}/$revoke").status_code == 409


def test_a_refusal_must_name_a_required_party(api: Api) -> None:
    fam = a_family(api, child_age=7)
    nobody = a_consent(fam.child, [fam.mother.ref], start=today(api.app))
    nobody["status"] = "rejected"

    assert reason(api.post("/fhir/Consent", nobody)) == "invalid-request"
    teen = a_family(api, child_age=17)
    by_parent = refusal(teen, [teen.mother.ref], [], today(api.app))  # at 17 only the young person decides
    assert reason(api.post("/fhir/Consent", by_parent)) == "grantors-insufficient"


def test_revoke_names_who_withdrew_and_refuses_someone_who_did_not_consent(api: Api) -> None:
    fam = a_family(api, child_age=7)
    cid = api.created("/fhir/Consent", a_consent(fam.child, [fam.mother.ref, fam.father.ref], start=today(api.app)))[
        "id"
    ]

    def revoke(ref: str) -> Any:
        return api.post(
            f"/fhir/Consent/{cid}/$revoke",
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "withdrawn-by", "valueReference": {"reference": ref}}],
            },
        )

    assert reason(revoke(f"Patient/{fam.child.patient}")) == "invalid-request"
    done = revoke(fam.father.ref)
    assert done.status_code == 200 and done.get_json()["status"] == "inactive"
