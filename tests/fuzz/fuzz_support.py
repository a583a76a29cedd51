"""Helpers for the fuzz tests (a module, not a conftest, so test modules can import it)."""

from __future__ import annotations

import json
import os

EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "100"))
"""Generated inputs per test (per operation for schemathesis); raise it for a long local run."""


def assert_contract_answer(status: int, body: bytes, content_type: str, path: str) -> None:
    """Never a 500; a 5xx only as the contract's transient refusals; every error an OperationOutcome."""
    assert status != 500, (path, body[:400])
    if status < 400 or path == "/oauth/token":
        return
    assert "json" in content_type, (path, status, content_type)
    data = json.loads(body)
    assert data.get("resourceType") == "OperationOutcome", (path, status, data)
    code = data["issue"][0]["details"]["coding"][0]["code"]
    assert isinstance(code, str) and code, data
    if status >= 500:
        assert (status, code) in {
            (502, "partner-unavailable"),
            (502, "bad-partner-signature"),
            (503, "store-unavailable"),
            (503, "consent-status-unavailable"),
            (503, "node-busy"),
            (504, "partner-timeout"),
        }, (path, status, code)
