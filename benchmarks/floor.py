"""The three-hop floor: the contract's exchange with every node-side step taken out.

An exchange is three HTTP requests between two nodes (section 4 of the contract):

    client -> requester  POST /fhir/$request-summary
              requester -> holder     POST /fhir/$behaviour-summary
                           holder -> requester  POST /fhir/$consent-status   (revocation at disclosure time)

This module runs that chain on the node's own stack (gunicorn gthread + Flask + the access
log middleware, outbound calls through ``adapters.http.StrictClient``) with nothing else:
each handler parses its body as strict I-JSON and passes bytes along; the holder answers
with the same prebuilt signed Bundle as the one-hop baseline. No token, no consent, no
signature, no database, no audit. Its throughput is the ceiling an exchange can reach on
this stack, whatever the node does; exchange/floor says how much the node's own work costs,
floor/baseline what the contract's three hops cost.

It keeps the node's one admission rule (``gateway.trust.peer``): each requester worker lets
at most threads - 1 requests wait on the holder and answers 503 beyond, so one thread stays
free for the holder's callback. Without it the floor stalled until the read timeout whenever
a worker's threads all waited on the holder while the callback queued behind them: always at
concurrency 32, and at 8 too on a loaded machine, when all eight connections landed on one
worker. Only its 200s count as its throughput.

Run as ``python -m benchmarks.floor ROLE PORT PEER_URL WORKERS THREADS BUNDLE_FILE`` with
ROLE ``requester`` or ``holder`` (the benchmark starts both as subprocesses).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from flask import Flask, Response, request

from adapters.http import StrictClient
from benchmarks.baseline import serve
from contract import ijson

_STATUS = b'{"resourceType":"Parameters","parameter":[{"name":"status","valueCode":"active"}]}'


def _parameters() -> dict | None:
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        return None
    body = ijson.loads(request.get_data(cache=False))
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        return None
    return body


def create_app(role: str, peer_url: str, bundle: bytes, threads: int) -> Flask:
    app = Flask(__name__)
    client = StrictClient(verify_tls=False)
    auth = {"Authorization": "Bearer floor"}
    outbound = threading.BoundedSemaphore(max(1, threads - 1))  # as gateway.trust.peer.PeerCaller

    def refused() -> Response:
        return Response(b"{}", status=400, mimetype="application/fhir+json")

    if role == "requester":

        @app.post("/fhir/$request-summary")
        def request_summary() -> Response:
            body = _parameters()
            if body is None:
                return refused()
            params = [p for p in body["parameter"] if p.get("name") != "partner"]
            if not outbound.acquire(blocking=False):
                return Response(b"{}", status=503, mimetype="application/fhir+json")
            try:
                reply = client.request(
                    "POST",
                    peer_url + "/fhir/$behaviour-summary",
                    headers=auth,
                    json_body={"resourceType": "Parameters", "parameter": params},
                )
            finally:
                outbound.release()
            return Response(reply.raw, status=reply.status, mimetype="application/fhir+json")

        @app.post("/fhir/$consent-status")
        def consent_status() -> Response:
            return refused() if _parameters() is None else Response(_STATUS, mimetype="application/fhir+json")
    else:

        @app.post("/fhir/$behaviour-summary")
        def behaviour_summary() -> Response:
            if _parameters() is None:
                return refused()
            status = client.request(
                "POST",
                peer_url + "/fhir/$consent-status",
                headers=auth,
                json_body={"resourceType": "Parameters", "parameter": [{"name": "consent", "valueString": "c1"}]},
            )
            if status.status != 200:
                return Response(status.raw, status=503, mimetype="application/fhir+json")
            return Response(bundle, mimetype="application/fhir+json")

    @app.get("/readyz")
    def readyz() -> Response:
        return Response(b'{"status":"ready"}', mimetype="application/json")

    return app


def main(argv: list[str]) -> None:
    role, port, peer_url, workers, threads, bundle_file = (
        argv[0],
        int(argv[1]),
        argv[2],
        int(argv[3]),
        int(argv[4]),
        argv[5],
    )
    if role not in ("requester", "holder"):
        raise SystemExit("role must be requester or holder")
    serve(create_app(role, peer_url, Path(bundle_file).read_bytes(), threads), port, workers, threads)


if __name__ == "__main__":
    main(sys.argv[1:])
