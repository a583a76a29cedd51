"""GGZ Noord's EHR wrote a signal into the mother's file that belongs to someone else. The
EHR withdraws it: from that moment no summary holds it, and the holder's privacy officer
finds who wrote it and who withdrew it (NEN 7513: writing and removing are logged, not
only sharing). Two real nodes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from audit import events
from gateway.demo import data as d

GGZ_AUTHOR = "uzi:900000101"
WRONG = "Vergist: slaapt op de bank bij de buren"


def test_a_record_the_ehr_withdraws_is_no_longer_shared_and_both_steps_are_audited(fed) -> None:
    ehr = fed.ggz.session("ggz-epd", GGZ_AUTHOR)
    since = fed.audit(fed.ggz)[0]["seq"]
    record = d.observation(fed.ids["mother_ggz"], "signals", WRONG, shareable=True, source_id="wrong-client-1")
    assert ehr.post("/fhir/Observation", record).status_code == 201
    token = fed.consent_token()
    assert WRONG in json.dumps(fed.ask(token).json())

    gone = ehr.delete("/fhir/Observation", identifier="urn:ehr:demo|wrong-client-1")

    assert gone.status_code == 204, gone.text
    after = fed.ask(token)
    assert after.status_code == 200, after.text
    assert WRONG not in json.dumps(after.json())
    assert "Slaapt slecht" in json.dumps(after.json())  # her other records still go out
    again = ehr.delete("/fhir/Observation", identifier="urn:ehr:demo|wrong-client-1")
    assert again.status_code == 404 and again.json()["resourceType"] == "OperationOutcome"

    [deleted, written] = [
        e
        for e in fed.audit(fed.ggz)
        if e["seq"] > since and e["action"] in (events.RECORD_WRITTEN, events.RECORD_DELETED)
    ]
    assert (written["action"], written["actor_id"], written["count"]) == (events.RECORD_WRITTEN, GGZ_AUTHOR, 1)
    assert written["detail"] == {"created": 1, "updated": 0} and written["categories"] == ["signals"]
    assert written["subject"] == deleted["subject"] == d.bsn(1)
    assert deleted["actor_id"] == GGZ_AUTHOR and deleted["on_behalf_of"] == "ggz-epd"
    assert deleted["categories"] == ["signals"]
    assert (deleted["detail"]["source_system"], deleted["detail"]["source_id"]) == ("urn:ehr:demo", "wrong-client-1")


def test_a_record_is_withdrawn_by_its_id_here_only_as_its_own_type(fed) -> None:
    ehr = fed.ggz.session("ggz-epd", GGZ_AUTHOR)
    created = ehr.post("/fhir/CarePlan", d.safety_plan(fed.ids["mother_ggz"], source_id="plan-to-withdraw"))
    assert created.status_code == 201, created.text
    rid = created.json()["id"]

    assert ehr.delete(f"/fhir/Observation/{rid}").status_code == 404  # a CarePlan is not an Observation
    assert ehr.delete(f"/fhir/CarePlan/{rid}").status_code == 204
    assert ehr.delete(f"/fhir/CarePlan/{rid}").status_code == 404
