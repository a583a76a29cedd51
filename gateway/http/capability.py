"""The CapabilityStatement, generated from the route table (``gateway.http.openapi.document``).

FHIR R4 capabilitystatement.html. The OpenAPI document is the one route table: each of its
``/fhir`` paths is read as FHIR reads it (``/fhir/{Type}`` GET is ``search-type``, POST is
``create``; ``/fhir/{Type}/{id}`` GET is ``read``; ``/fhir/$op`` a system operation;
``/fhir/{Type}/{id}/$op`` an instance operation; ``/fhir`` POST a transaction), and each
query parameter marked ``x-fhir-type`` is a search parameter of that type. A route added
to the table is in both documents, and ``tests/fuzz/test_openapi.py`` keeps the table equal
to the app's routes. Security names SMART Backend Services and its OAuth endpoints
(extension ``oauth-uris``, SMART App Launch 2.0 conformance.html).
"""

from __future__ import annotations

from typing import Any

from contract import systems
from gateway.http.conformance import BASE

OAUTH_URIS = systems.SMART_OAUTH_URIS
_INTERACTIONS = {
    ("get", False): "search-type",
    ("post", False): "create",
    ("delete", False): "delete",
    ("get", True): "read",
    ("delete", True): "delete",
    ("put", True): "update",
}
_ORDER = ("read", "vread", "update", "delete", "create", "search-type")


def _resources(paths: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    by_type: dict[str, dict[str, Any]] = {}
    system_ops: list[dict[str, Any]] = []
    for path, item in paths.items():
        steps = path.strip("/").split("/")
        if steps[0] != "fhir" or len(steps) < 2 or steps[1] == "metadata":
            continue
        rest = steps[1:]
        for method, op in item.items():
            if rest[-1].startswith("$"):
                code = rest[-1][1:]
                entry = {
                    "name": code,
                    "definition": f"{BASE}OperationDefinition/{code}",
                    "documentation": op["summary"],
                }
                if len(rest) == 1:
                    system_ops.append(entry)
                else:
                    by_type.setdefault(rest[0], {}).setdefault("operation", []).append(entry)
                continue
            res = by_type.setdefault(rest[0], {})
            if "_history" in rest:
                interaction: str | None = "vread"
            elif rest[-1] == "_search":
                interaction = "search-type"
            else:
                interaction = _INTERACTIONS.get((method, len(rest) > 1))
            if interaction is None:
                continue
            res.setdefault("interaction", set()).add(interaction)
            if interaction == "delete" and len(rest) == 1:
                res["conditionalDelete"] = "single"  # DELETE [type]?identifier=system|value
            if interaction == "create":
                res["conditionalCreate"] = True  # the same source identifier updates, never duplicates
            for param in op.get("parameters", []):
                if param.get("in") == "query" and param.get("x-fhir-type"):
                    params = res.setdefault("searchParam", {})
                    params.setdefault(
                        param["name"],
                        {"name": param["name"], "type": param["x-fhir-type"], "documentation": param["description"]},
                    )
    return by_type, system_ops


def capability_statement(document: dict[str, Any], *, org_id: str, name: str, url: str) -> dict[str, Any]:
    """The node's CapabilityStatement (``GET /fhir/metadata``)."""
    by_type, system_ops = _resources(document["paths"])
    resources = []
    for rtype in sorted(by_type):
        spec = by_type[rtype]
        out: dict[str, Any] = {"type": rtype}
        if spec.get("interaction"):
            out["interaction"] = [{"code": c} for c in _ORDER if c in spec["interaction"]]
        if "create" in spec.get("interaction", ()):  # what the node writes carries meta.versionId
            out["versioning"] = "versioned"
            out["readHistory"] = False
        for key in ("conditionalCreate", "conditionalDelete"):
            if key in spec:
                out[key] = spec[key]
        if spec.get("searchParam"):
            out["searchParam"] = list(spec["searchParam"].values())
        if spec.get("operation"):
            out["operation"] = spec["operation"]
        resources.append(out)
    rest: dict[str, Any] = {
        "mode": "server",
        "security": {
            "extension": [{"url": OAUTH_URIS, "extension": [{"url": "token", "valueUri": url + "/oauth/token"}]}],
            "service": [
                {
                    "coding": [{"system": systems.RESTFUL_SECURITY_SERVICE_SYSTEM, "code": "SMART-on-FHIR"}],
                    "text": "SMART Backend Services: OAuth 2.0 client credentials at /oauth/token "
                    "(discovery at /.well-known/smart-configuration); partners use private_key_jwt",
                }
            ],
            "description": "Bearer access token required for everything but metadata, the conformance "
            "resources, JWKS and health.",
        },
        "resource": resources,
        "interaction": [{"code": "transaction"}] if "/fhir" in document["paths"] else [],
        "operation": system_ops,
    }
    if not rest["interaction"]:
        del rest["interaction"]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-03",
        "publisher": name,
        "kind": "instance",
        "software": {"name": "jeugd-ggz-gateway", "version": "0.1.0"},
        "implementation": {"description": f"Gateway node of {name} ({org_id})", "url": url + "/fhir"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [rest],
    }
