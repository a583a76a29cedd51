"""The local API's operations as FHIR: ``Parameters`` in, the use cases' typed requests out,
and their results back as ``Parameters`` (contract sections 3, 4, 8 and 9).

Only the HTTP edge speaks FHIR ``Parameters`` to the use cases; the pages build the same
requests from their forms. Each reader is strict (``gateway.fhir.parameters``): unknown
or repeated parameters, a BSN that is not one, a code from another system, a text too
long, all ``InvalidRequest``.
"""

from __future__ import annotations

from typing import Any

from contract.errors import InvalidRequest
from gateway.fhir import parameters
from gateway.fhir.fhir_in import BSN_SYSTEM, CATEGORY_SYSTEM, PURPOSE_SYSTEM
from gateway.services import locate, push, safety
from gateway.services.exchange import Sent, SummaryRequest

_SUMMARY = dict(parameters.SUMMARY_SPECS, partner=parameters.Spec("valueString", required=True))
_SAFETY = {
    "recipient": parameters.Spec("valueString", required=True),
    "subject": parameters.Spec("valueIdentifier", required=True),
    "category": parameters.Spec("valueCoding", required=True, repeat=True),
    "legal-ground": parameters.Spec("valueCode", required=True),
    "justification": parameters.Spec("valueString", required=True),
}
_SEND = {
    "recipient": parameters.Spec("valueString", required=True),
    "subject": parameters.Spec("valueIdentifier", required=True),
    "purpose": parameters.Spec("valueCoding", required=True),
    "category": parameters.Spec("valueCoding", required=True, repeat=True),
    "consent-token": parameters.Spec("valueString", max_len=16 * 1024),
    "note": parameters.Spec("valueString", max_len=push.MAX_NOTE),
}


_LOCATE = {
    "subject": parameters.Spec("valueIdentifier", required=True, repeat=True),
    "purpose": parameters.Spec("valueCoding", required=True),
}


def _categories(values: dict[str, Any]) -> tuple[str, ...]:
    return tuple(parameters.code(c, CATEGORY_SYSTEM, "category") for c in values["category"])


def summary_request(body: dict[str, Any]) -> SummaryRequest:
    """``$request-summary`` (section 3)."""
    values = parameters.read(body, _SUMMARY)
    p = parameters.summary(values)
    return SummaryRequest(
        partner=values["partner"],
        subject=p.subject,
        purpose=p.purpose,
        categories=p.categories,
        consent_token=p.consent_token,
        note=p.note,
    )


def safety_request(body: dict[str, Any]) -> safety.DisclosureRequest:
    """``$safety-disclosure`` (section 4)."""
    values = parameters.read(body, _SAFETY)
    return safety.DisclosureRequest(
        recipient=values["recipient"],
        subject=parameters.bsn(values["subject"]),
        categories=_categories(values),
        legal_ground=values["legal-ground"],
        justification=values["justification"],
    )


def send_request(body: dict[str, Any]) -> push.SendRequest:
    """``$send-summary`` (section 9)."""
    values = parameters.read(body, _SEND)
    cats = _categories(values)
    if len(set(cats)) != len(cats):
        raise InvalidRequest("Een categorie is dubbel genoemd.")
    return push.SendRequest(
        recipient=values["recipient"],
        subject=parameters.bsn(values["subject"]),
        purpose=parameters.code(values["purpose"], PURPOSE_SYSTEM, "purpose"),
        categories=cats,
        consent_token=values.get("consent-token"),
        note=values.get("note"),
    )


def locate_request(body: dict[str, Any]) -> locate.Request:
    """``$locate`` (section 8): the same BSN twice is asked once."""
    values = parameters.read(body, _LOCATE)
    if len(values["subject"]) > locate.MAX_SUBJECTS:
        raise InvalidRequest(f"Zoek naar hoogstens {locate.MAX_SUBJECTS} personen tegelijk (een kind en zijn ouders).")
    subjects = tuple(dict.fromkeys(parameters.bsn(s) for s in values["subject"]))
    return locate.Request(subjects=subjects, purpose=parameters.code(values["purpose"], PURPOSE_SYSTEM, "purpose"))


def sent(result: Sent) -> dict[str, Any]:
    """The receipt of a push: its exchange id and ``delivered``."""
    return parameters.build(exchange_id=("valueString", result.exchange_id), status=("valueCode", result.status))


def located(result: locate.Result) -> dict[str, Any]:
    """``$locate``'s answer: a ``match`` part per organisation found, ``unavailable`` per one not heard."""
    parts: list[dict[str, Any]] = []
    for f in result.found:
        e = f.entry
        sub = [
            {"name": "subject", "valueIdentifier": {"system": BSN_SYSTEM, "value": f.subject}},
            {"name": "organisation", "valueString": e.org_id},
            {"name": "name", "valueString": e.name},
            {"name": "type", "valueCoding": {"system": locate.ORG_TYPE_SYSTEM, "code": e.type}},
        ]
        sub += [{"name": "contact", "valueContactPoint": locate.contact_point(c)} for c in e.contact]
        parts.append({"name": "match", "part": sub})
    for e, reason in result.unavailable:
        parts.append(
            {
                "name": "unavailable",
                "part": [
                    {"name": "organisation", "valueString": e.org_id},
                    {"name": "name", "valueString": e.name},
                    {"name": "reason", "valueCode": reason},
                ],
            }
        )
    return {"resourceType": "Parameters", "parameter": parts} if parts else {"resourceType": "Parameters"}
