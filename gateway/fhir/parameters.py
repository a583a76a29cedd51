"""Read FHIR ``Parameters`` strictly: known names only, the right value[x], no duplicates."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from consent.model import valid_bsn
from contract.errors import InvalidRequest
from gateway.fhir.fhir_in import BSN_SYSTEM, CATEGORY_SYSTEM, PURPOSE_SYSTEM

MAX_TEXT = 2000
MAX_NOTE = 500
"""A consent note is a short remark, kept whole in the holder's audit line (at most 4 KiB)."""


@dataclass(frozen=True)
class Spec:
    value: str  # valueString, valueIdentifier, valueCoding, valueCode, valueBase64Binary, valueInteger,
    # valueReference, resource
    required: bool = False
    repeat: bool = False
    max_len: int = MAX_TEXT


def read(body: dict[str, Any], specs: dict[str, Spec]) -> dict[str, Any]:
    """Return {name: value or [values]}; raise InvalidRequest naming the problem."""
    if body.get("resourceType") != "Parameters":
        raise InvalidRequest("Verwacht een FHIR Parameters-resource.")
    if set(body) - {"resourceType", "parameter", "id", "meta"}:
        raise InvalidRequest("Parameters bevat onbekende elementen.")
    # contract section 4: parameter is 0..*, so {"resourceType": "Parameters"} is what a
    # generic FHIR client sends to an operation without input; a missing required one is
    # named below
    params = body.get("parameter", [])
    if not isinstance(params, list):
        raise InvalidRequest("Parameters.parameter is een lijst van parameters.")
    out: dict[str, Any] = {}
    for p in params:
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise InvalidRequest("Elke parameter heeft een naam.")
        name = p["name"]
        spec = specs.get(name)
        if spec is None:
            raise InvalidRequest(f"Onbekende parameter {name!r}.")
        if set(p) != {"name", spec.value}:
            raise InvalidRequest(f"Parameter {name!r} verwacht precies {spec.value}.")
        value = _check(name, spec.value, p[spec.value], spec.max_len)
        if spec.repeat:
            out.setdefault(name, []).append(value)
        elif name in out:
            raise InvalidRequest(f"Parameter {name!r} komt meer dan eens voor.")
        else:
            out[name] = value
    for name, spec in specs.items():
        if spec.required and name not in out:
            raise InvalidRequest(f"Parameter {name!r} ontbreekt.")
    return out


def _check(name: str, kind: str, value: Any, max_len: int = MAX_TEXT) -> Any:
    if kind in ("valueString", "valueCode", "valueBase64Binary"):
        if (
            not isinstance(value, str)
            or not value.strip()
            or len(value) > (max_len if kind != "valueCode" else 64)
            or "\x00" in value
            or not _utf8(value)
        ):
            raise InvalidRequest(f"Parameter {name!r} is geen geldige tekst.")
        return value
    if kind == "valueInteger":
        if type(value) is not int:
            raise InvalidRequest(f"Parameter {name!r} is geen geheel getal.")
    if kind == "valueReference":
        ref = value.get("reference") if isinstance(value, dict) else None
        if (
            not isinstance(ref, str)
            or not ref.startswith(("Patient/", "RelatedPerson/"))
            or len(ref) > 100
            or set(value) != {"reference"}
        ):
            raise InvalidRequest(f"Parameter {name!r} is een Reference naar Patient/<id> of RelatedPerson/<id>.")
        return value
    if kind in ("valueIdentifier", "valueCoding"):
        if not isinstance(value, dict):
            raise InvalidRequest(f"Parameter {name!r} is geen {kind[5:]}.")
        return value
    if kind == "resource":
        if not isinstance(value, dict):
            raise InvalidRequest(f"Parameter {name!r} is geen resource.")
        return value
    raise AssertionError(kind)


def _utf8(value: str) -> bool:
    """JSON escapes can carry a lone surrogate, which neither store nor audit line can keep."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def bsn(identifier: dict[str, Any], name: str = "subject") -> str:
    value = identifier.get("value")
    if identifier.get("system") != BSN_SYSTEM or not isinstance(value, str) or not valid_bsn(value):
        raise InvalidRequest(f"Parameter {name!r}: een BSN ({BSN_SYSTEM}) dat de elfproef doorstaat.")
    return value


def code(coding: dict[str, Any], system: str, name: str) -> str:
    value = coding.get("code")
    if coding.get("system") != system or not isinstance(value, str) or not value:
        raise InvalidRequest(f"Parameter {name!r}: een code uit {system}.")
    return value


def practitioner(identifier: dict[str, Any]) -> str:
    """An identifier such as uzi:123456 or agb:…, given as Identifier{system?, value}."""
    value = identifier.get("value")
    if not isinstance(value, str) or not value or len(value) > 128 or not value.isprintable():
        raise InvalidRequest("Parameter 'practitioner' heeft een waarde nodig (bijv. uzi:123456).")
    return value


@dataclass(frozen=True)
class SummaryParams:
    subject: str
    purpose: str
    categories: tuple[str, ...]
    consent_token: str | None
    note: str | None


SUMMARY_SPECS = {
    "subject": Spec("valueIdentifier", required=True),
    "purpose": Spec("valueCoding", required=True),
    "category": Spec("valueCoding", required=True, repeat=True),
    "consent-token": Spec("valueString", max_len=16 * 1024),
    "consent-note": Spec("valueString", max_len=MAX_NOTE),
}


def summary(values: dict[str, Any]) -> SummaryParams:
    cats = tuple(code(c, CATEGORY_SYSTEM, "category") for c in values["category"])
    if len(set(cats)) != len(cats):
        raise InvalidRequest("Een categorie is dubbel gevraagd.")
    return SummaryParams(
        subject=bsn(values["subject"]),
        purpose=code(values["purpose"], PURPOSE_SYSTEM, "purpose"),
        categories=cats,
        consent_token=values.get("consent-token"),
        note=values.get("consent-note"),
    )


def build(**values: Any) -> dict[str, Any]:
    """Build a Parameters resource from name=(value[x], value) pairs, lists repeating."""
    out = []
    for name, (kind, value) in values.items():
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                out.append({"name": name.replace("_", "-"), kind: v})
    return {"resourceType": "Parameters", "parameter": out}


_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def fhir_id(value: str, name: str) -> str:
    """A FHIR id (letters, digits, '-', '.', at most 64): what our consent and exchange ids are."""
    if not _FHIR_ID.fullmatch(value):
        raise InvalidRequest(f"Parameter {name!r} is geen geldige id.")
    return value


def date(value: str, name: str) -> str:
    """A calendar date JJJJ-MM-DD, returned in ISO form."""
    try:
        if len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise InvalidRequest(f"Parameter {name!r} is een datum JJJJ-MM-DD.") from None
