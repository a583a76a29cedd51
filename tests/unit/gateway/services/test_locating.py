"""A partner looks for who is involved with a person (contract section 8), on fakes: only those
who agreed to be findable are found, and a partner that floods is told to wait."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import uuid
from typing import Any

import pytest
from fakes import ORG
from services_builders import NURSE, a_family, new_bsn

from adapters import psi
from adapters.store.models import ConsentRow
from audit import events
from consent import rules
from contract.errors import InvalidRequest, LocatorEpochChanged, NodeBusy
from gateway.fhir import parameters
from gateway.services import locator, lookup, registry

PARTNER = "jeugdteam-west"


def findable(node: Any, person_id: str, bsn: str, *, status: str = "active") -> None:
    """Record that the (adult) person agreed to be findable here; the epoch moves on with it."""
    today = rules.day_of(int(node.clock().timestamp()))
    cid = uuid.uuid4().hex
    node.store.consents[cid] = ConsentRow(  # as the consent registry commits it (not under test here)
        id=cid,
        subject_id=person_id,
        status=status,
        decision="permit",
        purpose=locator.FINDABLE,
        categories=json.dumps([locator.INVOLVEMENT]),
        recipients=json.dumps([PARTNER]),
        holders=json.dumps([ORG]),
        grantors=json.dumps([f"bsn:{bsn}"]),
        refusals="[]",
        consulted="[]",
        period_start=today,
        period_end=None,
        resource="{}",
        created_at=node.clock(),
        revoked_at=None,
        recorded_by=NURSE.actor_id,
        revoked_by="",
    )
    with node.uow() as uow:  # the consent registry moves the epoch on in the same transaction
        locator.bump(uow, node)
        uow.commit()


def search(node: Any, *bsns: str) -> list[str]:
    """What the partner learns: which of ``bsns`` are findable here."""
    answer = {
        p["name"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in locator.serve_setup(node, PARTNER)["parameter"]
    }
    query = psi.Query(list(bsns))
    body = parameters.build(
        epoch=("valueString", answer["epoch"]), request=("valueBase64Binary", base64.b64encode(query.request).decode())
    )
    reply = parameters.read(
        locator.answer_match(node, locator.read_match(node, lambda: body, PARTNER)),
        {"response": parameters.Spec("valueBase64Binary", required=True, max_len=10**7)},
    )
    return query.matches(base64.b64decode(answer["setup"]), base64.b64decode(reply["response"]))


@pytest.fixture
def located(node: Any) -> Any:
    node.config.locator = dataclasses.replace(node.config.locator, rate_per_minute=10)
    node.locator = locator.Locator(node)
    return node


def test_a_mother_who_agreed_to_be_findable_is_found_and_her_neighbour_is_not(located: Any) -> None:
    family = a_family(located)
    findable(located, family.mother, family.mother_bsn)
    located.locator.refresh()
    assert search(located, family.mother_bsn, new_bsn()) == [family.mother_bsn]
    answered = [e.record for e in located.store.audit if e.record.action == events.LOCATOR_MATCH_ANSWERED]
    assert [(r.outcome, r.peer_org, r.subject) for r in answered] == [(events.SUCCESS, PARTNER, "")]


def test_a_withdrawn_findability_is_not_found(located: Any) -> None:
    family = a_family(located)
    findable(located, family.mother, family.mother_bsn, status="revoked")
    located.locator.refresh()
    assert search(located, family.mother_bsn) == []


def test_a_stale_setup_is_refused_once_the_epoch_moved_on(located: Any) -> None:
    family = a_family(located)
    located.locator.refresh()
    old = located.locator.epoch().id
    findable(located, family.mother, family.mother_bsn)
    body = parameters.build(
        epoch=("valueString", old), request=("valueBase64Binary", base64.b64encode(psi.Query(["x"]).request).decode())
    )
    with pytest.raises(LocatorEpochChanged):
        locator.answer_match(located, locator.read_match(located, lambda: body, PARTNER))
    assert located.store.audit[-1].record.outcome == events.REFUSED


def test_a_partner_over_its_rate_is_told_to_wait_and_the_refusal_is_audited(located: Any) -> None:
    located.config.locator = dataclasses.replace(located.config.locator, rate_per_minute=2)
    located.locator.refresh()
    locator.serve_setup(located, PARTNER)
    locator.serve_setup(located, PARTNER)
    with pytest.raises(NodeBusy) as busy:
        locator.serve_setup(located, PARTNER)
    assert busy.value.retry_after >= 1
    last = located.store.audit[-1].record
    assert (last.outcome, last.reason_code) == (events.REFUSED, NodeBusy.code)


def test_a_malformed_request_is_refused_before_anything_is_looked_up(located: Any) -> None:
    located.locator.refresh()
    with pytest.raises(InvalidRequest):
        locator.read_match(
            located, lambda: parameters.build(epoch=("valueString", "e"), request=("valueBase64Binary", "!!")), PARTNER
        )
    assert located.store.audit[-1].record.outcome == events.REFUSED


def test_a_worker_that_exits_waits_for_the_setup_it_is_building(located: Any) -> None:
    """gunicorn's ``worker_exit`` stops the locator: its loop and its build have ended when
    ``stop`` returns, so no thread is left inside the PSI library as the process exits."""
    family = a_family(located)
    findable(located, family.mother, family.mother_bsn)
    before = set(threading.enumerate())
    located.locator.start()
    located.locator.kick()
    started = set(threading.enumerate()) - before
    located.locator.stop()
    assert all(not t.is_alive() for t in started)
    assert located.locator.current()[0].id == located.locator.epoch().id  # the build it waited for


def test_a_professional_finds_a_client_by_bsn_and_by_name_and_the_look_is_logged(node: Any) -> None:
    family = a_family(node)
    [found] = registry.find_person(node, family.child_bsn, NURSE)
    assert found["id"] == family.child
    viewed = node.store.audit[-1].record
    assert (viewed.action, viewed.subject, viewed.detail["view"]) == (
        events.RECORD_VIEWED,
        family.child_bsn,
        "patient-search",
    )
    assert [c.name for c in lookup.find_by_name(node, "jansen")] == ["Noor Jansen", "Sanne Jansen"]
    assert [c.id for c in lookup.find_by_name(node, "noor JANSEN")] == [family.child]


def test_looking_for_something_that_is_not_a_bsn_never_reaches_the_store(node: Any) -> None:
    with pytest.raises(InvalidRequest):
        registry.find_person(node, "12345678\x00", NURSE)
    assert node.store.audit == []
