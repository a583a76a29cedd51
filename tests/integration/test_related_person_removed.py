"""An EHR registered the wrong man as father: the RelatedPerson can be removed, audited, and
from then on the consent form no longer asks him (issue 20.13)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from builders import Api, a_family, reason

from audit import events
from gateway.repositories import audit_log
from gateway.services import lookup


@pytest.fixture
def api(app: Any, client: Any) -> Api:
    return Api(app, client)


def test_a_wrong_father_is_removed_and_no_longer_asked(api: Api) -> None:
    fam = a_family(api, child_age=7)
    node = api.app.extensions["gateway"]
    assert len(lookup.grantors(node, fam.child.patient)[0]) == 2

    gone = api.client.delete(f"/fhir/RelatedPerson/{fam.father.relation}", headers=api.headers())

    assert gone.status_code == 204
    [asked] = lookup.grantors(node, fam.child.patient)[0]
    assert asked.reference == f"RelatedPerson/{fam.mother.relation}"
    with node.uow(read_only=True) as uow:
        [entry] = [json.loads(e.record_json) for e in audit_log.entries(uow.session, action=events.RECORD_DELETED)]
    assert entry["subject"] == fam.child.bsn and entry["resource_types"] == ["RelatedPerson"]
    assert entry["actor_id"] == api.practitioner
    again = api.client.delete(f"/fhir/RelatedPerson/{fam.father.relation}", headers=api.headers())
    assert again.status_code == 404 and reason(again) == "not-found"


def test_only_writers_remove_relations(app: Any, client: Any) -> None:
    writer = Api(app, client)
    fam = a_family(writer, child_age=7)
    officer = Api(app, client, client_id="po", role="privacy-officer")

    assert client.delete(f"/fhir/RelatedPerson/{fam.father.relation}").status_code == 401
    assert (
        officer.client.delete(f"/fhir/RelatedPerson/{fam.father.relation}", headers=officer.headers()).status_code
        == 403
    )
