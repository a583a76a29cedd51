"""Read the pages' forms strictly; build the Consent the register keeps.

Each reader returns (values, errors): errors is a list of (field id, Dutch message) for
the error summary at the top of the form (WCAG 3.3.1), each linking to its field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from consent.model import valid_bsn
from contract import systems
from gateway.fhir.fhir_in import (
    CATEGORY_SYSTEM,
    EXT,
    ORG_SYSTEM,
    PARTICIPATION,
    PURPOSE_SYSTEM,
)
from profiles import catalog

Errors = list[tuple[str, str]]
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MAX_TEXT = 2000


def purposes() -> dict[str, frozenset[str]]:
    """Purpose -> the categories it may see (``profiles/matrix.json``)."""
    return {p: frozenset(c) for p, c in catalog.load_matrix().items()}


#: found through $locate, never asked for, sent or chosen in a form (contract section 8)
NOT_A_SUMMARY = frozenset({"involvement"})
FINDABLE = "findable"


def categories() -> list[str]:
    return [c for c in catalog.category_order() if c not in NOT_A_SUMMARY]


def text(form: Any, name: str, *, max_len: int = MAX_TEXT) -> str:
    value = form.get(name, "")
    value = value.replace("\x00", "").strip() if isinstance(value, str) else ""
    return value[:max_len]


def chosen_categories(form: Any, name: str = "categorie") -> list[str]:
    known = categories()
    picked = [c for c in form.getlist(name) if c in known]
    return [c for c in known if c in picked]


def bsn_field(value: str) -> str | None:
    digits = value.replace(" ", "").replace(".", "")
    return digits if valid_bsn(digits) else None


def a_date(value: str) -> date | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def consent_actors(recipients: list[str], holders: list[str]) -> list[dict[str, Any]]:
    """``Consent.provision.actor``: the organisations that receive (IRCP), then those that hold (CST)."""

    def actor(role: str, org: str) -> dict[str, Any]:
        return {
            "role": {"coding": [{"system": PARTICIPATION, "code": role}]},
            "reference": {"identifier": {"system": ORG_SYSTEM, "value": org}},
        }

    return [actor("IRCP", o) for o in recipients] + [actor("CST", o) for o in holders]


def consent_resource(
    pid: str,
    *,
    agreed: list[str],
    refused: list[str],
    consulted: list[str],
    recipients: list[str],
    holders: list[str],
    purpose: str,
    cats: list[str],
    start: date,
    end: date | None,
) -> dict[str, Any]:
    """A FHIR R4 Consent as ``POST /fhir/Consent`` takes it (contract section 3)."""
    period = {"start": start.isoformat()}
    if end is not None:
        period["end"] = end.isoformat()
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "rejected" if refused else "active",
        "scope": {"coding": [{"system": systems.CONSENT_SCOPE_SYSTEM, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": systems.LOINC_SYSTEM, "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{pid}"},
        "dateTime": f"{start.isoformat()}T12:00:00+01:00",
        "performer": [{"reference": r} for r in agreed],
        "policyRule": {"coding": [{"system": systems.ACT_CODE_SYSTEM, "code": "OPTIN"}]},
        "provision": {
            "type": "permit",
            "period": period,
            "actor": consent_actors(recipients, holders),
            "purpose": [{"system": PURPOSE_SYSTEM, "code": purpose}],
            "code": [{"coding": [{"system": CATEGORY_SYSTEM, "code": c}]} for c in cats],
        },
    }
    if not agreed:  # FHIR JSON has no empty arrays: no performer at all, refused by the grantor rules
        del resource["performer"]
    ext = [{"url": EXT + "refused-by", "valueReference": {"reference": r}} for r in refused]
    ext += [{"url": EXT + "consulted", "valueReference": {"reference": r}} for r in consulted]
    if ext:
        resource["extension"] = ext
    return resource


def default_end(start: date) -> date:
    return start + timedelta(days=365)


@dataclass(frozen=True)
class ExchangeForm:
    """An ask or send form as read: the partner (asked or sent to), purpose, categories and
    note; the values to show the form with again; its errors."""

    partner: str
    purpose: str
    categories: list[str]
    note: str | None
    values: dict[str, Any]
    errors: Errors


def read_exchange(
    form: Any, fields: tuple[str, str], max_note: int, partners: list[str], messages: tuple[str, str]
) -> ExchangeForm:
    """Read a form that names a trusted partner, a purpose and categories (ask or send).

    ``fields`` names the partner's and the note's fields; ``messages`` are the errors when the
    partner is not a trusted one and when the purpose is not known.
    """
    partner_field, note_field = fields
    partner, purpose, cats = form.get(partner_field, ""), form.get("doel", ""), chosen_categories(form)
    note = text(form, note_field, max_len=max_note) or None
    values = {partner_field: partner, "doel": purpose, "categorie": cats, note_field: note or ""}
    errors: Errors = []
    if partner not in partners:
        errors.append((partner_field, messages[0]))
    if purpose not in purposes():
        errors.append(("doel", messages[1]))
    if not cats:
        errors.append(("categorie-" + categories()[0], "Kies minstens één soort gegevens."))
    return ExchangeForm(partner, purpose, cats, note, values, errors)
