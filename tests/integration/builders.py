"""Builders for integration tests through the local HTTP API (STYLE habit 17).

``Api`` is a Flask test client that carries a local client's bearer token and the acting
professional's ``X-Practitioner``; ``a_family`` registers a child, its parents (each also
as a Patient, so they can consent for their own data) and whoever holds custody, and
returns their ids. Birth dates are set relative to the node's own Dutch calendar day,
which is what the grantor rules are checked against (contract section 6).

Named ``builders``: tests/ has no ``__init__.py``, so module names must be unique.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from consent import rules
from gateway.demo import data as d
from gateway.fhir.fhir_in import BSN_SYSTEM, EXT
from gateway.http import auth

HERE = "ggz-noord"  # the org id conftest's ``home`` is initialised with
PARTNER = "jeugdteam-west"
PRACTITIONER = "uzi:900000101"
PURPOSE = "joint-safety-planning"
CATEGORIES = ("signals", "safety-plan", "care-team")

_seeds = itertools.count(5000)


def new_bsn() -> str:
    """A fresh made-up BSN that passes the eleven-test."""
    return d.bsn(next(_seeds))


def today(app: Any) -> dt.date:
    """The node's Dutch calendar day: the day grantor rules are checked against."""
    return rules.day_of(int(app.extensions["gateway"].clock().timestamp()))


def years_before(day: dt.date, years: int) -> dt.date:
    """The date ``years`` before ``day`` (29 February falls back to 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def born_turning(app: Any, age: int, *, in_days: int = 0) -> dt.date:
    """Birth date of someone whose ``age``-th birthday is ``in_days`` from today (0: today)."""
    return years_before(today(app) + dt.timedelta(days=in_days), age)


def born_aged(app: Any, age: int) -> dt.date:
    """Birth date of someone ``age`` years old, far from any birthday edge."""
    return born_turning(app, age, in_days=-120)


class Api:
    """The Flask test client speaking FHIR JSON as one local client and one professional."""

    def __init__(
        self, app: Any, client: Any, *, client_id: str = "epd", role: str = "ehr", practitioner: str = PRACTITIONER
    ) -> None:
        self.app, self.client, self.practitioner = app, client, practitioner
        self.secret = auth.add_client(app.extensions["gateway"].uow, client_id, role)
        self.client_id = client_id
        self.refresh()

    def refresh(self) -> None:
        """Fetch a new access token (after the node's clock moved)."""
        basic = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        resp = self.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
        self.token = resp.get_json()["access_token"]

    def headers(self, practitioner: str | bool | None = True) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.token}", "Accept": "application/fhir+json"}
        who = self.practitioner if practitioner is True else practitioner
        if who:
            out["X-Practitioner"] = who
        return out

    def get(self, path: str, *, practitioner: str | bool | None = True, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers(practitioner), **kw)

    def post(self, path: str, body: Any = None, *, practitioner: str | bool | None = True) -> Any:
        if body is None:
            return self.client.post(path, headers=self.headers(practitioner))
        return self.client.post(
            path, json=body, content_type="application/fhir+json", headers=self.headers(practitioner)
        )

    def created(self, path: str, body: Any) -> dict[str, Any]:
        """POST and insist on 200/201; return the resource."""
        resp = self.post(path, body)
        assert resp.status_code in (200, 201), resp.get_data(as_text=True)
        return resp.get_json()  # type: ignore[no-any-return]


@contextlib.contextmanager
def on_day(api: Api, day: dt.date) -> Iterator[None]:
    """Run the node as if it were ``day`` (noon, Dutch time), then back to the real clock."""
    node = api.app.extensions["gateway"]
    real = node.clock
    moment = dt.datetime.combine(day, dt.time(12), tzinfo=rules.DUTCH_TIME).astimezone(dt.UTC)
    node.clock = lambda: moment
    api.refresh()
    try:
        yield
    finally:
        node.clock = real
        api.refresh()


@dataclass(frozen=True)
class Person:
    """Someone registered here: their Patient id (if any), BSN and, for the child, relation id."""

    bsn: str
    patient: str | None = None
    relation: str | None = None  # the RelatedPerson id linking them to the child

    @property
    def ref(self) -> str:
        """Reference as a performer of the child's consent."""
        assert self.relation, "not related to the child"
        return f"RelatedPerson/{self.relation}"

    @property
    def self_ref(self) -> str:
        """Reference as a performer of their own consent."""
        assert self.patient, "not registered as a Patient"
        return f"Patient/{self.patient}"


@dataclass(frozen=True)
class Family:
    child: Person
    born: dt.date
    mother: Person
    father: Person
    guardian: Person | None  # a voogd (bsn) or a certified institution (org id in ``bsn``)
    mother_holds: bool = True
    father_holds: bool = True

    @property
    def custody_holders(self) -> list[Person]:
        """Everyone holding gezag over the child, as they were registered."""
        pairs = ((self.mother, self.mother_holds), (self.father, self.father_holds), (self.guardian, True))
        return [p for p, holds in pairs if p is not None and holds]


CUSTODY = ("joint", "mother", "institution", "voogd")


def a_family(
    api: Api,
    child_age: int = 13,
    custody: str = "joint",
    *,
    born: dt.date | None = None,
    institution: str = "william-schrikker",
) -> Family:
    """Register a child, both parents and the custody holders through the API.

    ``custody``: ``joint`` (both parents hold gezag), ``mother`` (only the mother; the
    father is a parent without gezag), ``institution`` (a certified institution is voogd,
    the parents are without gezag) or ``voogd`` (a person, not a parent, is voogd).
    """
    assert custody in CUSTODY, custody
    child_born = born or born_aged(api.app, child_age)
    kid, mum, dad = new_bsn(), new_bsn(), new_bsn()
    child = api.created("/fhir/Patient", d.patient(kid, child_born, "Noor", "Jansen"))["id"]
    mum_id = api.created("/fhir/Patient", d.patient(mum, born_aged(api.app, 41), "Sanne", "Jansen"))["id"]
    dad_id = api.created("/fhir/Patient", d.patient(dad, born_aged(api.app, 43), "Erik", "de Boer"))["id"]
    mother_holds = custody in ("joint", "mother")
    father_holds = custody == "joint"
    mum_rel = api.created("/fhir/RelatedPerson", d.parent_of(child, mum, mother=True, custody=mother_holds))["id"]
    dad_rel = api.created("/fhir/RelatedPerson", d.parent_of(child, dad, mother=False, custody=father_holds))["id"]
    guardian = None
    if custody == "institution":
        rel = api.created("/fhir/RelatedPerson", d.guardian_institution(child, institution))["id"]
        guardian = Person(bsn=institution, relation=rel)
    elif custody == "voogd":
        voogd = new_bsn()
        rel = api.created("/fhir/RelatedPerson", a_voogd(child, voogd))["id"]
        guardian = Person(bsn=voogd, relation=rel)
    return Family(
        child=Person(kid, child),
        born=child_born,
        mother=Person(mum, mum_id, mum_rel),
        father=Person(dad, dad_id, dad_rel),
        guardian=guardian,
        mother_holds=mother_holds,
        father_holds=father_holds,
    )


def a_voogd(child_id: str, voogd_bsn: str) -> dict[str, Any]:
    """A RelatedPerson for a voogd who is not a parent: GUARD only."""
    return {
        "resourceType": "RelatedPerson",
        "patient": {"reference": f"Patient/{child_id}"},
        "identifier": [{"system": BSN_SYSTEM, "value": voogd_bsn}],
        "relationship": [{"coding": [{"system": d.ROLECODE, "code": "GUARD"}]}],
    }


def a_consent(
    subject: Person | str,
    performers: list[str],
    *,
    start: dt.date,
    days: int = 365,
    refused_by: list[str] | None = None,
    consulted: list[str] | None = None,
    decision: str = "permit",
    purpose: str = PURPOSE,
    categories: tuple[str, ...] = CATEGORIES,
) -> dict[str, Any]:
    """A Consent for ``subject`` (a Person or a Patient id): this node holds, the partner receives."""
    pid = subject if isinstance(subject, str) else subject.patient
    assert pid
    res = d.consent(
        pid,
        performers,
        recipients=[PARTNER],
        holders=[HERE],
        purpose=purpose,
        categories=list(categories),
        start=start,
        days=days,
        refused_by=refused_by,
        decision=decision,
    )
    if consulted:
        res.setdefault("extension", []).extend(
            {"url": EXT + "consulted", "valueReference": {"reference": r}} for r in consulted
        )
    return res


def reason(resp: Any) -> str:
    """The stable reason code of an OperationOutcome response."""
    body = resp.get_json()
    assert body["resourceType"] == "OperationOutcome", body
    return body["issue"][0]["details"]["coding"][0]["code"]  # type: ignore[no-any-return]


def explanation(resp: Any) -> str:
    """The (Dutch) text of an OperationOutcome response."""
    return resp.get_json()["issue"][0]["details"]["text"]  # type: ignore[no-any-return]
