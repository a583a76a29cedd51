"""Builders for the services tier: a family registered through the registry's use cases on a
fake node, and the actors who act on it."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

from consent import rules
from gateway.demo import data as d
from gateway.fhir import fhir_in
from gateway.repositories.audit_log import Actor
from gateway.services import registry

NURSE = Actor(actor_id="uzi:900000101", role="professional", client_id="web", access_point="web", name="Anna de Vries")
PRIVACY_OFFICER = Actor(actor_id="uzi:900000202", role="privacy-officer", client_id="web", access_point="web")
EHR = Actor(actor_id="client:epd", role="ehr", client_id="epd", access_point="api")

_seeds = itertools.count(7000)


def new_bsn() -> str:
    return d.bsn(next(_seeds))


def born_aged(node: Any, age: int) -> dt.date:
    """Birth date of someone ``age`` years old on the node's Dutch day, far from a birthday."""
    day = rules.day_of(int(node.clock().timestamp())) - dt.timedelta(days=120)
    return day.replace(year=day.year - age)


@dataclass(frozen=True)
class Family:
    child: str  # Patient ids
    mother: str
    mother_bsn: str
    child_bsn: str
    mother_relation: str


def a_family(node: Any, *, child_age: int = 13, mother_custody: bool = True) -> Family:
    """Noor (``child_age``) and her mother Sanne Jansen, registered here, with Sanne as her parent."""
    kid, mum = new_bsn(), new_bsn()
    child, _ = registry.register_person(
        node, fhir_in.patient(d.patient(kid, born_aged(node, child_age), "Noor", "Jansen"))
    )
    node.clock.move(minutes=1)
    mother, _ = registry.register_person(node, fhir_in.patient(d.patient(mum, born_aged(node, 41), "Sanne", "Jansen")))
    rel = registry.add_relation(
        node, fhir_in.related_person(d.parent_of(child["id"], mum, mother=True, custody=mother_custody))
    )
    return Family(child["id"], mother["id"], mum, kid, rel["id"])
