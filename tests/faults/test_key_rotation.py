"""A partner rotates its key under traffic (``gateway keys rotate`` on the running node): the
other side re-fetches the JWKS once it meets the new kid, and no request fails (issue 8)."""

from __future__ import annotations

import time
from typing import Any

from faults_support import Traffic
from gateway.federation import run_cli


def _kid_of_summary(bundle: dict[str, Any]) -> str:
    import base64
    import json

    header = base64.b64decode(bundle["signature"]["data"]).decode().split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]  # type: ignore[no-any-return]


def test_holder_and_issuer_rotate_keys_under_traffic_without_errors(fed: Any) -> None:
    tok = fed.token()
    time.sleep(1.1)  # past the 1 s JWKS re-fetch interval of the test nodes since partner add
    with Traffic(lambda: fed.ask(tok, timeout=30), 2) as traffic:
        traffic.wait_for(4)
        new_holder_kid = run_cli("keys", "rotate", str(fed.ggz.home)).strip().splitlines()[-1]
        traffic.wait_for(6)
        new_issuer_kid = run_cli("keys", "rotate", str(fed.jeugd.home)).strip().splitlines()[-1]
        traffic.wait_for(6)
    failures = [(s, b) for s, b in traffic.results if s != 200]
    assert not failures, failures[:3]
    last = traffic.results[-1][1]
    assert _kid_of_summary(last) == new_holder_kid  # summaries are signed with the new key now
    # a consent token signed with the issuer's new key is verified at the holder after its re-fetch
    fresh = fed.token()
    import base64
    import json

    assert json.loads(base64.urlsafe_b64decode(fresh.split(".")[0] + "=="))["kid"] == new_issuer_kid
    resp = fed.ask(fresh)
    assert resp.status_code == 200, resp.text
    assert "intact" in fed.verify(fed.ggz) and "intact" in fed.verify(fed.jeugd)
