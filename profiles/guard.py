"""The last check before a summary leaves the node: fail closed on anything diagnostic.

Contract section 5: a summary never contains a Condition, a diagnosis or DSM/ICD code,
medication, test results or treatment notes. The builder already constructs output from
allow-lists; this guard checks the result anyway, independently of how it was built, and
also refuses numbers that RFC 8785 would rewrite (SECURITY.md), then validates the Bundle
as FHIR R4. The guard checks structure; whether free text was marked shareable is the
builder's rule, as the guard cannot see the source record. What it can see it checks by
kind (``profiles.outgoing``): every display is a name, every telecom value is shaped as one,
dates are dates, codes are in their value sets, our own codings carry our own displays; it
walks every string of the Bundle (displays, telecom values, extensions, narrative, ids) for
diagnostic codes and terms; and last it checks every leaf as the FHIR R4 datatype its path
holds (``profiles.fhirtypes``). Holder and requester both run all of it.
"""

from __future__ import annotations

from typing import Any

from contract import systems
from contract.errors import NotShareable
from profiles import catalog
from profiles.catalog import (
    BSN_SYSTEM,
    DISCLOSURE_SYSTEM,
    INBOX_TAGS,
    REQUEST_HASH_EXTENSION,
    SUMMARY_CATEGORY_SYSTEM,
    Profile,
)
from profiles.fhirtypes import check_datatypes
from profiles.outgoing import acceptable, check_strings, leaf_kind
from profiles.paths import leaf_paths

__all__ = ["ALLOWED_SNOMED_CODES", "check_summary"]

_FORBIDDEN_TYPES = frozenset(
    {
        "Condition",
        "DiagnosticReport",
        "Procedure",
        "ClinicalImpression",
        "RiskAssessment",
        "FamilyMemberHistory",
        "AllergyIntolerance",
        "Immunization",
        "Specimen",
        "ImagingStudy",
    }
)
# Substrings of code system URLs that carry diagnoses, findings, medication or test results.
_FORBIDDEN_SYSTEM_PARTS = (
    "icd",
    "dsm",
    "snomed",
    "whocc.no/atc",
    "loinc",
    "rxnorm",
    "gstandaard",
    "g-standaard",
    "z-index",
    "kinz",
)
_FORBIDDEN_SYSTEM_OIDS = (systems.SNOMED_OID, systems.ICD10_OID, systems.ATC_OID, systems.LOINC_OID)
_G_STANDAARD_OID_PREFIX = systems.G_STANDAARD_OID_PREFIX  # GPK, HPK, PRK, ZI-nummer
_SNOMED_SYSTEMS = (systems.SNOMED_SYSTEM, systems.SNOMED_OID)
ALLOWED_SNOMED_CODES: frozenset[str] = frozenset()
"""SNOMED CT codes a future profile may allow (e.g. a professional role); none today."""

_BUNDLE_PATHS = frozenset(
    {
        "resourceType",
        "id",
        "meta.profile[]",
        "meta.extension[].url",
        "meta.extension[].valueString",
        "identifier.system",
        "identifier.value",
        "type",
        "timestamp",
        "entry[].fullUrl",
        "meta.tag[].system",
        "meta.tag[].code",
        "meta.tag[].display",
    }
)
_SAFE_INT = 2**53  # RFC 8785 writes numbers as IEEE-754 doubles


def check_summary(bundle: Any) -> None:
    """Refuse a summary Bundle that holds anything beyond the behaviour-level profiles.

    Contract section 5; SECURITY.md on RFC 8785 numbers. The ``signature`` element's
    cryptography is left to ``gateway.trust.signing``; its shape and datatypes are checked
    here. Raises ``NotShareable`` on the first finding.

    The FHIR R4 datatypes are checked path by path against the profiles
    (``profiles.fhirtypes``), not by validating the Bundle with ``fhir.resources``: that was
    about 1.3 ms of a 5-entry summary, most of the guard's cost, and a check by path is
    stricter (only non-empty strings, only known paths) at a tenth of the cost.
    """
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise NotShareable("Samenvatting is geen Bundle.")
    if bundle.get("type") != "collection":
        raise NotShareable("Samenvatting is geen Bundle van type collection.")
    _check_numbers(bundle)
    meta = bundle.get("meta")
    if not isinstance(meta, dict) or meta.get("profile") != [catalog.bundle_profile()]:
        raise NotShareable("Samenvatting is niet onder de geldende profielversie gebouwd.")
    if meta.get("extension") != [{"url": REQUEST_HASH_EXTENSION, "valueString": _request_hash(meta)}]:
        raise NotShareable("Samenvatting draagt de hash van het verzoek niet (alleen).")
    if "tag" in meta and meta["tag"] not in [
        [{"system": DISCLOSURE_SYSTEM, "code": code, "display": catalog.codes(DISCLOSURE_SYSTEM)[code]}]
        for code in INBOX_TAGS
    ]:
        raise NotShareable("Samenvatting draagt een onbekende markering (meta.tag).")
    unsigned = {k: v for k, v in bundle.items() if k not in ("entry", "signature")}
    _check_paths(unsigned, _BUNDLE_PATHS, "Bundle")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise NotShareable("Samenvatting heeft een ongeldige entry-lijst.")
    found = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            raise NotShareable("Samenvatting bevat een entry zonder resource.")
        _check_paths({k: v for k, v in entry.items() if k != "resource"}, {"fullUrl"}, "entry")
        found.append(_check_resource(entry["resource"]))
    check_strings(bundle)  # every string, whatever element holds it
    check_datatypes(bundle, found)  # last: every leaf as its FHIR R4 type, FHIR's required elements


def _request_hash(meta: dict[str, Any]) -> Any:
    extensions = meta.get("extension")
    if isinstance(extensions, list) and len(extensions) == 1 and isinstance(extensions[0], dict):
        return extensions[0].get("valueString")
    return None


def _check_numbers(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            raise NotShareable("Samenvatting bevat een kommagetal; RFC 8785 zou het herschrijven.")
        if isinstance(item, int) and not isinstance(item, bool) and not -_SAFE_INT < item < _SAFE_INT:
            raise NotShareable("Samenvatting bevat een getal buiten het veilige bereik van RFC 8785.")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_resource(resource: dict[str, Any]) -> Profile:
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or kind in _FORBIDDEN_TYPES or kind.startswith("Medication"):
        raise NotShareable("Samenvatting bevat een diagnose, medicatie, verrichting of uitslag.")
    _check_systems(resource)
    paths = list(leaf_paths(resource))  # walked once, for the measured value and the allow-list
    if "valueQuantity" in resource or any(".valueQuantity" in p for p in paths):
        raise NotShareable("Samenvatting bevat een meetwaarde.")
    categories = _codings(resource.get("category"))
    if any(c.get("code") == "laboratory" for c in categories):
        raise NotShareable("Samenvatting bevat een laboratoriumuitslag.")
    profile = _profile_of(resource)
    allowed = profile.allowed_paths()
    for path in paths:
        if path not in allowed:
            raise NotShareable(f"Element buiten het profiel in {kind}: {path}.")
    _check_kinds(resource, profile)
    if resource.get("status") not in profile.statuses:  # fhir.resources checks no value sets
        raise NotShareable("Status van een resource valt buiten het profiel.")
    if {(c.get("system"), c.get("code")) for c in categories} != {(SUMMARY_CATEGORY_SYSTEM, profile.category)}:
        raise NotShareable("Categorie van een resource klopt niet met haar profiel.")
    subject = resource.get("subject", {}).get("identifier", {})
    if subject.get("system") != BSN_SYSTEM:
        raise NotShareable("Persoon in de samenvatting is niet met een BSN aangeduid.")
    return profile


def _profile_of(resource: dict[str, Any]) -> Profile:
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    found = (
        catalog.profile_by_canonical(profiles[0])
        if isinstance(profiles, list) and len(profiles) == 1 and isinstance(profiles[0], str)
        else None
    )
    if found is None or found.resource_type != resource.get("resourceType"):
        raise NotShareable("Resource in de samenvatting valt onder geen bekend profiel.")
    return found


def _check_kinds(value: Any, profile: Profile, path: str = "") -> None:
    """Check every copied leaf by its kind; a coding of ours must carry our own display."""
    if isinstance(value, list):
        for item in value:
            _check_kinds(item, profile, path + "[]")
        return
    if not isinstance(value, dict):
        return
    system = value.get("system")
    if path.endswith("coding[]") and isinstance(system, str) and system in catalog.codesystem_urls():
        known = catalog.codes(system)
        code = value.get("code")
        if not isinstance(code, str) or code not in known or value.get("display", known[code]) != known[code]:
            raise NotShareable("Samenvatting bevat een code of weergave die niet in het eigen codesysteem staat.")
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if not isinstance(item, str):
            _check_kinds(item, profile, where)
        elif where in profile.always or where in profile.shareable:
            kind = leaf_kind(where, shareable=where in profile.shareable)
            if not acceptable(kind, where, item, telecom_system=system):
                raise NotShareable(
                    f"Element {where} is niet wat het profiel er toestaat "
                    "(naam, telefoonnummer, e-mail, URL, datum of code)."
                )


def _check_paths(value: dict[str, Any], allowed: frozenset[str] | set[str], where: str) -> None:
    for path in leaf_paths(value):
        if path not in allowed:
            raise NotShareable(f"Element buiten het profiel in {where}: {path}.")


def _check_systems(value: Any) -> None:
    """Refuse forbidden code systems anywhere, and codings outside our own CodeSystems."""
    ours = catalog.codesystem_urls()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, is_coding = stack.pop()
        if isinstance(item, list):
            stack.extend((element, is_coding) for element in item)
        elif isinstance(item, dict):
            system = item.get("system")
            if isinstance(system, str) and _forbidden(system, item.get("code")):
                raise NotShareable("Samenvatting bevat een diagnose-, medicatie- of uitslagcode.")
            if (
                is_coding
                and (not isinstance(system, str) or system not in ours)
                and not _allowed_snomed(system, item.get("code"))
            ):
                raise NotShareable("Samenvatting bevat een code buiten de eigen codesystemen.")
            stack.extend((element, key == "coding") for key, element in item.items())


def _allowed_snomed(system: Any, code: Any) -> bool:
    return isinstance(system, str) and system.lower() in _SNOMED_SYSTEMS and code in ALLOWED_SNOMED_CODES


def _forbidden(system: str, code: Any) -> bool:
    lowered = system.lower()
    if lowered.startswith(_SNOMED_SYSTEMS):
        return not _allowed_snomed(system, code)
    return (
        any(part in lowered for part in _FORBIDDEN_SYSTEM_PARTS)
        or lowered in _FORBIDDEN_SYSTEM_OIDS
        or lowered.startswith(_G_STANDAARD_OID_PREFIX)
    )


def _codings(element: Any) -> list[dict[str, Any]]:
    codings: list[dict[str, Any]] = []
    for concept in element if isinstance(element, list) else []:
        if isinstance(concept, dict) and isinstance(concept.get("coding"), list):
            codings.extend(c for c in concept["coding"] if isinstance(c, dict))
    return codings
