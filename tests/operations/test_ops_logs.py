"""The log level and format are the operator's: a quiet node writes no request lines."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import requests
from ops_support import Served, set_in_section

from gateway.demo.loopback import free_port, run_cli


@pytest.mark.parametrize("level, fmt, lines", [("warning", "json", 0), ("info", "text", 3), ("info", "json", 3)])
def test_the_configured_level_and_format_decide_the_request_lines(
    tmp_path: Path, level: str, fmt: str, lines: int
) -> None:
    home = tmp_path / "n"
    run_cli("init", str(home), "--org-id", "ggz-noord", "--name", "GGZ Noord")
    port = free_port()
    set_in_section(home, "server", f"port = {port}\nworkers = 1\n")
    set_in_section(home, "log", f'level = "{level}"\nformat = "{fmt}"\n')
    served = Served(home)
    try:
        base = f"http://127.0.0.1:{port}"
        served.wait(lambda: requests.get(base + "/healthz", timeout=1).status_code == 200)
        for _ in range(3):
            requests.get(base + "/fhir/metadata", timeout=5)
    finally:
        served.stop()
    log = (home / "serve.log").read_text("utf-8").splitlines()
    if fmt == "json":
        records = [json.loads(x) for x in log if x.strip()]  # every line, gunicorn's own included
        assert any(r.get("logger") == "gunicorn.error" for r in records) == (level == "info")
        assert not any(r.get("logger") == "gunicorn.access" for r in records)  # its line holds query strings
        found = [r for r in records if r.get("event") == "request"]
        found = [r for r in found if r["operation"] == "/fhir/metadata"]
        assert all(r["outcome"] == "ok" and r["status"] == 200 for r in found)
    else:
        found = [x for x in log if '"GET /fhir/metadata" 200' in x]
    assert len(found) == lines


def test_a_metrics_bind_that_is_taken_stops_serve_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "n"
    run_cli("init", str(home), "--org-id", "ggz-noord", "--name", "GGZ Noord")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        set_in_section(home, "server", f"port = {free_port()}\nworkers = 1\n")
        set_in_section(home, "metrics", f'bind = "127.0.0.1:{port}"\n')
        served = Served(home)
        try:
            assert served.process.wait(30) == 1
        finally:
            served.stop()
    assert f"gateway: metrics.bind 127.0.0.1:{port}: cannot listen" in (home / "serve.log").read_text()
