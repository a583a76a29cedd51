"""Two EHRs work through their nodes, as adapters/README.md shows a vendor (issue 6).

GGZ Noord's EHR pushes a mother's records to its node; a retry, even several at once,
never duplicates one. Jeugdteam West's EHR registers her, records her consent and asks,
on behalf of its professional (``X-Practitioner``), for the summary; after she revokes,
the next question comes back as GGZ Noord's refusal. Two real gunicorn nodes on loopback,
on SQLite and PostgreSQL.

The worked example in adapters/README.md is this test's transcript: run it with
``GATEWAY_EHR_TRANSCRIPT=/tmp/ehr.md`` to write the requests and responses as markdown.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from adapters.store.models import Record
from gateway import config
from gateway.demo import data as d
from gateway.demo import runner as demo
from gateway.demo.loopback import RunningNode
from gateway.node import build

_root = importlib.util.spec_from_file_location("ehr_root_conftest", Path(__file__).parents[1] / "conftest.py")
assert _root is not None and _root.loader is not None
_conftest = importlib.util.module_from_spec(_root)
_root.loader.exec_module(_conftest)

MOTHER = d.bsn(8101)
PROFESSIONAL = "uzi:900000202"  # the youth-care professional who asks
GGZ_AUTHOR = "uzi:900000101"  # the GGZ professional whose EHR pushes the records
LINK = "https://epd.ggz-noord.example/fhir/NamingSystem/dossierregel"  # the EHR's own record ids
CATEGORIES = ["signals", "safety-plan", "care-team"]


class Transcript:
    """The HTTP exchanges of the story, as an EHR vendor would see them (secrets masked)."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    def call(
        self,
        title: str,
        node: RunningNode,
        method: str,
        path: str,
        *,
        token: str | None = None,
        practitioner: str | None = None,
        body: Any = None,
        form: dict[str, str] | None = None,
        basic: tuple[str, str] | None = None,
    ) -> requests.Response:
        headers: dict[str, str] = {}
        shown: dict[str, str] = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
            shown["Authorization"] = "Bearer <access_token>"
        if basic:
            raw = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {raw}"
            shown["Authorization"] = f"Basic <base64 of {basic[0]}:client-secret>"
        if practitioner:
            headers["X-Practitioner"] = shown["X-Practitioner"] = practitioner
        if body is not None:
            headers["Content-Type"] = shown["Content-Type"] = "application/fhir+json"
        if form is not None:
            shown["Content-Type"] = "application/x-www-form-urlencoded"
        resp = requests.request(method, node.url + path, headers=headers, json=body, data=form, timeout=30)
        self.steps.append(self._markdown(title, node, method, path, shown, body, form, resp))
        return resp

    def _markdown(
        self,
        title: str,
        node: RunningNode,
        method: str,
        path: str,
        shown: dict[str, str],
        body: Any,
        form: dict[str, str] | None,
        resp: requests.Response,
    ) -> str:
        host = f"{node.org_id}.example"
        request = [f"{method} {path} HTTP/1.1", f"Host: {host}", *[f"{k}: {v}" for k, v in shown.items()]]
        if form is not None:
            request += ["", "&".join(f"{k}={v}" for k, v in form.items())]
        elif body is not None:
            request += ["", pretty(_masked(body))]
        reply = [f"HTTP/1.1 {resp.status_code} {resp.reason}", f"Content-Type: {resp.headers.get('Content-Type')}"]
        if resp.headers.get("Location"):  # absolute: on the node's public name, as Host is
            reply.append(f"Location: {resp.headers['Location'].replace(node.url, f'https://{host}')}")
        if resp.headers.get("ETag"):
            reply.append(f"ETag: {resp.headers['ETag']}")
        if resp.content:
            reply += ["", pretty(_masked(resp.json()))]
        return f"### {title}\n\n```http\n" + "\n".join(request) + "\n```\n\n```http\n" + "\n".join(reply) + "\n```\n"

    def write(self, path: str) -> None:
        Path(path).write_text("\n".join(self.steps), "utf-8")


def pretty(value: Any, indent: str = "") -> str:
    """JSON as a person reads it: small objects and lists on one line, the rest indented."""
    flat = json.dumps(value, ensure_ascii=False)
    if len(indent) + len(flat) <= 100 or not isinstance(value, (dict, list)) or not value:
        return flat
    inner = indent + "  "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {pretty(v, inner).lstrip()}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    return "[\n" + ",\n".join(inner + pretty(v, inner).lstrip() for v in value) + "\n" + indent + "]"


def _masked(value: Any) -> Any:
    """Tokens and signatures shortened: a vendor needs their place, not their bytes."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("access_token",) or (k == "valueString" and isinstance(v, str) and v.startswith("eyJ")):
                out[k] = v[:16] + "…(JWT)"
            elif k == "data" and isinstance(v, str) and len(v) > 40:
                out[k] = v[:24] + "…(base64 JWS, detached payload)"
            else:
                out[k] = _masked(v)
        return out
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


@pytest.fixture(scope="module", params=_conftest.STORES)
def nodes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    stores = _conftest.StoreFactory(request.param)
    ggz, jeugd = demo.build_federation(
        tmp_path_factory.mktemp(f"ehr-{request.param}"), {"ggz-noord": stores.url(), "jeugdteam-west": stores.url()}
    )
    try:
        yield ggz, jeugd
    finally:
        ggz.stop()
        jeugd.stop()
        stores.cleanup()


def token(t: Transcript, node: RunningNode, client_id: str, title: str) -> str:
    resp = t.call(
        title,
        node,
        "POST",
        "/oauth/token",
        form={"grant_type": "client_credentials"},
        basic=(client_id, node.clients[client_id]),
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def records_bundle(patient_id: str) -> dict[str, Any]:
    def entry(resource: dict[str, Any], source_id: str) -> dict[str, Any]:
        resource["identifier"] = [{"system": LINK, "value": source_id}]
        return {
            "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, LINK + source_id)}",
            "resource": resource,
            "request": {
                "method": "POST",
                "url": resource["resourceType"],
                "ifNoneExist": f"identifier={LINK}|{source_id}",
            },
        }

    signal = d.observation(
        patient_id, "signals", "Slaapt slecht en trekt zich terug; belt dan de SPV.", shareable=True, source_id="x"
    )
    signal["code"].pop("coding", None)  # the EHR's own code would go here; an empty list is not FHIR
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry(signal, "sig-8101-1"),
            entry(d.safety_plan(patient_id, source_id="x"), "plan-8101-1"),
            entry(d.care_team(patient_id, source_id="x"), "team-8101-1"),
        ],
    }


def test_an_ehr_pushes_retries_and_asks_a_summary_for_its_professional(nodes: Any) -> None:
    ggz, jeugd = nodes
    t = Transcript()

    # GGZ Noord's EHR feeds its node.
    g_token = token(t, ggz, "ggz-epd", "1. GGZ Noord's EHR gets an access token (client credentials)")
    mother = t.call(
        "2. It registers the client",
        ggz,
        "POST",
        "/fhir/Patient",
        token=g_token,
        body=d.patient(MOTHER, date(1991, 4, 12), "Sanne", "Jansen"),
    )
    assert mother.status_code == 201, mother.text
    bundle = records_bundle(mother.json()["id"])
    pushed = t.call("3. It pushes her records in one transaction", ggz, "POST", "/fhir", token=g_token, body=bundle)
    assert pushed.status_code == 200, pushed.text
    assert [e["response"]["status"] for e in pushed.json()["entry"]] == ["201 Created"] * 3
    retried = t.call(
        "4. A retry (the answer to 3 was lost) changes nothing", ggz, "POST", "/fhir", token=g_token, body=bundle
    )
    assert retried.status_code == 200, retried.text
    assert [e["response"]["status"] for e in retried.json()["entry"]] == ["200 OK"] * 3
    assert [e["response"]["location"] for e in retried.json()["entry"]] == [
        e["response"]["location"] for e in pushed.json()["entry"]
    ]

    # Jeugdteam West's EHR asks on behalf of its professional.
    j_token = token(t, jeugd, "jeugd-epd", "5. Jeugdteam West's EHR gets an access token")
    here = t.call(
        "6. It registers the mother at its own node",
        jeugd,
        "POST",
        "/fhir/Patient",
        token=j_token,
        body=d.patient(MOTHER, date(1991, 4, 12), "Sanne", "Jansen"),
    )
    assert here.status_code == 201, here.text
    consent = t.call(
        "7. It records her consent",
        jeugd,
        "POST",
        "/fhir/Consent",
        token=j_token,
        practitioner=PROFESSIONAL,
        body=d.consent(
            here.json()["id"],
            [f"Patient/{here.json()['id']}"],
            recipients=[jeugd.org_id],
            holders=[ggz.org_id],
            purpose="joint-safety-planning",
            categories=CATEGORIES,
            start=date.today(),
        ),
    )
    assert consent.status_code == 201, consent.text
    cid = consent.json()["id"]
    issued = t.call(
        "8. It has the node sign a consent token",
        jeugd,
        "POST",
        f"/fhir/Consent/{cid}/$issue-token",
        token=j_token,
        practitioner=PROFESSIONAL,
    )
    assert issued.status_code == 200, issued.text
    consent_token = issued.json()["parameter"][0]["valueString"]
    ask = d.summary_request(
        ggz.org_id,
        MOTHER,
        "joint-safety-planning",
        CATEGORIES,
        token=consent_token,
        note="Met moeder besproken op het spreekuur; zij wil dat de wijkcoach het plan kent.",
    )
    summary = t.call(
        "9. It asks GGZ Noord for the summary, for its professional",
        jeugd,
        "POST",
        "/fhir/$request-summary",
        token=j_token,
        practitioner=PROFESSIONAL,
        body=ask,
    )

    assert summary.status_code == 200, summary.text
    got = summary.json()
    assert got["resourceType"] == "Bundle" and got["signature"]["sigFormat"] == "application/jose"
    assert {e["resource"]["resourceType"] for e in got["entry"]} == {"Observation", "CarePlan", "CareTeam"}
    assert "Slaapt slecht" in json.dumps(got)

    revoked = t.call(
        "10. She revokes her consent",
        jeugd,
        "POST",
        f"/fhir/Consent/{cid}/$revoke",
        token=j_token,
        practitioner=PROFESSIONAL,
    )
    assert revoked.status_code == 200, revoked.text
    refused = t.call(
        "11. The same question is now refused by GGZ Noord",
        jeugd,
        "POST",
        "/fhir/$request-summary",
        token=j_token,
        practitioner=PROFESSIONAL,
        body=ask,
    )

    assert refused.status_code == 403, refused.text
    outcome = refused.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == "consent-revoked"
    if os.environ.get("GATEWAY_EHR_TRANSCRIPT"):
        t.write(os.environ["GATEWAY_EHR_TRANSCRIPT"])


def concurrent_retries(ggz: RunningNode, seed: int) -> tuple[list[requests.Response], int]:
    """Eight copies of one record posted at once; return the answers and the rows stored."""
    api = ggz.session("ggz-epd", GGZ_AUTHOR)
    mother = api.post("/fhir/Patient", d.patient(d.bsn(seed), date(1991, 4, 12), "Eva", "Bos")).json()
    source_id = f"sig-{seed}-1"
    record = d.observation(mother["id"], "signals", "Belt niet terug.", shareable=True, source_id=source_id)
    record["identifier"] = [{"system": LINK, "value": source_id}]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: api.post("/fhir/Observation", record), range(8)))
    node = build(config.load(ggz.home))
    try:
        with node.uow() as uow:
            rows = uow.session.scalar(
                select(func.count())
                .select_from(Record)
                .where(Record.source_system == LINK, Record.source_id == source_id)
            )
    finally:
        node.uow.engine.dispose()
    return answers, int(rows or 0)


def test_retries_of_one_record_at_the_same_moment_never_duplicate_it(nodes: Any) -> None:
    answers, rows = concurrent_retries(nodes[0], 8102)

    assert rows == 1
    created = [a for a in answers if a.status_code == 201]
    assert len(created) == 1, [a.status_code for a in answers]
    assert {a.json()["id"] for a in answers if a.status_code == 200} <= {created[0].json()["id"]}


def test_retries_of_one_record_at_the_same_moment_all_succeed(nodes: Any) -> None:
    answers, _ = concurrent_retries(nodes[0], 8103)

    assert all(a.status_code in (200, 201) for a in answers), [a.status_code for a in answers]
