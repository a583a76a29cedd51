"""FHIR R4 datatypes of a summary, checked path by path (contract sections 4 and 5).

A summary's shape is fixed by the profiles: every leaf it may hold has a known path
(``profiles/profiles.json``, the Bundle's own elements, ``Bundle.signature``), and every
such path has one FHIR primitive type. So the datatype check needs no general FHIR model:
each leaf is checked against the regular expression of its type
(https://hl7.org/fhir/R4/datatypes.html), dates and times are also parsed as calendar
values, and the elements FHIR requires (minimum cardinality 1) must be there.

It is stricter than validating with ``fhir.resources``: every leaf must be a non-empty
string (no number, boolean or null anywhere in a summary), and a path outside the table
is refused. ``tests/unit/profiles/test_fhirtypes.py`` derives the types and the required
elements from ``fhir.resources``' own models, so the table cannot drift from FHIR R4, and
checks that what passes here also passes ``fhir.resources``. It costs a tenth of the
model validation, which was most of the requester's check of a summary it received.

Raises ``NotShareable`` naming the element, never its value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from functools import cache
from typing import Any

from contract.errors import NotShareable
from profiles import catalog

__all__ = ["BUNDLE_TYPES", "REQUIRED", "check_datatypes", "leaf_type", "resource_types"]

# https://hl7.org/fhir/R4/datatypes.html, the regex of each primitive type we use
_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_PATTERNS: dict[str, re.Pattern[str]] = {
    "string": re.compile(r"[ \r\n\t\S]+"),
    "markdown": re.compile(r"[ \r\n\t\S]+"),  # \s*(\S|\s)*, but never empty
    "code": re.compile(r"[^\s]+( [^\s]+)*"),
    "id": re.compile(r"[A-Za-z0-9\-.]{1,64}"),
    "uri": re.compile(r"\S+"),
    "canonical": re.compile(r"\S+"),
    "dateTime": re.compile(_YEAR + r"(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01])(T" + _TIME + _ZONE + r")?)?)?"),
    "instant": re.compile(_YEAR + r"-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T" + _TIME + _ZONE),
    "base64Binary": re.compile(r"(\s*([0-9a-zA-Z+/=]){4}\s*)+"),
}

# The type of a leaf by its element name (the profiles' paths end in these).
_BY_NAME: dict[str, str] = {
    "id": "id",
    "source": "uri",
    "profile": "canonical",
    "url": "uri",
    "system": "uri",
    "fullUrl": "uri",
    "code": "code",
    "status": "code",
    "intent": "code",
    "use": "code",
    "display": "string",
    "value": "string",
    "valueString": "string",
    "title": "string",
    "description": "string",
    "name": "string",
    "scheduledString": "string",
    "start": "dateTime",
    "end": "dateTime",
    "effectiveDateTime": "dateTime",
}
_BY_PATH: dict[str, str] = {
    "note[].text": "markdown",  # Annotation.text; every other ``text`` is a string
    "telecom[].system": "code",  # ContactPoint.system; every other ``system`` is a uri
}

BUNDLE_TYPES: dict[str, str] = {
    "id": "id",
    "meta.profile[]": "canonical",
    "meta.extension[].url": "uri",
    "meta.extension[].valueString": "string",
    "meta.tag[].system": "uri",
    "meta.tag[].code": "code",
    "meta.tag[].display": "string",
    "identifier.system": "uri",
    "identifier.value": "string",
    "type": "code",
    "timestamp": "instant",
    "entry[].fullUrl": "uri",
    "signature.type[].system": "uri",
    "signature.type[].code": "code",
    "signature.type[].display": "string",
    "signature.when": "instant",
    "signature.who.identifier.system": "uri",
    "signature.who.identifier.value": "string",
    "signature.sigFormat": "code",
    "signature.data": "base64Binary",
}
"""Every leaf a summary Bundle holds outside its entries' resources, with its type."""

REQUIRED: dict[str, dict[str, tuple[str, ...]]] = {
    "Bundle": {"": ("type",), "meta.extension[]": ("url",), "signature": ("type", "when", "who")},
    "Observation": {"": ("status", "code"), "note[]": ("text",)},
    "CarePlan": {"": ("status", "intent", "subject"), "activity[].detail": ("status",), "note[]": ("text",)},
    "CareTeam": {},
}
"""Per resource type: the elements FHIR R4 requires in the object at each path ('' the root)."""


def leaf_type(path: str) -> str:
    """Return the FHIR primitive type of a resource's leaf ``path``; ``ValueError`` if unknown."""
    if path in _BY_PATH:
        return _BY_PATH[path]
    last = path.rsplit(".", 1)[-1].removesuffix("[]")
    if last == "text":
        return "string"
    if last not in _BY_NAME:
        raise ValueError(f"no FHIR type known for {path!r}")
    return _BY_NAME[last]


@cache
def resource_types(profile: catalog.Profile) -> dict[str, str]:
    """Every leaf path of ``profile`` with its type (a profile with an unknown one stops the node)."""
    return {path: leaf_type(path) for path in profile.allowed_paths() if path != "resourceType"}


def check_datatypes(bundle: dict[str, Any], profiles: Iterable[catalog.Profile | None]) -> None:
    """Check every leaf of ``bundle`` by its type and FHIR's required elements.

    ``profiles`` gives each entry's profile, in entry order (the guard has found them).
    """
    unsigned = {k: v for k, v in bundle.items() if k not in ("resourceType", "entry")}
    _walk(unsigned, "", BUNDLE_TYPES, REQUIRED["Bundle"], "Bundle")
    entries = bundle.get("entry", [])
    for entry, profile in zip(entries, profiles, strict=True):
        _walk({k: v for k, v in entry.items() if k != "resource"}, "entry[]", BUNDLE_TYPES, {}, "Bundle")
        if profile is None:
            raise NotShareable("Resource in de samenvatting valt onder geen bekend profiel.")
        resource = {k: v for k, v in entry["resource"].items() if k != "resourceType"}
        _walk(resource, "", resource_types(profile), REQUIRED.get(profile.resource_type, {}), profile.resource_type)


def _walk(value: Any, path: str, types: dict[str, str], required: dict[str, tuple[str, ...]], where: str) -> None:
    if isinstance(value, dict):
        if not value:
            raise NotShareable(f"Leeg element in {where}: {path or where}.")
        for name in required.get(path, ()):
            if name not in value:
                raise NotShareable(f"Verplicht element ontbreekt in {where}: {path + '.' if path else ''}{name}.")
        for key, item in value.items():
            _walk(item, f"{path}.{key}" if path else key, types, required, where)
    elif isinstance(value, list):
        if not value:
            raise NotShareable(f"Lege lijst in {where}: {path}.")
        for item in value:
            _walk(item, path + "[]", types, required, where)
    else:
        kind = types.get(path)
        if kind is None:
            raise NotShareable(f"Element buiten het profiel in {where}: {path}.")
        if not isinstance(value, str) or not _valid(kind, value):
            raise NotShareable(f"Element {path} in {where} is geen geldige FHIR {kind}.")


def _valid(kind: str, value: str) -> bool:
    if _PATTERNS[kind].fullmatch(value) is None or not value.strip():
        return False
    if kind in ("dateTime", "instant") and len(value) >= 10:
        return _calendar(value)
    return True


def _calendar(value: str) -> bool:
    """A date or time that exists (no 30 February, no leap second Python cannot hold)."""
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
