"""A day of exchanges between two CLI-started nodes, seen by their privacy officers.

Issue 5, "Done when": both logs verify, reconcile with no differences, the person's
disclosure report lists exactly what was disclosed, and any single edit, deletion,
reordering or cut tail makes ``gateway audit verify`` fail and name the place.
"""

from __future__ import annotations

import contextlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from sqlalchemy import text

from gateway import config
from gateway.cli.main import main as cli
from gateway.demo import data as d
from gateway.demo import runner as demo
from gateway.node import build

pytestmark = pytest.mark.scenario


def gateway(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(list(args))
    return code, out.getvalue(), err.getvalue()


def a_day_of_exchanges(ggz: Any, jeugd: Any, ids: dict[str, Any]) -> dict[str, Any]:
    """Two disclosures, a refusal outside the consent, a revocation and the refusal after it."""
    j = jeugd.session("jeugd-epd", "uzi:900000202")
    consent = j.post(
        "/fhir/Consent",
        d.consent(
            ids["mother_jeugd"],
            [f"Patient/{ids['mother_jeugd']}"],
            recipients=[jeugd.org_id],
            holders=[ggz.org_id],
            purpose="joint-safety-planning",
            categories=demo.CATEGORIES,
            start=date.today(),
        ),
    )
    assert consent.status_code == 201, consent.text
    cid = consent.json()["id"]
    ask = d.summary_request(ggz.org_id, demo.MOTHER, "joint-safety-planning", ["signals", "care-team"])
    first = j.post("/fhir/$request-summary", ask)
    second = j.post(
        "/fhir/$request-summary", d.summary_request(ggz.org_id, demo.MOTHER, "joint-safety-planning", ["safety-plan"])
    )
    tok = j.post(f"/fhir/Consent/{cid}/$issue-token").json()["parameter"][0]["valueString"]
    outside = j.post(
        "/fhir/$request-summary",
        d.summary_request(ggz.org_id, demo.MOTHER, "joint-safety-planning", ["parenting"], token=tok),
    )
    j.post(f"/fhir/Consent/{cid}/$revoke")
    after = j.post(
        "/fhir/$request-summary",
        d.summary_request(ggz.org_id, demo.MOTHER, "joint-safety-planning", ["signals"], token=tok),
    )
    assert [first.status_code, second.status_code, outside.status_code, after.status_code] == [200, 200, 403, 403]
    # and one safety disclosure under the meldcode (issue 20.6: both sides must agree on it)
    ggz.add_client("ggz-spv", "professional")
    spv = ggz.session("ggz-spv", "uzi:900000111")
    pushed = spv.post(
        "/fhir/$safety-disclosure",
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "recipient", "valueString": jeugd.org_id},
                {
                    "name": "subject",
                    "valueIdentifier": {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": demo.MOTHER},
                },
                {"name": "category", "valueCoding": {"system": d.CATEGORY_SYSTEM, "code": "signals"}},
                {"name": "legal-ground", "valueCode": "meldcode"},
                {"name": "justification", "valueString": "Moeder is ontregeld en alleen met de kinderen; meldcode."},
            ],
        },
    )
    assert pushed.status_code == 200, pushed.text
    return {"disclosed": [first.json()["id"], second.json()["id"]]}


def test_after_a_day_both_logs_verify_reconcile_and_report_what_was_disclosed(federation) -> None:
    ggz, jeugd, ids = federation
    day = a_day_of_exchanges(ggz, jeugd, ids)

    for node in (ggz, jeugd):
        code, out, err = gateway("audit", "verify", str(node.home))
        assert code == 0, err
        assert out.startswith("intact")
    for node, other in ((jeugd, ggz), (ggz, jeugd)):
        code, out, err = gateway("audit", "reconcile", str(node.home), "--partner", other.org_id)
        assert code == 0, out + err
        assert "no differences" in out

    # The holder's report for the mother lists exactly the two disclosures.
    code, report, _ = gateway("audit", "report", str(ggz.home), "--subject", demo.MOTHER)
    assert code == 0
    assert "jeugdteam-west" in report
    assert report.count("<tr") - report.count("<tr><th") >= 2
    # Nothing about the child: she was not the subject of any exchange.
    code, other_report, _ = gateway("audit", "report", str(ggz.home), "--subject", demo.CHILD)
    assert "jeugdteam-west" not in other_report.split("Wat wij over u hebben gedeeld")[1].split("<h2>")[0]

    # The FHIR export carries every disclosure as an AuditEvent with the exchange id.
    code, exported, _ = gateway("audit", "export", str(ggz.home), "--format", "fhir")
    bundle = json.loads(exported)
    texts = json.dumps(bundle)
    for exchange_id in day["disclosed"]:
        assert exchange_id in texts
    code, csv_out, _ = gateway("audit", "export", str(ggz.home), "--format", "csv")
    assert csv_out.splitlines()[0].startswith("seq,")


def test_only_the_privacy_officer_reads_audit_events(federation) -> None:
    ggz, jeugd, ids = federation
    a_day_of_exchanges(ggz, jeugd, ids)
    ehr = jeugd.session("jeugd-epd")
    denied = ehr.get("/fhir/AuditEvent", patient=demo.MOTHER)
    assert denied.status_code == 403
    assert denied.json()["resourceType"] == "OperationOutcome"
    officer = jeugd.session("privacy-west", practitioner="uzi:900000999")
    found = officer.get("/fhir/AuditEvent", patient=demo.MOTHER)
    assert found.status_code == 200, found.text
    events = [e["resource"] for e in found.json()["entry"]]
    assert events and all(e["resourceType"] == "AuditEvent" for e in events)

    for e in events:
        AuditEvent.model_validate(e)
    # reading the log is itself logged
    again = officer.get("/fhir/AuditEvent", action="audit-read")
    assert again.json()["total"] >= 1

    # a search the log could not record as asked is refused in Dutch, not a 500 (found by fuzzing)
    for bad in (
        {"patient": "12345678X"},
        {"patient": "123456789"},
        {"agent": "uzi:9\x00"},
        {"purpose": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl"},
    ):
        refused = officer.get("/fhir/AuditEvent", **bad)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "invalid-request"


def test_a_privacy_officer_reads_the_log_only_as_a_named_person(federation) -> None:
    """Issue 13 item 8: contract section 3 asks X-Practitioner on every call that reads data;
    reading the log is reading data, and the read is logged under that person's name."""
    ggz, jeugd, ids = federation
    anonymous = jeugd.session("privacy-west", practitioner=None)
    report = {
        "resourceType": "Parameters",
        "parameter": [{"name": "subject", "valueIdentifier": {"system": d.BSN_SYSTEM, "value": demo.MOTHER}}],
    }
    for resp in (
        anonymous.get("/fhir/AuditEvent", patient=demo.MOTHER),
        anonymous.post("/fhir/$disclosure-report", report),
    ):
        assert resp.status_code == 400, resp.text
        assert resp.json()["issue"][0]["details"]["coding"][0]["code"] == "invalid-request"
        assert "X-Practitioner" in resp.json()["issue"][0]["details"]["text"]
    officer = jeugd.session("privacy-west", practitioner="uzi:900000999")
    assert officer.post("/fhir/$disclosure-report", report).status_code == 200
    reads = officer.get("/fhir/AuditEvent", action="audit-read").json()["entry"]
    agents = {
        a["who"]["identifier"]["value"]
        for e in reads
        for a in e["resource"]["agent"]
        if "identifier" in a.get("who", {})
    }
    assert "900000999" in agents  # the UZI number of the officer who read it


def test_audit_events_are_found_by_date_and_a_date_that_is_none_is_refused(federation) -> None:
    """Issue 13 item 9: dates are compared as dates; ge2025-13-45 returned entries."""
    ggz, jeugd, ids = federation
    a_day_of_exchanges(ggz, jeugd, ids)
    officer = jeugd.session("privacy-west", practitioner="uzi:900000999")
    today = date.today().isoformat()  # the log's days are UTC days; the test runs far from midnight or not

    def total(*dates: str) -> int:
        resp = officer.get("/fhir/AuditEvent", date=list(dates), _count="1000")
        assert resp.status_code == 200, (dates, resp.text)
        return resp.json()["total"]  # type: ignore[no-any-return]

    everything = total("ge2000-01-01")
    assert everything > 0
    assert total("lt2000") == 0 and total("gt9999") == 0 and total("le1999-12-31") == 0
    assert total(f"ge{today[:4]}", "lt9999") >= everything
    assert total(f"ge{today[:7]}", f"le{today[:4]}-12") > 0
    assert total("ge2000-01-01T00:00:00Z", "lt2000-01-02T00:00:00+01:00") == 0
    for bad in (
        "ge2025-13-45",
        "2025-02-30",
        "ge2025-1-1",
        "ne2025-01-01",
        "sa2025",
        "ge2025-01-01T10:00",
        "ge2025-01-01T25:00:00Z",
        "geyesterday",
        "ge",
        "",
        "ge2025-01-01 ",
        "ge٢٠٢٥",
    ):
        refused = officer.get("/fhir/AuditEvent", date=bad)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "invalid-request"


def _tamper(home: Any, sql: str) -> None:
    node = build(config.load(home))
    try:
        with node.uow.engine.begin() as conn:
            if node.uow.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(text(statement))
    finally:
        node.uow.engine.dispose()


@pytest.mark.parametrize(
    "tampering",
    [
        "UPDATE audit_entries SET purpose = 'referral' WHERE seq = {t}",
        "UPDATE audit_entries SET record_json = replace(record_json, 'joint-safety-planning', 'referral') WHERE seq = {t}",
        "DELETE FROM audit_entries WHERE seq = {t}",
        "UPDATE audit_entries SET seq = 100000 WHERE seq = {t}; UPDATE audit_entries SET seq = {t} WHERE seq = {t} + 1; "
        "UPDATE audit_entries SET seq = {t} + 1 WHERE seq = 100000",
        "DELETE FROM audit_entries WHERE seq = {last}",
    ],
    ids=["edit-column", "edit-record", "delete", "reorder", "cut-tail"],
)
def test_any_single_tampering_is_found_and_named(federation, tampering: str) -> None:
    ggz, jeugd, ids = federation
    a_day_of_exchanges(ggz, jeugd, ids)
    home = jeugd.home
    jeugd.stop()
    last = _last_seq(home)
    target = _first_disclosure_seq(home)  # a row that names the purpose, mid-chain
    _tamper(home, tampering.format(t=target, last=last))
    code, out, err = gateway("audit", "verify", str(home))
    assert code == 1
    assert "audit log broken at entry" in err
    named = int(err.split("entry ")[1].split(":")[0])
    assert named == (last if "{last}" in tampering else target)


def _first_disclosure_seq(home: Any) -> int:
    node = build(config.load(home))
    try:
        with node.uow.engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT min(seq) FROM audit_entries WHERE purpose = 'joint-safety-planning'")
                ).scalar_one()
            )
    finally:
        node.uow.engine.dispose()


def _last_seq(home: Any) -> int:
    node = build(config.load(home))
    try:
        with node.uow.engine.connect() as conn:
            return int(conn.execute(text("SELECT max(seq) FROM audit_entries")).scalar_one())
    finally:
        node.uow.engine.dispose()


def test_concurrent_exchanges_on_several_workers_keep_both_chains_intact(federation) -> None:
    """Two gunicorn workers per node append at once; the chain stays linear and complete."""
    ggz, jeugd, ids = federation
    j = jeugd.session("jeugd-epd", "uzi:900000202")
    consent = j.post(
        "/fhir/Consent",
        d.consent(
            ids["mother_jeugd"],
            [f"Patient/{ids['mother_jeugd']}"],
            recipients=[jeugd.org_id],
            holders=[ggz.org_id],
            purpose="joint-safety-planning",
            categories=demo.CATEGORIES,
            start=date.today(),
        ),
    )
    tok = j.post(f"/fhir/Consent/{consent.json()['id']}/$issue-token").json()["parameter"][0]["valueString"]
    ask = d.summary_request(ggz.org_id, demo.MOTHER, "joint-safety-planning", ["signals"], token=tok)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: j.post("/fhir/$request-summary", ask).status_code, range(24)))
    assert statuses == [200] * 24
    counts = {}
    for node, action in ((ggz, "disclosure-sent"), (jeugd, "summary-received")):
        code, out, err = gateway("audit", "verify", str(node.home))
        assert code == 0, err
        built = build(config.load(node.home))
        try:
            with built.uow.engine.connect() as conn:
                counts[action] = conn.execute(
                    text("SELECT count(*) FROM audit_entries WHERE action = :a"), {"a": action}
                ).scalar_one()
        finally:
            built.uow.engine.dispose()
    assert counts == {"disclosure-sent": 24, "summary-received": 24}
