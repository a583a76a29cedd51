"""The access log an IT department reads: one line per request, never a query string."""

from __future__ import annotations

import io
import logging

from werkzeug.test import Client
from werkzeug.wrappers import Response

from gateway.http.access_log import AccessLog


def _logger(stream: io.StringIO) -> logging.Logger:
    log = logging.getLogger(f"test.access.{id(stream)}")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def test_a_request_is_one_line_with_method_path_status_bytes_and_time_but_no_query() -> None:
    out = io.StringIO()
    app = AccessLog(Response(b'{"resourceType":"Bundle"}', status=200), _logger(out))

    Client(app).get(
        "/fhir/Patient?identifier=http://fhir.nl/fhir/NamingSystem/bsn|999999990",
        environ_overrides={"REMOTE_ADDR": "127.0.0.1"},
    ).close()

    (line,) = out.getvalue().splitlines()
    assert line.startswith('127.0.0.1 "GET /fhir/Patient" 200 25 ')
    assert line.endswith("ms")
    assert "999999990" not in line and "?" not in line


def test_an_error_status_and_an_empty_body_are_logged_too() -> None:
    out = io.StringIO()
    app = AccessLog(Response(b"", status=401), _logger(out))

    Client(app).post("/fhir/$behaviour-summary", data=b"{}", environ_overrides={"REMOTE_ADDR": "127.0.0.1"}).close()

    assert out.getvalue().startswith('127.0.0.1 "POST /fhir/$behaviour-summary" 401 - ')
