"""FHIR R4 rules that ``fhir.resources`` does not check: required bindings and invariants.

``fhir.resources`` validates structure and datatypes, but stores ``Observation.status =
"bogus"`` or a ``Consent`` without ``policy``/``policyRule`` (invariant ppc-1) as valid
(its ``enum_values`` are hints, cut short, and never enforced). An EHR that sends such a
resource gets ``invalid-request`` here, with the FHIRPath ``expression`` of the element at
fault and an English ``diagnostics`` beside the Dutch text, and nothing is stored.

The table covers the resources the node takes in (contract section 3) and the datatypes
inside them; the value sets are R4's (hl7.org/fhir/R4, each a "required" binding).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from contract.errors import InvalidRequest

_IDENTIFIER_USE = frozenset({"usual", "official", "temp", "secondary", "old"})
_CONTACT_SYSTEM = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
_CONTACT_USE = frozenset({"home", "work", "temp", "old", "mobile"})
_NAME_USE = frozenset({"usual", "official", "temp", "nickname", "anonymous", "old", "maiden"})
_ADDRESS_USE = frozenset({"home", "work", "temp", "old", "billing"})
_ADDRESS_TYPE = frozenset({"postal", "physical", "both"})
_GENDER = frozenset({"male", "female", "other", "unknown"})
_NARRATIVE = frozenset({"generated", "extensions", "additional", "empty"})
_EPISODE = frozenset({"planned", "waitlist", "active", "onhold", "finished", "cancelled", "entered-in-error"})
_ACTIVITY = frozenset(
    {
        "not-started",
        "scheduled",
        "in-progress",
        "on-hold",
        "completed",
        "cancelled",
        "stopped",
        "unknown",
        "entered-in-error",
    }
)
_REQUEST_KIND = frozenset(
    {
        "Appointment",
        "CommunicationRequest",
        "DeviceRequest",
        "MedicationRequest",
        "NutritionOrder",
        "Task",
        "ServiceRequest",
        "VisionPrescription",
    }
)

#: datatype elements found anywhere a resource holds them (relative path -> value set)
_COMMON: Mapping[str, frozenset[str]] = {
    "text.status": _NARRATIVE,
    "identifier.use": _IDENTIFIER_USE,
    "telecom.system": _CONTACT_SYSTEM,
    "telecom.use": _CONTACT_USE,
    "name.use": _NAME_USE,
    "address.use": _ADDRESS_USE,
    "address.type": _ADDRESS_TYPE,
}

#: resource type -> element path -> the codes R4's required binding allows
REQUIRED_BINDINGS: Mapping[str, Mapping[str, frozenset[str]]] = {
    "Patient": {
        "gender": _GENDER,
        "contact.gender": _GENDER,
        "contact.telecom.system": _CONTACT_SYSTEM,
        "link.type": frozenset({"replaced-by", "replaces", "refer", "seealso"}),
    },
    "RelatedPerson": {"gender": _GENDER},
    "Observation": {
        "status": frozenset(
            {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown"}
        ),
        "valueQuantity.comparator": frozenset({"<", "<=", ">=", ">"}),
    },
    "CarePlan": {
        "status": frozenset({"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}),
        "intent": frozenset({"proposal", "plan", "order", "option"}),
        "activity.detail.status": _ACTIVITY,
        "activity.detail.kind": _REQUEST_KIND,
    },
    "CareTeam": {"status": frozenset({"proposed", "active", "suspended", "inactive", "entered-in-error"})},
    "EpisodeOfCare": {"status": _EPISODE, "statusHistory.status": _EPISODE},
    "Consent": {
        "status": frozenset({"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}),
        "provision.type": frozenset({"deny", "permit"}),
        "provision.data.meaning": frozenset({"instance", "related", "dependents", "authoredby"}),
        "provision.provision.type": frozenset({"deny", "permit"}),
    },
    "Bundle": {
        "type": frozenset(
            {
                "document",
                "message",
                "transaction",
                "transaction-response",
                "batch",
                "batch-response",
                "history",
                "searchset",
                "collection",
            }
        ),
        "entry.request.method": frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}),
        "entry.search.mode": frozenset({"match", "include", "outcome"}),
    },
}


def _walk(element: Any, steps: list[str], where: str) -> Iterator[tuple[str, Any]]:
    """Yield (FHIRPath, value) for every element at ``steps`` below ``element``, lists indexed."""
    if isinstance(element, list):
        for i, item in enumerate(element):
            yield from _walk(item, steps, f"{where}[{i}]")
        return
    if not steps:
        yield where, element
        return
    if isinstance(element, dict) and steps[0] in element:
        yield from _walk(element[steps[0]], steps[1:], f"{where}.{steps[0]}")


def _empty(element: Any, where: str) -> str | None:
    """The FHIRPath of the first empty array or object (FHIR JSON and invariant ele-1 forbid them)."""
    if isinstance(element, dict):
        if not element:
            return where
        for key, value in element.items():
            found = _empty(value, f"{where}.{key}")
            if found:
                return found
    elif isinstance(element, list):
        if not element:
            return where
        for i, item in enumerate(element):
            found = _empty(item, f"{where}[{i}]")
            if found:
                return found
    return None


def check(resource: dict[str, Any]) -> None:
    """Refuse a resource that breaks a required binding or an invariant (``InvalidRequest``)."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        return
    empty = _empty(resource, rtype)
    if empty:
        raise InvalidRequest(
            f"Ongeldige {rtype}: {empty} is leeg; laat een element zonder waarde weg.",
            expression=(empty,),
            diagnostics=f"{empty}: empty arrays and objects are not allowed in FHIR JSON (ele-1)",
        )
    table = {**_COMMON, **REQUIRED_BINDINGS.get(rtype, {})}
    for path, allowed in table.items():
        for expression, value in _walk(resource, path.split("."), rtype):
            if value not in allowed:
                shown = repr(value)[:40]
                raise InvalidRequest(
                    f"Ongeldige {rtype}: {expression} heeft de onbekende code {shown}.",
                    expression=(expression,),
                    diagnostics=f"{expression}: {shown} is not in the required value set "
                    f"({', '.join(sorted(allowed))})",
                )
    if rtype == "Consent":
        _consent_invariants(resource)


def _consent_invariants(resource: dict[str, Any]) -> None:
    """R4 Consent ppc-1: ``policy.exists() or policyRule.exists()``."""
    if not resource.get("policy") and not resource.get("policyRule"):
        raise InvalidRequest(
            "Ongeldige Consent: noem de regeling waaronder toestemming is gegeven (policyRule of policy).",
            expression=("Consent.policyRule", "Consent.policy"),
            diagnostics="Consent: invariant ppc-1 failed (either a policy or a policyRule is required)",
        )
