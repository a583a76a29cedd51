"""Reading and writing FHIR JSON at the HTTP edge: strict parsing, one response shape."""

from __future__ import annotations

from typing import Any

from flask import Response, json, request
from werkzeug.exceptions import UnsupportedMediaType

from contract import ijson
from contract.errors import InvalidRequest
from gateway.fhir import versioning
from gateway.http import outcomes

FHIR_JSON = ("application/fhir+json", "application/json")


def fhir_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    resp = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/fhir+json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def read_body(resource_type: str | None = None) -> dict[str, Any]:
    """Parse the request body as strict I-JSON; check its resourceType when one is expected."""
    mimetype = (request.mimetype or "").lower()
    if mimetype not in FHIR_JSON:
        # 415, as the OpenAPI document promises: the body is not in a format this node reads
        raise UnsupportedMediaType()
    body = ijson.loads(request.get_data(cache=False))
    if not isinstance(body, dict):
        raise InvalidRequest("De body moet een FHIR-resource (JSON-object) zijn.")
    if resource_type and body.get("resourceType") != resource_type:
        raise InvalidRequest(f"Verwacht resourceType {resource_type}, kreeg {body.get('resourceType')!r}.")
    return body


def read_response(resource: dict[str, Any], base_url: str) -> Response:
    """A read: the resource with its ETag and Last-Modified (gateway.fhir.versioning)."""
    return fhir_response(resource, 200, versioning.headers(resource, base_url, location=False))


def written_response(resource: dict[str, Any], status: int, base_url: str) -> Response:
    """A create or update: versioned Location on 201, ETag, Last-Modified, and the body the
    client's ``Prefer: return=`` asks for (representation, minimal or OperationOutcome)."""
    headers = versioning.headers(resource, base_url, location=status == 201)
    wanted = versioning.preferred_return(request.headers.get("Prefer", ""))
    if wanted == "minimal":
        resp = Response(status=status)
        for k, v in headers.items():
            resp.headers[k] = v
        return resp
    if wanted == "OperationOutcome":
        done = "aangemaakt" if status == 201 else "bijgewerkt"
        body = outcomes.outcome(
            "ok",
            f"{resource['resourceType']}/{resource['id']} is {done}.",
            issue_type="informational",
            severity="information",
        )
        body["issue"][0].pop("details")  # no refusal: nothing from the refusal-reason CodeSystem
        return fhir_response(body, status, headers)
    return fhir_response(resource, status, headers)
