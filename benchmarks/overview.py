"""The family overview: one child's professional asks five partner nodes at once, one is slow.

The web overview (issue 7) is not in the tree yet, so this measures what it will do: parallel
``$request-summary`` calls at the requesting node's local API, one per partner, gathered with
``concurrent.futures`` under one deadline. Four partners are real gunicorn nodes; the fifth
is a slow fake partner in a thread that answers a validly signed, correctly bound summary only
after ``slow_seconds`` (longer than the deadline).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
import rfc8785
from joserfc.jwk import ECKey

from benchmarks import nodes
from gateway.demo import data as d
from gateway.demo import runner as demo
from gateway.demo.loopback import RunningNode, free_port
from gateway.keys import public_jwk
from gateway.trust import signing
from profiles.summary import build_summary


class SlowPartner:
    """JWKS, ``/oauth/token`` and a ``$behaviour-summary`` that answers after ``delay`` seconds."""

    def __init__(self, org_id: str, delay: float) -> None:
        self.org_id, self.delay = org_id, delay
        self.key = ECKey.generate_key("P-256", private=True)
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def summary(self, params: dict[str, Any]) -> dict[str, Any]:
        values = {p["name"]: p for p in params["parameter"]}
        now = datetime.now(UTC)
        bundle = build_summary(
            [],
            ["signals"],
            holder_org=self.org_id,
            subject_bsn=values["subject"]["valueIdentifier"]["value"],
            exchange_id=values["exchange-id"]["valueString"],
            request_hash=hashlib.sha256(rfc8785.dumps(params)).hexdigest(),
            now=now,
        )
        return signing.sign_bundle(
            bundle, self.key, kid=self.key.thumbprint(), alg="ES256", signer_ref=self.org_id, now=now
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:

                if self.path == "/.well-known/jwks.json":
                    self._send(200, {"keys": [public_jwk(fake.key)]})
                else:
                    self._send(404, {})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/oauth/token":
                    self._send(
                        200, {"access_token": "slow-" + uuid.uuid4().hex, "token_type": "Bearer", "expires_in": 300}
                    )
                elif self.path == "/fhir/$behaviour-summary":
                    fake.release.wait(fake.delay)
                    self._send(200, fake.summary(json.loads(raw)))
                else:
                    self._send(404, {})

        return Handler


def add_partners(
    fed: nodes.BenchFederation, root: Path, *, real: int = 3, slow_seconds: float = 5.0, store_url: Any = None
) -> list[str]:
    """Three more real holder nodes (one worker each) and one slow partner, all trusted both ways."""
    partners = [fed.ggz.org_id]
    jeugd = fed.jeugd
    for i in range(real):
        org = f"holder-{i + 1}"
        node = RunningNode(
            org, f"Zorgaanbieder {i + 1}", root / org, free_port(), store_url() if store_url else None, workers=1
        )
        fed.extra.append(node)
        tp = node.init()
        node.start()
        node.trust(jeugd, None)
        jeugd.trust(node, tp)
        node.add_client(f"{org}-epd", "ehr")
        s = node.session(f"{org}-epd", "uzi:900000101")
        mother = s.post("/fhir/Patient", d.patient(demo.MOTHER, date(1991, 4, 12), "Sanne", "Jansen")).json()
        s.post(
            "/fhir/Observation",
            d.observation(mother["id"], "signals", f"Signaal bij {org}.", shareable=True, source_id=f"{org}-sig"),
        ).raise_for_status()
        partners.append(org)
    slow = SlowPartner("traag-1", slow_seconds)
    fed.extra.append(slow)
    jeugd.trust(slow)  # type: ignore[arg-type]
    partners.append(slow.org_id)
    return partners


def measure(
    fed: nodes.BenchFederation, partners: list[str], *, deadline: float = 2.0, rounds: int = 5
) -> dict[str, Any]:
    """Ask every partner at once; gather what arrived by the deadline. ``rounds`` overviews."""
    tok = nodes.issue_token(fed.jeugd, fed.ids["mother_jeugd"], holders=partners, categories=["signals"])
    source = nodes.TokenSource(fed.jeugd, "jeugd-epd")
    http = requests.Session()

    def ask(partner: str) -> tuple[str, int, float]:
        body = d.summary_request(partner, demo.MOTHER, "joint-safety-planning", ["signals"], token=tok)
        t0 = time.perf_counter()
        resp = http.post(
            fed.jeugd.url + "/fhir/$request-summary",
            json=body,
            timeout=30,
            headers={
                "Authorization": "Bearer " + source.get(),
                "X-Practitioner": "uzi:900000202",
                "Content-Type": "application/fhir+json",
            },
        )
        return partner, resp.status_code, time.perf_counter() - t0

    results = []
    with ThreadPoolExecutor(max_workers=len(partners)) as pool:
        for _ in range(rounds):
            t0 = time.perf_counter()
            futures = {pool.submit(ask, p): p for p in partners}
            done: set[Any] = set()
            pending = set(futures)
            end = t0 + deadline
            while pending and time.perf_counter() < end:
                finished, pending = wait(
                    pending, timeout=max(0.0, end - time.perf_counter()), return_when=FIRST_COMPLETED
                )
                done |= finished
            assembled = time.perf_counter() - t0
            answered = [f.result() for f in done]
            ok = [r for r in answered if r[1] == 200]
            results.append(
                {
                    "assembled_s": assembled,
                    "answered": len(ok),
                    "late": [futures[f] for f in pending],
                    "fast_max_s": max((r[2] for r in ok), default=0.0),
                }
            )
            wait(pending)  # let the slow call finish before the next round (not timed)
    fast = sorted(r["fast_max_s"] for r in results)
    assembled = sorted(r["assembled_s"] for r in results)
    return {
        "partners": len(partners),
        "slow_partners": 1,
        "deadline_s": deadline,
        "rounds": rounds,
        "answered_by_deadline": [r["answered"] for r in results],
        "late": sorted({p for r in results for p in r["late"]}),
        "fast_partners_done_median_s": round(fast[len(fast) // 2], 3),
        "overview_returned_median_s": round(assembled[len(assembled) // 2], 3),
        "overview_returned_max_s": round(assembled[-1], 3),
        "within_deadline": all(r["assembled_s"] <= deadline + 0.25 for r in results),
        "method": "parallel $request-summary via concurrent.futures (web overview not in the tree yet)",
    }
