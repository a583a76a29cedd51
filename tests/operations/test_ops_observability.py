"""The IT department watches the node: a Prometheus scrape and JSON log lines, never client data.

Two real nodes (gunicorn, two workers each) play the demo story: a consented summary,
then a revoked consent refused. Jeugdteam West has ``[metrics] bind`` set; the test
scrapes it and parses the text with ``prometheus_client``'s own parser, and reads both
nodes' log lines as JSON, following one correlation id from one node to the other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from ops_support import set_in_section
from prometheus_client.parser import text_string_to_metric_families

from gateway.demo import runner as demo
from gateway.demo.loopback import free_port, run_cli
from tests.conftest import STORES, StoreFactory

NAMES = ("Sanne", "Jansen", "Noor")


@pytest.fixture(scope="module", params=STORES)
def story(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    factory = StoreFactory(request.param)
    root = tmp_path_factory.mktemp("observed")
    ggz, jeugd = demo.build_federation(root, {"ggz-noord": factory.url(), "jeugdteam-west": factory.url()})
    try:
        ids = demo.load_families(ggz, jeugd)
        jeugd.stop()
        port = free_port()
        set_in_section(jeugd.home, "metrics", f'bind = "127.0.0.1:{port}"\n')
        jeugd.start()
        played = demo.play(ggz, jeugd, ids, echo=lambda *_: None)
        assert played["first"].status_code == 200 and played["second"].status_code == 403
        # a search with a BSN in the query string: neither the scrape nor a log line may show it
        jeugd.session("jeugd-epd").get(
            "/fhir/Patient", identifier=f"http://fhir.nl/fhir/NamingSystem/bsn|{demo.MOTHER}"
        )
        yield {"ggz": ggz, "jeugd": jeugd, "metrics": f"http://127.0.0.1:{port}/metrics"}
    finally:
        ggz.stop()
        jeugd.stop()
        factory.cleanup()


def _samples(text: str) -> list[Any]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _value(samples: list[Any], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_a_scrape_counts_requests_per_operation_and_outcome_and_partner_calls(story: dict[str, Any]) -> None:
    resp = requests.get(story["metrics"], timeout=5)
    assert resp.status_code == 200
    samples = _samples(resp.text)

    assert (
        _value(samples, "gateway_requests_total", operation="/fhir/$request-summary", outcome="ok", status="200") >= 1
    )
    assert (
        _value(
            samples,
            "gateway_requests_total",
            operation="/fhir/$request-summary",
            outcome="consent-revoked",
            status="403",
        )
        >= 1
    )
    assert _value(samples, "gateway_request_duration_seconds_count", operation="/fhir/$request-summary") >= 2
    # the holder called us back for the consent's status: a partner request, counted as such
    assert _value(samples, "gateway_requests_total", operation="/fhir/$consent-status", outcome="ok") >= 1
    assert (
        _value(
            samples, "gateway_partner_call_duration_seconds_count", partner="ggz-noord", operation="behaviour-summary"
        )
        >= 2
    )
    assert _value(samples, "gateway_audit_appends_total") >= 3
    assert any(s.name == "gateway_db_connections_in_use" for s in samples)
    assert _value(samples, "gateway_store_up") == 1
    assert _value(samples, "gateway_partners_trusted") == 1


def test_the_chain_length_in_the_scrape_is_the_audit_log_s_own(story: dict[str, Any]) -> None:
    verified = run_cli("audit", "verify", str(story["jeugd"].home))
    entries = int(re.search(r"intact: (\d+) entries", verified).group(1))  # type: ignore[union-attr]
    samples = _samples(requests.get(story["metrics"], timeout=5).text)
    # verify itself appends an audit-read entry after it counts: the scrape sees that one too
    assert _value(samples, "gateway_audit_chain_length") in (entries, entries + 1)


def test_the_scrape_holds_no_bsn_name_or_token(story: dict[str, Any]) -> None:
    text = requests.get(story["metrics"], timeout=5).text
    assert demo.MOTHER not in text and demo.CHILD not in text
    assert not any(name in text for name in NAMES)
    assert "eyJ" not in text  # no JOSE header of any token


def test_metrics_are_not_served_on_the_partner_port(story: dict[str, Any]) -> None:
    assert requests.get(story["jeugd"].url + "/metrics", timeout=5).status_code == 404


def _request_lines(home: Path) -> list[dict[str, Any]]:
    out = []
    for line in (home / "serve.log").read_text("utf-8").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == "request":
                out.append(record)
    return out


def test_each_request_is_one_json_line_and_the_correlation_id_crosses_nodes(story: dict[str, Any]) -> None:
    asked = [r for r in _request_lines(story["jeugd"].home) if r["operation"] == "/fhir/$request-summary"]
    held = {
        r["correlation_id"]: r
        for r in _request_lines(story["ggz"].home)
        if r["operation"] == "/fhir/$behaviour-summary"
    }

    assert [r["outcome"] for r in asked] == ["ok", "consent-revoked"]
    for r in asked:
        assert set(r) >= {
            "time",
            "level",
            "method",
            "operation",
            "status",
            "outcome",
            "duration_ms",
            "correlation_id",
            "partner",
        }
        assert re.fullmatch(r"[0-9a-f]{32}", r["correlation_id"])
        assert r["partner"] == "ggz-noord"  # the holder it asked
        assert r["correlation_id"] in held  # the holder logged the same id for its part
    first = held[asked[0]["correlation_id"]]
    assert first["partner"] == "jeugdteam-west" and first["outcome"] == "ok"
    callbacks = [r for r in _request_lines(story["jeugd"].home) if r["operation"] == "/fhir/$consent-status"]
    assert asked[0]["correlation_id"] in {r["correlation_id"] for r in callbacks}


def test_no_log_line_holds_a_bsn_or_a_name(story: dict[str, Any]) -> None:
    for node in (story["ggz"], story["jeugd"]):
        log = (node.home / "serve.log").read_text("utf-8")
        assert demo.MOTHER not in log and demo.CHILD not in log
        assert not any(name in log for name in NAMES)


def test_a_well_formed_correlation_id_is_kept_and_anything_else_replaced(story: dict[str, Any]) -> None:
    url = story["jeugd"].url + "/fhir/metadata"
    mine = "0123456789abcdef0123456789abcdef"
    assert requests.get(url, headers={"X-Correlation-Id": mine}, timeout=5).headers["X-Correlation-Id"] == mine
    given = requests.get(url, headers={"X-Correlation-Id": demo.MOTHER}, timeout=5).headers["X-Correlation-Id"]
    assert given != demo.MOTHER and re.fullmatch(r"[0-9a-f]{32}", given)
