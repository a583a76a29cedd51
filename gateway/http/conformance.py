"""The conformance resources a node serves, so that every canonical it emits resolves.

FHIR R4 (conformance-module.html): a validator that enforces profiles looks up each
``meta.profile``, extension ``url``, coding ``system`` and operation ``definition`` it
meets. The node answers each of them itself:

- ``CodeSystem``: the files in ``profiles/codesystems/`` as they are (among them
  ``audit-action``, ``audit-outcome`` and ``legal-ground``, whose Dutch designations are the
  pages' labels), plus the two marks whose codes live in code: ``audit-flag`` and
  ``consent-flag``;
- ``StructureDefinition``: the summary Bundle's and each category's profile, written from
  ``profiles/profiles.json`` (an element outside a profile's allow-list has ``max`` 0), and
  every extension the node writes or reads;
- ``OperationDefinition``: one per ``$operation`` of the route table (``gateway.http.openapi``),
  with its parameters;
- ``NamingSystem``: the identifier systems the node mints.

Canonical URLs live under ``https://jggz-gateway.nl/fhir/`` (the project's, not a node's);
``GET /fhir/{type}/{id}`` and ``GET /fhir/{type}?url=`` on any node answer them.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from contract import systems
from gateway.http.openapi import document
from profiles import catalog
from profiles.catalog import load_profiles
from profiles.summary import load_codesystems

BASE = systems.BASE
EXT = systems.EXTENSION_BASE
FHIR_SD = systems.FHIR_STRUCTURE_BASE
DATE = "2026-12-03"
PUBLISHER = "JGGZ-gateway"
TYPES = ("CodeSystem", "StructureDefinition", "OperationDefinition", "NamingSystem")


def _codesystem(
    cid: str, name: str, title: str, description: str, concepts: list[tuple[str, str, str]]
) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "id": cid,
        "url": BASE + "CodeSystem/" + cid,
        "version": "1.0.0",
        "name": name,
        "title": title,
        "status": "active",
        "experimental": False,
        "date": DATE,
        "publisher": PUBLISHER,
        "description": description,
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": [{"code": c, "display": d, "definition": f} for c, d, f in concepts],
    }


def _generated_codesystems() -> list[dict[str, Any]]:
    return [
        _codesystem(
            "audit-flag",
            "AuditFlag",
            "Auditmarkeringen",
            "Marks on an AuditEvent's meta.tag.",
            [
                (
                    "review",
                    "Ter beoordeling door de privacyfunctionaris",
                    "A disclosure without consent (meldcode, conflict of duties): the privacy officer reviews it.",
                )
            ],
        ),
        _codesystem(
            "consent-flag",
            "ConsentFlag",
            "Markeringen van toestemmingen",
            "Marks on a Consent's meta.tag.",
            [
                (
                    "renewal-due",
                    "Toestemming vernieuwen",
                    "The grantors the rules require changed since it was recorded (the subject turned 12, 16 "
                    "or 18): ask again.",
                )
            ],
        ),
    ]


def codesystems() -> list[dict[str, Any]]:
    """Every CodeSystem this node emits codes from: the profiles' files, then the generated ones."""
    files = load_codesystems()
    known = {cs["url"] for cs in files}
    return files + [cs for cs in _generated_codesystems() if cs["url"] not in known]


# --- StructureDefinitions ---------------------------------------------------------------


def _extension(
    eid: str, name: str, context: list[str], value_type: str, definition: str, *, max_: str = "1"
) -> dict[str, Any]:
    url = EXT + eid
    return {
        "resourceType": "StructureDefinition",
        "id": eid,
        "url": url,
        "version": "1.0.0",
        "name": name,
        "status": "active",
        "date": DATE,
        "publisher": PUBLISHER,
        "description": definition,
        "fhirVersion": "4.0.1",
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": c} for c in context],
        "type": "Extension",
        "baseDefinition": FHIR_SD + "Extension",
        "derivation": "constraint",
        "differential": {
            "element": [
                {"id": "Extension", "path": "Extension", "short": name, "definition": definition, "max": max_},
                {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
                {"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
                {"id": "Extension.value[x]", "path": "Extension.value[x]", "min": 1, "type": [{"code": value_type}]},
            ]
        },
    }


EXTENSIONS: tuple[tuple[str, str, list[str], str, str, str], ...] = (
    (
        "request-sha256",
        "RequestSha256",
        ["Meta"],
        "string",
        "1",
        "SHA-256 (hex) of the RFC 8785 form of the Parameters the holder received: binds a summary to its request.",
    ),
    (
        "refused-by",
        "RefusedBy",
        ["Consent"],
        "Reference",
        "*",
        "A party (Patient or RelatedPerson) who was asked and refused; one refusal of a required party means no "
        "consent.",
    ),
    (
        "consulted",
        "Consulted",
        ["Consent"],
        "Reference",
        "*",
        "A parent consulted by a young person of 16 or over, who is not a grantor.",
    ),
    (
        "valid-until",
        "ValidUntil",
        ["Meta"],
        "instant",
        "1",
        "Until when a federation member list may be applied (contract section 7).",
    ),
    (
        "key-thumbprint",
        "KeyThumbprint",
        ["Endpoint"],
        "string",
        "*",
        "RFC 7638 thumbprint of a member key that partners may pin (contract section 7).",
    ),
)


def _top_level_elements(resource_type: str) -> list[str]:
    """The base resource's own top-level elements in the specification's order (choices folded
    to ``value[x]``), from ``fhir.resources``."""
    model = get_fhir_model_class(resource_type)
    choice_of: dict[str, str] = {}
    for field in model.model_fields.values():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if isinstance(extra.get("one_of_many"), str) and field.alias:
            choice_of[field.alias] = f"{extra['one_of_many']}[x]"
    out: list[str] = []
    for name in model.elements_sequence():
        element = choice_of.get(name, name)
        if element != "id" and element not in out:
            out.append(element)
    return out


def _profile_sd(profile: Any) -> dict[str, Any]:
    rtype = profile.resource_type
    allowed = {p.split(".", 1)[0].replace("[]", "") for p in profile.allowed_paths()}
    sid = profile.url.rsplit("/", 1)[1]
    elements: list[dict[str, Any]] = [
        {
            "id": rtype,
            "path": rtype,
            "short": f"Summary category {profile.category}",
            "definition": f"A behaviour-level {rtype} of summary category '{profile.category}', built by the "
            "holder from the allow-list in profiles/profiles.json; free text only where its "
            "author marked it shareable.",
        }
    ]
    for element in _top_level_elements(rtype):  # in the base resource's order, as a differential is
        plain = element.removesuffix("[x]")
        if element.endswith("[x]"):  # effective[x] is kept when effectiveDateTime or effectivePeriod is
            keep = any(a.startswith(plain) and len(a) > len(plain) and a[len(plain)].isupper() for a in allowed)
        else:
            keep = element in allowed
        if not keep:
            elements.append({"id": f"{rtype}.{element}", "path": f"{rtype}.{element}", "max": "0"})
        elif element in ("meta", "category", "subject"):
            elements.append({"id": f"{rtype}.{element}", "path": f"{rtype}.{element}", "min": 1})
    return _sd(sid, profile.url, profile.version, rtype, f"Behaviour-level {rtype}: {profile.category}", elements)


def _sd(
    sid: str, url: str, version: str, rtype: str, description: str, elements: list[dict[str, Any]]
) -> dict[str, Any]:
    name = "".join(part.capitalize() for part in sid.replace(".", "-").split("-"))
    return {
        "resourceType": "StructureDefinition",
        "id": sid,
        "url": url,
        "version": version,
        "name": name,
        "status": "active",
        "date": DATE,
        "publisher": PUBLISHER,
        "description": description,
        "fhirVersion": "4.0.1",
        "kind": "resource",
        "abstract": False,
        "type": rtype,
        "baseDefinition": FHIR_SD + rtype,
        "derivation": "constraint",
        "differential": {"element": elements},
    }


def _bundle_sd() -> dict[str, Any]:
    url, version = catalog.bundle_profile().split("|", 1)
    sid = url.rsplit("/", 1)[1]
    elements: list[dict[str, Any]] = [
        {
            "id": "Bundle",
            "path": "Bundle",
            "short": "A signed behaviour-level summary",
            "definition": "The holder's consented summary (contract section 4): a collection, its exchange id in "
            "id and identifier, the request hash in meta.extension, signed with a detached JWS.",
        },
        {"id": "Bundle.meta", "path": "Bundle.meta", "min": 1},
        {"id": "Bundle.meta.extension", "path": "Bundle.meta.extension", "min": 1},
        {"id": "Bundle.identifier", "path": "Bundle.identifier", "min": 1},
        {"id": "Bundle.type", "path": "Bundle.type", "fixedCode": "collection"},
        {"id": "Bundle.timestamp", "path": "Bundle.timestamp", "min": 1},
        {"id": "Bundle.signature", "path": "Bundle.signature", "min": 1},
        {
            "id": "Bundle.signature.sigFormat",
            "path": "Bundle.signature.sigFormat",
            "min": 1,
            "fixedCode": "application/jose",
        },
    ]
    return _sd(sid, url, version, "Bundle", "Signed behaviour-level summary Bundle", elements)


def structure_definitions() -> list[dict[str, Any]]:
    out = [_bundle_sd()]
    out += [_profile_sd(p) for p in load_profiles().values()]
    out += [_extension(eid, name, ctx, vt, definition, max_=mx) for eid, name, ctx, vt, mx, definition in EXTENSIONS]
    return out


# --- OperationDefinitions ----------------------------------------------------------------


_FHIR_TYPES = {
    "valueString": "string",
    "valueCode": "code",
    "valueCoding": "Coding",
    "valueIdentifier": "Identifier",
    "valueBoolean": "boolean",
    "valueInteger": "integer",
    "valueBase64Binary": "base64Binary",
    "valueInstant": "instant",
    "valueDateTime": "dateTime",
    "valueReference": "Reference",
    "resource": "Resource",
}


def _in_parameters(op: dict[str, Any]) -> list[dict[str, Any]]:
    schema = (((op.get("requestBody") or {}).get("content") or {}).get("application/fhir+json") or {}).get("schema")
    items = ((schema or {}).get("properties") or {}).get("parameter", {}).get("items") or {}
    out = []
    for item in items.get("oneOf", [items] if items else []):
        props = item.get("properties") or {}
        name = (props.get("name") or {}).get("enum", [None])[0]
        value = next((k for k in props if k != "name"), None)
        if name is None or value is None:
            continue
        out.append(
            {
                "name": name,
                "use": "in",
                "min": item.get("x-fhir-min", 0),
                "max": item.get("x-fhir-max", "1"),
                "type": _FHIR_TYPES.get(value, "string"),
            }
        )
    return out


def _out_parameters(op: dict[str, Any]) -> list[dict[str, Any]]:
    declared = op.get("x-fhir-out")
    if declared:
        return [{"name": n, "use": "out", "min": 1, "max": "1", "type": t} for n, t in declared]
    ok: dict[str, Any] = next((r for s, r in op.get("responses", {}).items() if s.startswith("2")), {})
    content = ok.get("content") or {}
    schema = (content.get("application/fhir+json") or {}).get("schema") or {}
    rtype = ((schema.get("properties") or {}).get("resourceType") or {}).get("enum", [None])[0]
    if content and "application/fhir+json" not in content:
        rtype = "Binary"  # an HTML page, as $disclosure-report answers
    return [{"name": "return", "use": "out", "min": 1, "max": "1", "type": rtype or "Resource"}]


def operation_definitions(document: dict[str, Any]) -> list[dict[str, Any]]:
    """One OperationDefinition per ``$operation`` path of the route table (OpenAPI document)."""
    out = []
    for path, item in document["paths"].items():
        if "$" not in path:
            continue
        for op in item.values():
            code = path.rsplit("$", 1)[1]
            parts = path.strip("/").split("/")  # fhir, $op | fhir, Type, {id}, $op
            instance_of = parts[1] if len(parts) == 4 else None
            out.append(
                {
                    "resourceType": "OperationDefinition",
                    "id": code,
                    "url": BASE + "OperationDefinition/" + code,
                    "version": "1.0.0",
                    "name": "".join(p.capitalize() for p in code.split("-")),
                    "title": op["summary"][:120],
                    "status": "active",
                    "kind": "operation",
                    "date": DATE,
                    "publisher": PUBLISHER,
                    "description": op["summary"],
                    "affectsState": code not in ("consent-status", "exchange-receipts"),
                    "code": code,
                    **({"resource": [instance_of]} if instance_of else {}),
                    "system": instance_of is None,
                    "type": False,
                    "instance": instance_of is not None,
                    "parameter": _in_parameters(op) + _out_parameters(op),
                }
            )
    return out


# --- NamingSystems ----------------------------------------------------------------------


NAMING_SYSTEMS = (
    ("org-id", "Organisation id of a gateway node in the federation (a-z0-9.-)."),
    ("exchange-id", "A requester's id of one summary exchange (Bundle.id and Bundle.identifier)."),
    ("consent-id", 'A Consent\'s id at its issuer ("issuer/id" for a consent kept at a partner).'),
    ("client-id", "A local API client (an EHR, a portal, a privacy-officer tool) of a node."),
)


def naming_systems() -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "NamingSystem",
            "id": nid,
            "name": "".join(p.capitalize() for p in nid.split("-")),
            "status": "active",
            "kind": "identifier",
            "date": DATE,
            "publisher": PUBLISHER,
            "description": text,
            "uniqueId": [{"type": "uri", "value": BASE + "NamingSystem/" + nid, "preferred": True}],
        }
        for nid, text in NAMING_SYSTEMS
    ]


# --- lookup -----------------------------------------------------------------------------


@cache
def _all(kind: str) -> tuple[dict[str, Any], ...]:
    made = {"CodeSystem": codesystems, "StructureDefinition": structure_definitions, "NamingSystem": naming_systems}
    resources = operation_definitions(document()) if kind == "OperationDefinition" else made[kind]()
    return tuple(resources)


def resources(kind: str) -> list[dict[str, Any]]:
    """Every served resource of ``kind`` (fresh copies)."""
    return copy.deepcopy(list(_all(kind)))


def read(kind: str, rid: str) -> dict[str, Any] | None:
    return next((r for r in resources(kind) if r["id"] == rid), None)


def canonical_of(resource: dict[str, Any]) -> str:
    if resource["resourceType"] == "NamingSystem":
        return str(resource["uniqueId"][0]["value"])
    return str(resource["url"])


def search(kind: str, url: str | None = None) -> list[dict[str, Any]]:
    """Resources of ``kind``, those whose canonical is ``url`` (``url|version`` allowed) when given."""
    found = resources(kind)
    if url is None:
        return found
    plain, _, version = url.partition("|")
    return [r for r in found if canonical_of(r) == plain and (not version or r.get("version") == version)]
