"""Build the behaviour-level summary Bundle from a holder's records (contract sections 4, 5).

Each entry is a new resource constructed from its category profile's allow-list
(``profiles/profiles.json``); nothing is copied from a source record and then pruned.
Where the exchange id and request hash live is described in ``profiles/README.md``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from contract.errors import InvalidRequest
from profiles import catalog
from profiles.catalog import (
    BSN_SYSTEM,
    DISCLOSURE_SYSTEM,
    EXCHANGE_ID_SYSTEM,
    INBOX_TAGS,
    REQUEST_HASH_EXTENSION,
    SHAREABLE,
    SUMMARY_CATEGORY_SYSTEM,
    Profile,
    load_codesystems,
    load_matrix,
)
from profiles.guard import check_summary
from profiles.outgoing import acceptable, leaf_kind
from profiles.paths import Tree, compile_paths, project

__all__ = ["PROFILE_VERSION", "build_summary", "load_codesystems", "load_matrix", "note_record"]

PROFILE_VERSION = catalog.profile_version()

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_BSN_SHAPE = re.compile(r"[0-9]{9}")


def build_summary(
    records: Sequence[dict[str, Any]],
    categories: Sequence[str],
    *,
    holder_org: str,
    subject_bsn: str,
    exchange_id: str,
    request_hash: str,
    now: datetime,
    tag: str | None = None,
) -> dict[str, Any]:
    """Build the summary Bundle (type ``collection``) for the requested categories.

    Contract section 4 ("Summary") and section 5. A record is picked up when its
    ``resourceType`` is its category profile's and its ``category[].coding`` carries a
    requested summary-category code; its free text goes out only when its ``meta.tag``
    holds disclosure ``shareable``. The result has passed ``guard.check_summary``, its FHIR
    R4 datatypes included, as the recipient will run it.

    Raises ``InvalidRequest`` for an unknown category or a malformed id, hash, BSN or
    organisation; ``NotShareable`` if the guard refuses the result; ``ValueError`` for
    a naive ``now``.

    ``tag`` (``consented-push`` or ``safety-disclosure``) goes in ``Bundle.meta.tag`` of a
    summary the holder pushes, inside the signature, so the recipient's inbox can serve
    the Bundle as it was signed (contract section 9).
    """
    wanted = _requested(categories)
    if tag is not None and tag not in INBOX_TAGS:
        raise InvalidRequest(f"Onbekende markering {tag!r} voor een toegestuurde samenvatting.")
    _require(_FHIR_ID, exchange_id, "exchange id")
    _require(_SHA256_HEX, request_hash, "request hash (sha-256, lowercase hex)")
    _require(_BSN_SHAPE, subject_bsn, "BSN")
    if not holder_org or not holder_org.isprintable() or any(c.isspace() for c in holder_org):
        raise InvalidRequest("Ongeldige organisatie-id van de houder.")

    entries = []
    for record in records:
        profile = _profile_for(record, wanted)
        if profile is not None:
            resource = _build_resource(record, profile, holder_org=holder_org, subject_bsn=subject_bsn)
            entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})

    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": exchange_id,
        "meta": {
            "profile": [catalog.bundle_profile()],
            "extension": [{"url": REQUEST_HASH_EXTENSION, "valueString": request_hash}],
            **({"tag": [_coding(DISCLOSURE_SYSTEM, tag)]} if tag else {}),
        },
        "identifier": {"system": EXCHANGE_ID_SYSTEM, "value": exchange_id},
        "type": "collection",
        "timestamp": _instant(now),
    }
    if entries:  # FHIR forbids empty arrays: no matching records means no entry element
        bundle["entry"] = entries
    check_summary(bundle)
    return bundle


def _requested(categories: Sequence[str]) -> tuple[Profile, ...]:
    if isinstance(categories, str):  # a bare string is a sequence of letters, not of codes
        raise InvalidRequest("Categorieën moeten een lijst zijn.")
    profiles = catalog.load_profiles()
    unknown = [c for c in categories if c not in profiles]
    if unknown or not categories:
        raise InvalidRequest(f"Onbekende of geen samenvattingscategorie: {unknown}.")
    return tuple(profiles[c] for c in catalog.category_order() if c in categories)


def _require(pattern: re.Pattern[str], value: object, what: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidRequest(f"Ongeldige {what}.")


def _instant(now: datetime) -> str:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _codings(element: Any) -> list[dict[str, Any]]:
    """Return the codings of a CodeableConcept list, skipping anything malformed."""
    out: list[dict[str, Any]] = []
    for concept in element if isinstance(element, list) else []:
        codings = concept.get("coding") if isinstance(concept, dict) else None
        out.extend(c for c in codings or [] if isinstance(c, dict))
    return out


def _profile_for(record: Any, wanted: tuple[Profile, ...]) -> Profile | None:
    """Return the first requested profile this record belongs to, or None to leave it out."""
    if not isinstance(record, dict):
        return None
    carried = {c.get("code") for c in _codings(record.get("category")) if c.get("system") == SUMMARY_CATEGORY_SYSTEM}
    for profile in wanted:
        if (
            profile.category in carried
            and record.get("resourceType") == profile.resource_type
            and record.get("status") in profile.statuses  # never entered-in-error, draft, revoked
        ):
            return profile
    return None


def _is_shareable(record: dict[str, Any]) -> bool:
    meta = record.get("meta")
    tags = meta.get("tag") if isinstance(meta, dict) else None
    if not isinstance(tags, list):
        return False
    return any(
        isinstance(t, dict) and t.get("system") == DISCLOSURE_SYSTEM and t.get("code") == SHAREABLE for t in tags
    )


@cache
def _tree(profile: Profile, shareable: bool) -> Tree:
    return compile_paths(profile.always + (profile.shareable if shareable else ()))


def _coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": catalog.codes(system)[code]}


def _checked(value: Any, profile: Profile, path: str = "") -> Any:
    """Leave out every copied string that is not what its element's kind allows.

    Contract section 5: a display is a name checked as a name, a telecom value is shaped as
    a phone number, e-mail address or URL, a date is a FHIR date, a code is in its value set,
    and no string (shareable text included) holds a diagnostic term or code
    (``profiles.outgoing``). A string that fails is left out, not repaired; an element left
    empty goes with it.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if isinstance(item, str):
                kind = leaf_kind(where, shareable=where in profile.shareable)
                if acceptable(kind, where, item, telecom_system=value.get("system")):
                    out[key] = item
            else:
                kept = _checked(item, profile, where)
                if kept:
                    out[key] = kept
        return out
    if isinstance(value, list):
        return [kept for kept in (_checked(item, profile, path + "[]") for item in value) if kept]
    return value


def _build_resource(record: dict[str, Any], profile: Profile, *, holder_org: str, subject_bsn: str) -> dict[str, Any]:
    """Construct one entry resource from the profile's allow-list; never reuse source ids."""
    resource_id = str(uuid.uuid4())
    copied = _checked(project(record, _tree(profile, _is_shareable(record))), profile)
    resource: dict[str, Any] = {
        "resourceType": profile.resource_type,
        "id": resource_id,
        "meta": {"source": holder_org, "profile": [profile.canonical]},
        **copied,
        "category": [{"coding": [_coding(SUMMARY_CATEGORY_SYSTEM, profile.category)]}],
        "subject": {"identifier": {"system": BSN_SYSTEM, "value": subject_bsn}},
    }
    if profile.resource_type == "Observation":
        # Observation.code is required; the source's codes may be diagnostic, so the
        # category stands in for them and only the shareable text (if any) is kept.
        resource["code"] = {
            **copied.get("code", {}),
            "coding": [_coding(SUMMARY_CATEGORY_SYSTEM, profile.category)],
        }
    for element, system in profile.coded:
        known = catalog.codes(system)
        for coding in _codings([record.get(element)]):
            if coding.get("system") == system and coding.get("code") in known:
                resource[element] = {"coding": [_coding(system, coding["code"])]}
                break
    return resource


def note_record(note: str, categories: Sequence[str], *, now: datetime) -> dict[str, Any]:
    """Return a record holding a push's ``note`` (contract section 9), for ``build_summary``.

    The note is text the professional wrote for this push, so it counts as marked
    shareable. It goes out as ``note[].text`` of one resource of the first requested
    category (CodeSystem order) whose profile takes ``note[].text``, and passes the same
    builder and guard as every record. Raises ``InvalidRequest`` when no requested
    category takes free text (a legal measure is a code and a period only).
    """
    for profile in _requested(categories):
        if "note[].text" in profile.shareable:
            record: dict[str, Any] = {
                "resourceType": profile.resource_type,
                "status": "active" if profile.resource_type == "CarePlan" else "final",
                "category": [{"coding": [{"system": SUMMARY_CATEGORY_SYSTEM, "code": profile.category}]}],
                "meta": {"tag": [{"system": DISCLOSURE_SYSTEM, "code": SHAREABLE}]},
                "note": [{"text": note}],
            }
            if profile.resource_type == "CarePlan":
                record.update(intent="plan", period={"start": _instant(now)[:10]})
            else:
                record["effectiveDateTime"] = _instant(now)
            return record
    raise InvalidRequest(
        "Een notitie kan alleen mee met een categorie die vrije tekst opneemt (niet met alleen een maatregel)."
    )
