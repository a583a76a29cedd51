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

It has no admission control, so it is not run at concurrency 32: there every thread of the
requester waits on the holder, every thread of the holder waits on a callback that no
requester thread is free to answer, and all stall until the read timeout (the node keeps a
thread per worker for callbacks and sheds the rest with ``node-busy``).

Run as ``python -m benchmarks.floor ROLE PORT PEER_URL WORKERS THREADS BUNDLE_FILE`` with
ROLE ``requester`` or ``holder`` (the benchmark starts both as subprocesses).
"""

from __future__ import annotations

import sys
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


def create_app(role: str, peer_url: str, bundle: bytes) -> Flask:
    app = Flask(__name__)
    client = StrictClient(verify_tls=False)
    auth = {"Authorization": "Bearer floor"}

    def refused() -> Response:
        return Response(b"{}", status=400, mimetype="application/fhir+json")

    if role == "requester":
        @app.post("/fhir/$request-summary")
        def request_summary() -> Response:
            body = _parameters()
            if body is None:
                return refused()
            params = [p for p in body["parameter"] if p.get("name") != "partner"]
            reply = client.request("POST", peer_url + "/fhir/$behaviour-summary", headers=auth,
                                   json_body={"resourceType": "Parameters", "parameter": params})
            return Response(reply.raw, status=reply.status, mimetype="application/fhir+json")

        @app.post("/fhir/$consent-status")
        def consent_status() -> Response:
            return refused() if _parameters() is None else Response(_STATUS, mimetype="application/fhir+json")
    else:
        @app.post("/fhir/$behaviour-summary")
        def behaviour_summary() -> Response:
            if _parameters() is None:
                return refused()
            status = client.request("POST", peer_url + "/fhir/$consent-status", headers=auth,
                                    json_body={"resourceType": "Parameters",
                                               "parameter": [{"name": "consent", "valueString": "c1"}]})
            if status.status != 200:
                return Response(status.raw, status=503, mimetype="application/fhir+json")
            return Response(bundle, mimetype="application/fhir+json")

    @app.get("/readyz")
    def readyz() -> Response:
        return Response(b'{"status":"ready"}', mimetype="application/json")

    return app


def main(argv: list[str]) -> None:
    role, port, peer_url, workers, threads, bundle_file = argv[0], int(argv[1]), argv[2], int(argv[3]), int(argv[4]), argv[5]
    if role not in ("requester", "holder"):
        raise SystemExit("role must be requester or holder")
    serve(create_app(role, peer_url, Path(bundle_file).read_bytes()), port, workers, threads)


if __name__ == "__main__":
    main(sys.argv[1:])
