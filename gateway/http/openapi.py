"""The node's OpenAPI 3.0 description of its public, local and partner HTTP API.

Served at ``GET /openapi.json`` so that API clients (and schemathesis, tests/fuzz) can read
what each endpoint takes. It is written from the routes in ``gateway/http/api_public.py``,
``api_local.py`` and ``api_partner.py``; ``tests/fuzz/test_openapi.py`` checks that every
route of the app is described and nothing else. FHIR bodies are described as far as the node
checks them at the edge (``resourceType``, the Parameters shape); the full rules are FHIR R4
and the contract. Every error body is a FHIR ``OperationOutcome`` except ``/oauth/token``'s
(RFC 6749 section 5.2 JSON).
"""

from __future__ import annotations

from typing import Any

from contract import systems
from gateway.fhir.fhir_in import RECORD_TYPES

CONFORMANCE_TYPES = ("CodeSystem", "StructureDefinition", "OperationDefinition", "NamingSystem")

FHIR_JSON = "application/fhir+json"
BSN_SYSTEM = systems.BSN_SYSTEM

_OUTCOME = {"$ref": "#/components/schemas/OperationOutcome"}


def _json(schema: dict[str, Any], mime: str = FHIR_JSON) -> dict[str, Any]:
    return {"content": {mime: {"schema": schema}}}


def _form(required: str, properties: dict[str, Any]) -> dict[str, Any]:
    """A required ``application/x-www-form-urlencoded`` request body."""
    schema = {"type": "object", "required": [required], "properties": properties}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _resource(resource_type: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string", "enum": [resource_type]}},
        "additionalProperties": True,
    }


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "invalid-request (malformed input)",
        401: "unauthenticated, or a partner refusal (401 codes)",
        403: "forbidden, or a refusal (403 codes)",
        404: "not-found / subject-unknown",
        409: "conflict",
        413: "request body too large",
        415: "not application/fhir+json",
        422: "grantors-insufficient",
        502: "partner-unavailable / bad-partner-signature",
        503: "store-unavailable / consent-status-unavailable / node-busy",
        504: "partner-timeout",
    }
    return {str(c): {"description": text.get(c, "refusal"), **_json(_OUTCOME)} for c in codes}


LOCAL_ERRORS = (400, 401, 403, 413, 415, 503)


def _op(
    summary: str,
    tag: str,
    *,
    body: dict[str, Any] | None = None,
    ok: dict[str, Any] | None = None,
    ok_status: str = "200",
    errors: tuple[int, ...] = LOCAL_ERRORS,
    params: list[dict[str, Any]] | None = None,
    security: list[dict[str, list[str]]] | None = None,
    ok_mime: str = FHIR_JSON,
    operation_id: str | None = None,
    out: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """One operation of the route table. ``operation_id`` defaults to one derived from the
    method and path (``operation_id_of``); ``out`` names an ``$operation``'s output
    parameters (name, FHIR type) for its OperationDefinition."""
    success = (
        {"description": "success"}
        if ok_status == "204"
        else {"description": "success", **_json(ok or {"type": "object"}, ok_mime)}
    )
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": {ok_status: success, **_errors(*errors)}}
    if operation_id:
        op["operationId"] = operation_id
    if out:
        op["x-fhir-out"] = [list(pair) for pair in out]
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    if params:
        op["parameters"] = params
    if security is not None:
        op["security"] = security
    return op


def _query(name: str, description: str, required: bool = False, fhir_type: str | None = None) -> dict[str, Any]:
    """A query parameter; ``fhir_type`` makes it a FHIR search parameter of that type
    (listed in the CapabilityStatement)."""
    out = {"name": name, "in": "query", "required": required, "description": description, "schema": {"type": "string"}}
    if fhir_type:
        out["x-fhir-type"] = fhir_type
    return out


#: what FHIR's search framework adds to every search (search.html): paging, count, format
_PAGING = [
    {
        "name": "_count",
        "in": "query",
        "required": False,
        "description": "page size, 0..1000 (default 100; 0: the total alone)",
        "schema": {"type": "integer", "minimum": 0, "maximum": 1000},
    },
    {
        "name": "_offset",
        "in": "query",
        "required": False,
        "description": "how many matches to skip (the next link carries it)",
        "schema": {"type": "integer", "minimum": 0},
    },
    {
        "name": "_summary",
        "in": "query",
        "required": False,
        "description": "count: only the total",
        "schema": {"type": "string", "enum": ["count", "false"]},
    },
]


def _path(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9\\-.]{1,64}$"},
    }


_PRACTITIONER = {
    "name": "X-Practitioner",
    "in": "header",
    "required": True,
    "description": "the acting professional, e.g. uzi:123456 (recorded in the audit)",
    "schema": {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,15}:[A-Za-z0-9._-]{1,64}$"},
}
_PRACTITIONER_OPT = dict(_PRACTITIONER, required=False)
_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "1-255 visible ASCII; the same key and request again is answered as the first "
    "time, and done once (issue 20; README, 'Idempotency keys')",
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}

PUBLIC: list[dict[str, Any]] = []  # no security requirement
PARTNER: list[dict[str, list[str]]] = [{"partnerToken": []}]
LOCAL: list[dict[str, list[str]]] = [{"localToken": []}]


PARTNER_ERRORS = (400, 401, 403, 404, 413, 415, 503)


def _partner(
    summary: str,
    body: dict[str, Any],
    *,
    errors: tuple[int, ...] = PARTNER_ERRORS,
    ok: dict[str, Any] | None = None,
    out: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """One partner operation (contract section 4): a Parameters answer unless ``ok`` says otherwise."""
    return _op(
        summary, "partner", body=body, ok=ok or _resource("Parameters"), errors=errors, security=PARTNER, out=out
    )


def _local_op(
    summary: str,
    body: dict[str, Any],
    ok: dict[str, Any],
    *,
    errors: tuple[int, ...] = LOCAL_ERRORS,
    **more: Any,
) -> dict[str, Any]:
    """One local ``$operation`` (contract section 3) by a professional named in ``X-Practitioner``."""
    return _op(summary, "local", body=body, ok=ok, errors=errors, params=[_PRACTITIONER], **more)


def _public(summary: str, ok_mime: str = "application/json", **more: Any) -> dict[str, Any]:
    """One public operation (contract section 2): no token, and no error but those ``more`` names."""
    return _op(summary, "public", **({"errors": ()} | more), security=PUBLIC, ok_mime=ok_mime)


def _local_search(summary: str, *queries: dict[str, Any]) -> dict[str, Any]:
    """One local FHIR search: a searchset Bundle, paged (search.html), for a named professional."""
    return _op(summary, "local", ok=_resource("Bundle"), params=[*queries, *_PAGING, _PRACTITIONER])


def _local_read(
    summary: str, resource_type: str, *ids: str, practitioner: dict[str, Any] = _PRACTITIONER
) -> dict[str, Any]:
    """One local read of a resource by the path parameters ``ids`` (404 when there is none)."""
    return _op(
        summary,
        "local",
        ok=_resource(resource_type),
        errors=(*LOCAL_ERRORS, 404),
        params=[*(_path(name) for name in ids), practitioner],
    )


def _local_create(
    summary: str, resource_type: str, errors: tuple[int, ...], params: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One local create: the resource in, the resource as stored out with 201."""
    body = _resource(resource_type)
    return _op(summary, "local", body=body, ok=_resource(resource_type), ok_status="201", errors=errors, params=params)


def _local_delete(summary: str, errors: tuple[int, ...], params: list[dict[str, Any]]) -> dict[str, Any]:
    """One local delete, answered 204 with no body."""
    return _op(summary, "local", ok_status="204", errors=errors, params=params)


def _parameter(
    name: str, value: str, value_schema: dict[str, Any], *, min_: int = 0, max_: str = "1"
) -> dict[str, Any]:
    """One ``Parameters.parameter``; ``min_``/``max_`` are its cardinality in the OperationDefinition."""
    return {
        "type": "object",
        "required": ["name", value],
        "additionalProperties": False,
        "properties": {"name": {"type": "string", "enum": [name]}, value: value_schema},
        "x-fhir-min": min_,
        "x-fhir-max": max_,
    }


def _parameters(*items: dict[str, Any]) -> dict[str, Any]:
    # parameter is 0..* in FHIR: {"resourceType": "Parameters"} is a valid (empty) body
    return {
        "type": "object",
        "required": ["resourceType"],
        "additionalProperties": False,
        "properties": {
            "resourceType": {"type": "string", "enum": ["Parameters"]},
            "parameter": {"type": "array", "items": {"oneOf": list(items)} if len(items) > 1 else items[0]},
        },
    }


_STRING = {"type": "string", "minLength": 1, "maxLength": 2000}
_IDENT = {"$ref": "#/components/schemas/Identifier"}
_CODING = {"$ref": "#/components/schemas/Coding"}
_SUMMARY_ITEMS = (
    _parameter("subject", "valueIdentifier", _IDENT, min_=1),
    _parameter("purpose", "valueCoding", _CODING, min_=1),
    _parameter("category", "valueCoding", _CODING, min_=1, max_="*"),
    _parameter("consent-token", "valueString", {"type": "string", "minLength": 1, "maxLength": 16384}),
    _parameter("consent-note", "valueString", _STRING),
)


def operation_id_of(method: str, path: str) -> str:
    """A stable operationId from the route: ``createPatient``, ``readConsent``, ``searchAuditEvent``,
    ``deleteObservationByIdentifier``, ``requestSummary``, ``consentIssueToken``, ``transaction``."""

    def camel(text: str) -> str:
        parts = [p for p in text.replace(".", "-").replace("_", "-").split("-") if p]
        return "".join(p[:1].upper() + p[1:] for p in parts)

    steps = [p for p in path.strip("/").split("/") if p]
    if steps and steps[0] == "fhir":
        steps = steps[1:]
        if not steps:
            return "transaction"
        if steps[-1].startswith("$"):
            name = camel(steps[-1][1:])
            return (steps[0][:1].lower() + steps[0][1:] + name) if len(steps) > 1 else name[:1].lower() + name[1:]
        rtype = steps[0]
        if rtype == "metadata":
            return "capabilities"
        if len(steps) == 1:
            verb = {"get": "search", "post": "create", "delete": "deleteByIdentifier"}[method]
            return f"{verb}{rtype}" if verb != "deleteByIdentifier" else f"delete{rtype}ByIdentifier"
        if steps[1] == "_search":
            return f"search{rtype}ByPost"
        if "_history" in steps:
            return f"vread{rtype}"
        return {"get": "read", "delete": "delete", "put": "update"}[method] + rtype
    name = camel("-".join(s.strip("{}.") for s in steps)) or "root"
    return method + name


def document(org_id: str = "", url: str = "") -> dict[str, Any]:
    """Return the OpenAPI 3.0.3 document of this node."""
    bundle, params = _resource("Bundle"), _resource("Parameters")
    paths: dict[str, dict[str, Any]] = {
        # --- public (contract section 2) -----------------------------------------------------
        "/.well-known/jwks.json": {
            "get": _public(
                "The node's public signing keys (EC P-256 / Ed25519 only).",
                "application/jwk-set+json",
                ok={"type": "object", "required": ["keys"]},
            )
        },
        "/healthz": {"get": _public("Liveness.")},
        "/readyz": {
            "get": _public("Readiness: the store is reachable.")
            | {
                "responses": {
                    "200": {"description": "ready", **_json({"type": "object"}, "application/json")},
                    "503": {"description": "store unreachable", **_json({"type": "object"}, "application/json")},
                }
            }
        },
        "/oauth/token": {
            "post": {
                "summary": "OAuth 2.0 client credentials: client_secret_basic (local clients) or private_key_jwt "
                "(partner nodes, RFC 7523). Errors are RFC 6749 section 5.2 JSON.",
                "tags": ["public"],
                "security": [{"clientBasic": []}, {}],
                "requestBody": _form(
                    "grant_type",
                    {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "client_assertion_type": {"type": "string", "enum": [systems.JWT_BEARER_ASSERTION]},
                        "client_assertion": {"type": "string"},
                    },
                ),
                "responses": {
                    "200": {
                        "description": "an at+jwt bearer token",
                        **_json(
                            {
                                "type": "object",
                                "required": ["access_token", "token_type", "expires_in"],
                                "properties": {
                                    "access_token": {"type": "string"},
                                    "token_type": {"type": "string"},
                                    "expires_in": {"type": "integer"},
                                },
                            },
                            "application/json",
                        ),
                    },
                    **{
                        c: {
                            "description": "RFC 6749 error",
                            **_json({"$ref": "#/components/schemas/OAuthError"}, "application/json"),
                        }
                        for c in ("400", "401")
                    },
                },
            }
        },
        "/fhir/metadata": {"get": _public("CapabilityStatement.", FHIR_JSON, ok=_resource("CapabilityStatement"))},
        "/openapi.json": {"get": _public("This description.")},
        "/.well-known/smart-configuration": {
            "get": _public(
                "SMART App Launch discovery: the token endpoint, its authentication methods and scopes.",
                ok={"type": "object", "required": ["token_endpoint"]},
            )
        },
        **{
            f"/fhir/{kind}": {
                "get": _public(
                    f"The {kind} resources this node serves (searchset; ?url= resolves a canonical).",
                    FHIR_JSON,
                    ok=bundle,
                    errors=(400,),
                    params=[_query("url", "canonical URL (url|version allowed)", fhir_type="uri"), *_PAGING],
                )
            }
            for kind in CONFORMANCE_TYPES
        },
        **{
            f"/fhir/{kind}/{{rid}}": {
                "get": _public(
                    f"Read a {kind} this node serves.",
                    FHIR_JSON,
                    ok=_resource(kind),
                    errors=(404,),
                    params=[_path("rid")],
                )
            }
            for kind in CONFORMANCE_TYPES
        },
        # --- local API (contract section 3) -------------------------------------------------
        "/fhir/Patient": {
            "post": _local_create(
                "Register a person (BSN identifier, birthDate).",
                "Patient",
                (*LOCAL_ERRORS, 409),
            ),
            "get": _local_search(
                "Find a person by BSN.",
                _query("identifier", f"{BSN_SYSTEM}|<BSN>, or the BSN alone", True, "token"),
            ),
        },
        "/fhir/Patient/_search": {
            "post": {
                **_op(
                    "Find a person by BSN (FHIR search by POST: the BSN stays out of the URL).",
                    "local",
                    ok=bundle,
                    params=[_PRACTITIONER],
                ),
                "requestBody": _form(
                    "identifier",
                    {
                        "identifier": {"type": "string"},
                        "_count": {"type": "integer", "minimum": 0, "maximum": 1000},
                        "_offset": {"type": "integer", "minimum": 0},
                        "_summary": {"type": "string"},
                    },
                ),
            }
        },
        "/fhir/Patient/{pid}": {"get": _local_read("Read a person.", "Patient", "pid")},
        **{
            f"/fhir/{rt}/{{rid}}/_history/{{vid}}": {
                "get": _local_read(
                    f"Read a {rt} at a version (the current one: the node keeps no history).", rt, "rid", "vid"
                )
            }
            for rt in ("Patient", "Consent", *RECORD_TYPES)
        },
        "/fhir/RelatedPerson": {
            "post": _local_create(
                "A parent-child or guardian relation.",
                "RelatedPerson",
                (*LOCAL_ERRORS, 404, 409, 422),
                [_IDEMPOTENCY],
            )
        },
        "/fhir/RelatedPerson/{rid}": {
            "delete": _local_delete(
                "Remove a relation registered by mistake; audited.",
                (*LOCAL_ERRORS, 404, 409, 422),
                [_path("rid"), _PRACTITIONER_OPT, _IDEMPOTENCY],
            )
        },
        **{
            f"/fhir/{rt}": {
                "post": _local_create(
                    f"Create or update a {rt} (conditional on identifier); audited.",
                    rt,
                    (*LOCAL_ERRORS, 404, 409),
                    [_PRACTITIONER_OPT],
                ),
                "delete": _local_delete(
                    f"Delete the {rt} with this source identifier (conditional delete); audited.",
                    (*LOCAL_ERRORS, 404),
                    [
                        _query("identifier", "<system>|<value>, the link back to the source", True),
                        _PRACTITIONER_OPT,
                    ],
                ),
            }
            for rt in RECORD_TYPES
        },
        **{
            f"/fhir/{rt}/{{rid}}": {
                "get": _local_read(
                    f"Read back a {rt} this node holds (as stored, with meta.versionId); audited.",
                    rt,
                    "rid",
                    practitioner=_PRACTITIONER_OPT,
                ),
                "delete": _local_delete(
                    f"Delete a {rt} by its id here; audited.",
                    (*LOCAL_ERRORS, 404),
                    [_path("rid"), _PRACTITIONER_OPT],
                ),
            }
            for rt in RECORD_TYPES
        },
        "/fhir": {
            "post": _op(
                "A transaction Bundle of records, all or nothing; audited.",
                "local",
                body=_resource("Bundle"),
                ok=bundle,
                errors=(*LOCAL_ERRORS, 404, 409),
                params=[_PRACTITIONER_OPT],
            )
        },
        "/fhir/Consent": {
            "post": _local_create(
                "Record a consent (Dutch rules on who may consent).",
                "Consent",
                (*LOCAL_ERRORS, 404, 409, 422),
                [_PRACTITIONER],
            ),
            "get": _local_search(
                "List consents (of a patient; _tag=renewal-due for those to renew).",
                _query("patient", "Patient/<id> (or the id alone)", fhir_type="reference"),
                _query("_tag", "renewal-due", fhir_type="token"),
            ),
        },
        "/fhir/Consent/{cid}": {"get": _local_read("Read a consent.", "Consent", "cid")},
        "/fhir/Consent/{cid}/$issue-token": {
            "post": _op(
                "Sign a consent token (optional Parameters with grantee).",
                "local",
                body=_parameters(_parameter("grantee", "valueString", _STRING)) | {"x-optional": True},
                ok=params,
                errors=(*LOCAL_ERRORS, 404),
                params=[_path("cid"), _PRACTITIONER],
                out=[("token", "string")],
            )
        },
        "/fhir/Consent/{cid}/$revoke": {
            "post": _op(
                "Revoke a consent and notify the partners it names.",
                "local",
                ok=_resource("Consent"),
                errors=(*LOCAL_ERRORS, 404, 409),
                params=[_path("cid"), _PRACTITIONER],
            )
        },
        "/fhir/$request-summary": {
            "post": _local_op(
                "Ask a partner for a consented summary; verified, audited, returned.",
                _parameters(_parameter("partner", "valueString", _STRING, min_=1), *_SUMMARY_ITEMS),
                bundle,
                errors=(*LOCAL_ERRORS, 404, 502, 504),
            )
        },
        "/fhir/$safety-disclosure": {
            "post": _local_op(
                "Holder-initiated disclosure (meldcode, conflict of duties); role professional.",
                _parameters(
                    _parameter("recipient", "valueString", _STRING, min_=1),
                    _parameter("subject", "valueIdentifier", _IDENT, min_=1),
                    _parameter("category", "valueCoding", _CODING, min_=1, max_="*"),
                    _parameter(
                        "legal-ground",
                        "valueCode",
                        min_=1,
                        value_schema={"type": "string", "enum": ["meldcode", "conflict-of-duties"]},
                    ),
                    _parameter("justification", "valueString", _STRING, min_=1),
                ),
                params,
                errors=(*LOCAL_ERRORS, 404, 502, 504),
            )
        },
        "/fhir/$locate": {
            "post": _local_op(
                "Which trusted organisations are involved with these people (PSI, contract section 8).",
                _parameters(
                    _parameter("subject", "valueIdentifier", _IDENT), _parameter("purpose", "valueCoding", _CODING)
                ),
                params,
            )
        },
        # one entry: the inbox holds the safety disclosures too (a second "/fhir/Bundle" key overwrote this one)
        "/fhir/Bundle": {
            "get": _op(
                "The inbox: consented pushes and safety disclosures, newest first (roles professional, ehr).",
                "local",
                ok=bundle,
                params=[_PRACTITIONER],
            )
        },
        "/fhir/$send-summary": {
            "post": _local_op(
                "Push a consented summary to a partner (contract section 9); role professional.",
                _parameters(
                    _parameter("recipient", "valueString", _STRING),
                    *_SUMMARY_ITEMS[:3],
                    _parameter("consent-token", "valueString", _STRING),
                    _parameter("note", "valueString", _STRING),
                ),
                params,
                errors=(*LOCAL_ERRORS, 404, 502, 503, 504),
            )
        },
        "/fhir/AuditEvent": {
            "get": _local_search(
                "Audit events (role privacy-officer) as a searchset Bundle.",
                _query(
                    "patient",
                    f"Patient/<id>, or the BSN (patient:identifier={BSN_SYSTEM}|<BSN> too)",
                    fhir_type="reference",
                ),
                _query("date", "[eq|gt|ge|lt|le] FHIR date or dateTime", fhir_type="date"),
                _query(
                    "agent",
                    "actor: an id such as uzi:123456 (agent:identifier=system|value too)",
                    fhir_type="reference",
                ),
                _query("purpose", "purpose code", fhir_type="token"),
                _query("outcome", "0, 4 or 8", fhir_type="token"),
                _query("action", "audit action code (AuditEvent.subtype)", fhir_type="token"),
            )
        },
        "/consent/{cid}/receipt": {
            "get": _op(
                "A printable Dutch consent receipt (HTML).",
                "local",
                errors=(*LOCAL_ERRORS, 404),
                ok={"type": "string"},
                ok_mime="text/html",
                params=[_path("cid"), _PRACTITIONER],
            )
        },
        "/fhir/$disclosure-report": {
            "post": _local_op(
                "A person's disclosure report (HTML); role privacy-officer; the BSN in the body.",
                _parameters(_parameter("subject", "valueIdentifier", _IDENT, min_=1)),
                {"type": "string"},
                ok_mime="text/html",
            )
        },
        # --- partner API (contract section 4) -----------------------------------------------
        "/fhir/$behaviour-summary": {
            "post": _partner(
                "Disclose a signed behaviour-level summary to a trusted partner.",
                _parameters(
                    *_SUMMARY_ITEMS,
                    _parameter("practitioner", "valueIdentifier", _IDENT),
                    _parameter(
                        "exchange-id",
                        "valueString",
                        min_=1,
                        value_schema={"type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$"},
                    ),
                ),
                ok=bundle,
            )
        },
        "/fhir/$consent-status": {
            "post": _partner(
                "Whether a consent issued here is still active (only organisations it names may ask).",
                _parameters(_parameter("consent", "valueString", _STRING, min_=1)),
                out=[("status", "code")],
            )
        },
        "/fhir/$receive-disclosure": {
            "post": _partner(
                "Receive a pushed, signed safety disclosure.", params, errors=(400, 401, 403, 404, 413, 415, 502, 503)
            )
        },
        "/fhir/$locator-setup": {
            "post": _partner(
                "The PSI setup of this node's findable persons, its epoch and max-items (no input).",
                params | {"x-optional": True},
                errors=(400, 401, 413, 415, 503),
            )
        },
        "/fhir/$locator-match": {
            "post": _partner(
                "Answer a blinded PSI request under the current epoch.",
                _parameters(
                    _parameter("epoch", "valueString", _STRING), _parameter("request", "valueBase64Binary", _STRING)
                ),
                errors=(400, 401, 409, 413, 415, 503),
            )
        },
        "/fhir/$receive-summary": {
            "post": _partner(
                "Receive a consented push (signed summary and consent token) into the inbox.",
                _parameters(
                    _parameter("summary", "resource", {"type": "object"}),
                    _parameter("consent-token", "valueString", _STRING),
                ),
                errors=(400, 401, 403, 404, 413, 415, 502, 503),
            )
        },
        "/fhir/$consent-revoked": {
            "post": _partner(
                "Best-effort notice that a consent naming us was revoked.",
                _parameters(_parameter("consent", "valueString", _STRING, min_=1)),
            )
        },
        "/fhir/$exchange-receipts": {
            "post": _partner(
                "Signed receipts of our mutual exchanges, for audit reconcile.",
                _parameters(_parameter("since", "valueString", _STRING)),
                errors=(400, 401, 403, 413, 415, 503),
            )
        },
        "/fhir/$audit-head": {
            "post": _partner(
                "The caller's signed audit head as witnessed here, and our own (no input).",
                {
                    "type": "object",
                    "required": ["resourceType"],
                    "additionalProperties": False,
                    "properties": {
                        "resourceType": {"type": "string", "enum": ["Parameters"]},
                        "parameter": {"type": "array", "maxItems": 0},
                    },
                    "x-optional": True,
                },
                errors=(400, 401, 413, 415, 503),
            )
        },
    }
    for path, item in paths.items():  # the issue-token body is optional: no body means the only grantee
        for method, op in item.items():
            op.setdefault("operationId", operation_id_of(method, path))
            body = op.get("requestBody")
            if body and FHIR_JSON in body["content"] and body["content"][FHIR_JSON]["schema"].pop("x-optional", False):
                body["required"] = False
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "jeugd-ggz-gateway node API",
            "version": "1",
            "description": f"Gateway node {org_id} ({url}). Contract v1: public, local (EHRs, "
            "professionals, privacy officers) and partner (node-to-node) API. Every "
            "error body is a FHIR OperationOutcome, except /oauth/token.",
        },
        "servers": [{"url": url or "/"}],
        "tags": [{"name": "public"}, {"name": "local"}, {"name": "partner"}],
        "security": LOCAL,
        "paths": paths,
        "components": {
            "securitySchemes": {
                "localToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "at+jwt",
                    "description": "from /oauth/token with a local client's secret (role in the token)",
                },
                "partnerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "at+jwt",
                    "description": "from /oauth/token with private_key_jwt (a trusted partner node)",
                },
                "clientBasic": {"type": "http", "scheme": "basic"},
            },
            "schemas": {
                "OperationOutcome": {
                    "type": "object",
                    "required": ["resourceType", "issue"],
                    "properties": {
                        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
                        "issue": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["severity", "code", "details"],
                                "properties": {
                                    "severity": {"type": "string"},
                                    "code": {"type": "string"},
                                    "diagnostics": {"type": "string"},
                                    "details": {
                                        "type": "object",
                                        "required": ["coding"],
                                        "properties": {
                                            "coding": {"type": "array", "minItems": 1, "items": _CODING},
                                            "text": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
                "OAuthError": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
                },
                "Identifier": {
                    "type": "object",
                    "properties": {"system": {"type": "string"}, "value": {"type": "string"}},
                },
                "Coding": {
                    "type": "object",
                    "properties": {
                        "system": {"type": "string"},
                        "code": {"type": "string"},
                        "display": {"type": "string"},
                    },
                },
            },
        },
    }
