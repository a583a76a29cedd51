"""Finding who is involved (issue 16): PSI setup cost, match latency and CPU, ``$locate`` over 20 partners.

- setup size and build time for 1,000 / 10,000 / 100,000 findable persons, through the
  node's own ``adapters.psi`` (the code a worker runs in the background);
- the CPU one ``$locator-match`` of ``max-items`` costs the answering node: in process (the
  PSI work alone) and on a real gunicorn node (everything: auth, parsing, rate row, audit);
- match latency per partner, from a real asking node's own code to a real answering node;
- ``$locate`` over 20 partners, one of which never answers, against the deadline.

The 19 answering partners are one real gunicorn node trusted under 19 org ids (on two
shared cores, 19 nodes would measure the machine, not the node): each alias is asked
separately, with its own setup and match, so the answering node carries 19 partners' load
at once, more than any one node would.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from joserfc.jwk import ECKey
from sqlalchemy import select

from adapters import psi
from adapters.store.models import Partner, PartnerKey
from benchmarks import footprint
from gateway import config
from gateway.app import create_app
from gateway.demo import data as d
from gateway.demo.loopback import RunningNode, free_port, run_cli
from gateway.fhir.fhir_in import BSN_SYSTEM, PURPOSE_SYSTEM
from gateway.node import build
from gateway.services import locate

SIZES = (1_000, 10_000, 100_000)
MAX_ITEMS = 8


def setup_cost(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    """Build time and size of the setup message (GCS, fpr 1e-9 per query of 8 items)."""
    out = {}
    key = psi.derive_key(psi.new_master(), "bench")
    for n in sizes:
        bsns = [f"{100_000_000 + 7 * i:09d}" for i in range(n)]  # nine digits; the PSI does not care
        t0 = time.perf_counter()
        setup = psi.Server(key).setup(bsns, MAX_ITEMS)
        took = time.perf_counter() - t0
        out[str(n)] = {
            "build_s": round(took, 3),
            "bytes": len(setup.data),
            "bytes_per_person": round(len(setup.data) / n, 2),
        }
        print(f"    {n:>7,} findable: setup {len(setup.data):>9,} bytes, built in {took:6.2f} s", flush=True)
    return out


def match_cpu_in_process(rounds: int = 200) -> dict[str, Any]:
    """CPU of the PSI work of one match (``ProcessRequest`` of 8 points), without HTTP."""
    server = psi.Server(psi.derive_key(psi.new_master(), "bench"))
    request = psi.Query([f"{200_000_000 + i}" for i in range(MAX_ITEMS)]).request
    t0 = time.process_time()
    for _ in range(rounds):
        server.process(request, MAX_ITEMS)
    us = (time.process_time() - t0) / rounds * 1e6
    return {"items": MAX_ITEMS, "cpu_us_per_match": round(us, 1)}


class SlowPartner:
    """Publishes a JWKS, then holds every POST (token, setup, match) for ``delay`` seconds."""

    def __init__(self, org_id: str, delay: float) -> None:
        self.org_id, self.delay = org_id, delay
        key = ECKey.generate_key("P-256", private=True)
        jwks = json.dumps({"keys": [dict(key.as_dict(private=False), kid=key.thumbprint(), alg="ES256")]}).encode()
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(jwks)))
                self.end_headers()
                self.wfile.write(jwks)

            def do_POST(self) -> None:
                fake.release.wait(fake.delay)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _findable(pid: str, holder: str) -> dict[str, Any]:
    return d.consent(
        pid,
        [f"Patient/{pid}"],
        recipients=[],
        holders=[holder],
        purpose="findable",
        categories=["involvement"],
        start=date.today() - timedelta(days=1),
    )


def _pin_aliases(asker: RunningNode, pinned: str, aliases: list[str]) -> None:
    """Pin one real answerer under more org ids, in the asker's store (the benchmark only).

    ``gateway partner add`` refuses one key for two organisations (issue 20); twenty real
    answering nodes would not fit this 2-core machine, so the harness writes the extra
    partner rows itself, as copies of the one the CLI pinned.
    """
    node = build(config.load(asker.home))
    with node.uow() as uow:
        base = uow.session.get(Partner, pinned)
        keys = uow.session.scalars(select(PartnerKey).where(PartnerKey.org_id == pinned)).all()
        for org in aliases:
            uow.session.add(
                Partner(
                    org_id=org,
                    url=base.url,
                    added_at=base.added_at,
                    jwks_fetched_at=base.jwks_fetched_at,
                    source="bilateral",
                    refused="",
                )
            )
            uow.session.flush()
            for k in keys:
                uow.session.add(PartnerKey(org_id=org, kid=k.kid, jwk=k.jwk, added_at=k.added_at))
        uow.commit()
    node.uow.engine.dispose()


def measure_federation(
    root: Path, *, aliases: int = 19, deadline: float = 2.0, rounds: int = 5, findable: int = 50, matches: int = 100
) -> dict[str, Any]:
    """Real nodes: match latency and CPU per match at the answerer; ``$locate`` over 20 partners."""
    asker = RunningNode("jeugd-bench", "Jeugdteam", root / "jeugd", free_port())
    answerer = RunningNode("ggz-bench", "GGZ", root / "ggz", free_port())
    slow = SlowPartner("traag-1", max(5.0, 3 * deadline))
    try:
        tps = {n.org_id: n.init() for n in (asker, answerer)}
        asker.start({"GATEWAY_LOCATOR_DEADLINE": str(deadline)})
        # the 19 aliases are one partner to the answerer: lift its per-partner rate for the run
        answerer.start({"GATEWAY_LOCATOR_RATE_PER_MINUTE": "100000", "GATEWAY_LOCATOR_REFRESH_SECONDS": "1"})
        answerer.trust(asker, tps[asker.org_id])
        names = [f"ggz-{i:02d}" for i in range(1, aliases + 1)]
        run_cli(
            "partner",
            "add",
            str(asker.home),
            "--org-id",
            names[0],
            "--url",
            answerer.url,
            "--thumbprint",
            tps[answerer.org_id],
        )
        _pin_aliases(asker, names[0], names[1:])
        run_cli("partner", "add", str(asker.home), "--org-id", slow.org_id, "--url", slow.url, "--trust-on-first-use")
        answerer.add_client("epd", "ehr")
        asker.add_client("prof", "professional")
        epd = answerer.session("epd", "uzi:900000101")
        people = [d.bsn(90_000 + i) for i in range(findable)]
        for i, bsn in enumerate(people):
            pid = epd.post("/fhir/Patient", d.patient(bsn, date(1980, 1, 1 + i % 28), "Test", f"Persoon{i}")).json()[
                "id"
            ]
            epd.post("/fhir/Consent", _findable(pid, answerer.org_id)).raise_for_status()
        time.sleep(2.5)  # the answerer's workers rebuild their setups in the background

        latency = _match_latency(asker, names[0], people[0], matches, answerer)
        locate = _locate_rounds(asker, people[0], names, slow.org_id, deadline, rounds)
        return {
            "match": latency,
            "locate": locate,
            "partners": aliases + 1,
            "slow_partners": 1,
            "findable_at_answerer": findable,
        }
    finally:
        slow.stop()
        asker.stop()
        answerer.stop()


def _match_latency(asker: RunningNode, alias: str, bsn: str, n: int, answerer: RunningNode) -> dict[str, Any]:
    """The asking node's own code (``locate._Asker``) against a real node: setup once, then matches."""
    node = create_app(config.load(asker.home)).extensions["gateway"]
    try:
        far = time.monotonic() + 3600
        t0 = time.perf_counter()
        first = locate._Asker(node, alias, (bsn,), far).run()  # token, setup, match
        cold = time.perf_counter() - t0
        assert first.found == [bsn], first
        cpu0 = footprint.cpu_seconds(answerer.process.pid)  # type: ignore[union-attr]
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            out = locate._Asker(node, alias, (bsn,), time.monotonic() + 3600).run()
            times.append((time.perf_counter() - t0) * 1000)
            assert out.found == [bsn], out
        cpu = footprint.cpu_seconds(answerer.process.pid) - cpu0  # type: ignore[union-attr]
    finally:
        node.uow.engine.dispose()
    times.sort()
    return {
        "first_call_ms": round(cold * 1000, 1),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "matches": n,
        "answerer_cpu_ms_per_match": round(cpu * 1000 / n, 2),
    }


def _locate_rounds(
    asker: RunningNode, bsn: str, names: list[str], slow: str, deadline: float, rounds: int
) -> dict[str, Any]:
    api = asker.session("prof", "uzi:900000303")
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subject", "valueIdentifier": {"system": BSN_SYSTEM, "value": bsn}},
            {"name": "subject", "valueIdentifier": {"system": BSN_SYSTEM, "value": d.bsn(99_001)}},
            {"name": "subject", "valueIdentifier": {"system": BSN_SYSTEM, "value": d.bsn(99_002)}},
            {"name": "purpose", "valueCoding": {"system": PURPOSE_SYSTEM, "code": "care-coordination"}},
        ],
    }
    results = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        resp = requests.post(asker.url + "/fhir/$locate", json=body, headers=api.headers(), timeout=60)
        took = time.perf_counter() - t0
        resp.raise_for_status()
        params = resp.json().get("parameter", [])
        found = {
            next(s["valueString"] for s in p["part"] if s["name"] == "organisation")
            for p in params
            if p["name"] == "match"
        }
        late = {
            next(s["valueString"] for s in p["part"] if s["name"] == "organisation")
            for p in params
            if p["name"] == "unavailable"
        }
        results.append({"s": took, "found": len(found), "late": sorted(late)})
    took_all = sorted(r["s"] for r in results)
    return {
        "deadline_s": deadline,
        "rounds": rounds,
        "returned_median_s": round(took_all[len(took_all) // 2], 3),
        "returned_max_s": round(took_all[-1], 3),
        "found_per_round": [r["found"] for r in results],
        "unavailable": sorted({o for r in results for o in r["late"]}),
        "within_deadline": all(r["s"] <= deadline + 0.5 for r in results)
        and all(r["found"] == len(names) for r in results)
        and all(r["late"] == [slow] for r in results),
    }


def run(root: Path, *, quick: bool = False) -> dict[str, Any]:
    print("8a. PSI setup size and build time", flush=True)
    sizes = SIZES[:2] if quick else SIZES
    out: dict[str, Any] = {"setup": setup_cost(sizes), "match_in_process": match_cpu_in_process()}
    print(
        f"    one match of {MAX_ITEMS} items: {out['match_in_process']['cpu_us_per_match']:.0f} us CPU (PSI alone)",
        flush=True,
    )
    print("8b. match latency and $locate over 20 partners (one slow), real nodes", flush=True)
    out |= measure_federation(root / "locator", rounds=3 if quick else 5, matches=50 if quick else 100)
    m, loc = out["match"], out["locate"]
    print(
        f"    match p50 {m['p50_ms']} ms, p95 {m['p95_ms']} ms; answerer CPU {m['answerer_cpu_ms_per_match']} ms/match",
        flush=True,
    )
    print(
        f"    $locate returned at {loc['returned_max_s']} s (deadline {loc['deadline_s']} s), "
        f"found at {loc['found_per_round']} partners, unavailable {loc['unavailable']}",
        flush=True,
    )
    return out


if __name__ == "__main__":
    import sys
    import tempfile

    quick = "--quick" in sys.argv
    print(json.dumps(run(Path(tempfile.mkdtemp(prefix="gateway-locator-")), quick=quick), indent=2))
