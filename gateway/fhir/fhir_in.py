"""Turn incoming FHIR resources into the node's own values (contract section 3).

Each parser validates the resource with ``fhir.resources.R4B`` first, then reads only
what the node needs, refusing what breaks a contract rule with a Dutch explanation
(``InvalidRequest``, 400). Each parsed value carries the resource as received
(``resource``), which the use case stores: the typed request of a write use case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from consent.model import valid_bsn, valid_party_key
from contract import systems
from contract.errors import InvalidRequest
from gateway.config import ORG_ID
from gateway.fhir import fhir_checks
from profiles.summary import load_matrix

BSN_SYSTEM = systems.BSN_SYSTEM
ORG_SYSTEM = systems.ORG_ID_SYSTEM
CS = systems.CODESYSTEM_BASE
CATEGORY_SYSTEM = systems.SUMMARY_CATEGORY_SYSTEM
PURPOSE_SYSTEM = systems.PURPOSE_SYSTEM
DISCLOSURE_SYSTEM = systems.DISCLOSURE_SYSTEM
ROLECODE = systems.ROLE_CODE_SYSTEM
PARTICIPATION = systems.PARTICIPATION_TYPE_SYSTEM
EXT = systems.EXTENSION_BASE
SOURCE_SYSTEM_DEFAULT = systems.LOCAL_SOURCE_URN
RECORD_TYPES = ("Observation", "CarePlan", "CareTeam", "EpisodeOfCare")
MAX_ORG_ID = 64  # org ids are stored in String(64) columns (partners, audit peer_org)


def validate(resource: dict[str, Any]) -> Any:
    """Validate with fhir.resources; raise InvalidRequest naming the first problem."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        raise InvalidRequest("resourceType ontbreekt.")
    try:
        model = get_fhir_model_class(rtype)
    except (KeyError, ValueError):
        raise InvalidRequest(f"Onbekend resourceType {rtype!r}.") from None
    try:
        validated = model.model_validate(resource)
    except ValidationError as exc:
        expressions, english = _located(rtype, exc)
        where = ", ".join(expressions) or rtype
        raise InvalidRequest(
            f"Ongeldige {rtype}: {where} heeft een ongeldige waarde of vorm.",
            expression=expressions,
            diagnostics=english,
        ) from None
    except (ValueError, TypeError) as exc:
        first = str(exc).splitlines()
        raise InvalidRequest(
            f"Ongeldige {rtype}: {' '.join(first[:3])[:300]}",
            expression=(rtype,),
            diagnostics=" ".join(first[:3])[:300],
        ) from None
    fhir_checks.check(resource)
    return validated


def _located(rtype: str, exc: ValidationError) -> tuple[tuple[str, ...], str]:
    """The FHIRPath of each element pydantic refused, and its messages in English."""
    paths: list[str] = []
    messages: list[str] = []
    for err in exc.errors()[:5]:
        path = rtype
        for step in err.get("loc", ()):
            if isinstance(step, int):
                path += f"[{step}]"
            elif isinstance(step, str) and not step.startswith("function-") and step != "__root__":
                path += "." + step.removesuffix("__ext")
        if path not in paths:
            paths.append(path)
        messages.append(f"{path}: {str(err.get('msg', 'invalid'))[:200]}")
    return tuple(paths), "; ".join(messages)[:600]


def bsn_of(identifiers: Any, what: str = "persoon") -> str:
    for ident in identifiers or []:
        if isinstance(ident, dict) and ident.get("system") == BSN_SYSTEM:
            value = ident.get("value")
            if not isinstance(value, str) or not valid_bsn(value):
                raise InvalidRequest(f"BSN van {what} voldoet niet aan de elfproef of het formaat.")
            return value
    raise InvalidRequest(f"Identifier met systeem {BSN_SYSTEM} (BSN) ontbreekt voor {what}.")


@dataclass(frozen=True)
class PatientIn:
    bsn: str
    birth_date: dt.date
    resource: dict[str, Any] = field(compare=False, repr=False)  # the Patient as received


def patient(resource: dict[str, Any]) -> PatientIn:
    validate(resource)
    bsn = bsn_of(resource.get("identifier"))
    birth = resource.get("birthDate")
    if not isinstance(birth, str) or len(birth) != 10:
        raise InvalidRequest("birthDate (JJJJ-MM-DD) is verplicht.")
    try:
        day = dt.date.fromisoformat(birth)
    except ValueError:
        raise InvalidRequest("birthDate is geen geldige datum.") from None
    return PatientIn(bsn=bsn, birth_date=day, resource=resource)


def local_id(reference: Any, rtype: str) -> str:
    """Read ``{rtype}/{id}`` from a Reference; raise InvalidRequest otherwise."""
    ref = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(ref, str) or not ref.startswith(rtype + "/") or len(ref) <= len(rtype) + 1:
        raise InvalidRequest(f"Verwacht een verwijzing '{rtype}/<id>'.")
    return ref.split("/", 1)[1]


def codes(concepts: Any, system: str) -> list[str]:
    out: list[str] = []
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        if isinstance(concept, dict):
            for coding in concept.get("coding") or []:
                if isinstance(coding, dict) and coding.get("system") == system and isinstance(coding.get("code"), str):
                    out.append(coding["code"])
    return out


@dataclass(frozen=True)
class RelationIn:
    child_id: str
    party_key: str
    kind: str
    custody: bool
    resource: dict[str, Any] = field(compare=False, repr=False)  # the RelatedPerson as received


def related_person(resource: dict[str, Any]) -> RelationIn:
    """A parent, voogd or guardian institution of a child; GUARD marks custody (gezag)."""
    validate(resource)
    child = local_id(resource.get("patient"), "Patient")
    roles = set(codes(resource.get("relationship"), ROLECODE))
    parent = bool(roles & {"PRN", "MTH", "FTH", "NPRN", "NMTH", "NFTH"})
    custody = "GUARD" in roles
    if not parent and not custody:
        raise InvalidRequest("relationship moet PRN, MTH of FTH (ouder) en/of GUARD (gezag) bevatten.")
    idents = resource.get("identifier") or []
    org = next((i.get("value") for i in idents if isinstance(i, dict) and i.get("system") == ORG_SYSTEM), None)
    if org is not None and not parent:
        # the key must survive consent.model.Party later, or every consent of this child
        # would fail to load; and it must fit the relations table
        if not isinstance(org, str) or len(org) > MAX_ORG_ID or not valid_party_key(f"org:{org}"):
            raise InvalidRequest("Ongeldige organisatie-id van de gecertificeerde instelling.")
        return RelationIn(child, f"org:{org}", "institution", custody, resource)
    bsn = bsn_of(idents, "ouder of voogd")
    return RelationIn(child, f"bsn:{bsn}", "parent" if parent else "guardian", custody, resource)


@dataclass(frozen=True)
class RecordIn:
    resource_type: str
    subject_ref: str  # Patient/<id> or a BSN
    subject_is_bsn: bool
    category: str
    shareable: bool
    source_system: str
    source_id: str | None
    resource: dict[str, Any] = field(compare=False, repr=False)  # the record as received


def record(resource: dict[str, Any], known_categories: frozenset[str]) -> RecordIn:
    """One of the node's own records, with exactly one summary category."""
    rtype = resource.get("resourceType")
    if rtype not in RECORD_TYPES:
        raise InvalidRequest(f"Alleen {', '.join(RECORD_TYPES)} kunnen als dossierregel worden opgeslagen.")
    validate(resource)
    subject = resource.get("patient") if rtype == "EpisodeOfCare" else resource.get("subject")
    if rtype == "CareTeam" and subject is None:
        subject = resource.get("subject")
    if not isinstance(subject, dict):
        raise InvalidRequest("subject (of patient) ontbreekt.")
    if isinstance(subject.get("identifier"), dict):
        subject_ref, is_bsn = bsn_of([subject["identifier"]]), True
    else:
        subject_ref, is_bsn = local_id(subject, "Patient"), False
    cats = list(codes(_categories_of(resource), CATEGORY_SYSTEM))
    if len(cats) != 1:
        raise InvalidRequest(f"Een dossierregel heeft precies één samenvattingscategorie ({CATEGORY_SYSTEM}).")
    if cats[0] not in known_categories:
        raise InvalidRequest(f"Onbekende samenvattingscategorie {cats[0]!r}.")
    tags = (resource.get("meta") or {}).get("tag") or []
    shareable = any(
        isinstance(t, dict) and t.get("system") == DISCLOSURE_SYSTEM and t.get("code") == "shareable" for t in tags
    )
    source_system, source_id = SOURCE_SYSTEM_DEFAULT, None
    for ident in resource.get("identifier") or []:
        if isinstance(ident, dict) and isinstance(ident.get("system"), str) and isinstance(ident.get("value"), str):
            source_system, source_id = ident["system"], ident["value"]
            break
    return RecordIn(rtype, subject_ref, is_bsn, cats[0], shareable, source_system, source_id, resource)


def known_categories() -> frozenset[str]:
    """The summary categories a record may carry: every category of the profiles' matrix."""
    return frozenset(c for cats in load_matrix().values() for c in cats)


def records(
    resources: list[dict[str, Any]], known: frozenset[str], where: Callable[[int], str] | None = None
) -> list[RecordIn]:
    """Parse several records; ``where(i)`` names the i-th in an error (a transaction's ``entry[i]``)."""
    out = []
    for i, resource in enumerate(resources):
        try:
            out.append(record(resource, known))
        except InvalidRequest as exc:
            if where is None:
                raise
            raise InvalidRequest(f"{where(i)}: {exc.detail}") from None
    return out


def _categories_of(resource: dict[str, Any]) -> Any:
    if resource.get("resourceType") == "EpisodeOfCare":
        return resource.get("type")
    return resource.get("category")


@dataclass(frozen=True)
class ConsentIn:
    subject_id: str
    performers: tuple[str, ...]  # "Patient/<id>" or "RelatedPerson/<id>"
    refused_by: tuple[str, ...]
    consulted: tuple[str, ...]
    decision: str
    status: str
    start: dt.date
    end: dt.date | None
    recipients: frozenset[str]
    holders: frozenset[str]
    purpose: str
    categories: frozenset[str]
    resource: dict[str, Any] = field(compare=False, repr=False)  # the Consent as received


def _date_of(value: Any, what: str) -> dt.date:
    if not isinstance(value, str) or len(value) < 10:
        raise InvalidRequest(f"{what} ontbreekt.")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidRequest(f"{what} is geen geldige datum.") from None


FINDABLE = "findable"  # the purpose of being findable (contract section 8)


def consent(resource: dict[str, Any]) -> ConsentIn:
    """Read a FHIR R4 Consent as contract section 3 describes it."""
    validate(resource)
    status = resource.get("status")
    if status not in ("active", "rejected"):
        raise InvalidRequest("Een nieuwe toestemming heeft status 'active' (of 'rejected' voor een weigering).")
    subject_id = local_id(resource.get("patient"), "Patient")
    performers = []
    for ref in resource.get("performer") or []:
        r = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(r, str) or not r.startswith(("Patient/", "RelatedPerson/")):
            raise InvalidRequest("performer verwijst naar Patient/<id> of RelatedPerson/<id>.")
        performers.append(r)
    ext: dict[Any, list[str]] = {e.get("url"): [] for e in resource.get("extension") or []}
    for e in resource.get("extension") or []:
        ref = (e.get("valueReference") or {}).get("reference")
        if isinstance(ref, str):
            ext[e.get("url")].append(ref)
    prov = resource.get("provision")
    if not isinstance(prov, dict):
        raise InvalidRequest("provision ontbreekt.")
    period = prov.get("period") or {}
    start = _date_of(period.get("start"), "provision.period.start")
    end = _date_of(period["end"], "provision.period.end") if period.get("end") else None
    if end is not None and end < start:
        # consent.model.Grant refuses this too, but only when the row is read back: the
        # stored consent would break every later listing of the person's consents
        raise InvalidRequest("provision.period.end ligt voor provision.period.start.")
    recipients, holders = set(), set()
    for actor in prov.get("actor") or []:
        role = codes(actor.get("role"), PARTICIPATION)
        org = ((actor.get("reference") or {}).get("identifier") or {}).get("value")
        if not isinstance(org, str) or not org:
            raise InvalidRequest("provision.actor.reference.identifier.value (organisatie-id) ontbreekt.")
        if not ORG_ID.fullmatch(org):  # consents name nodes: org ids as `gateway init` takes them
            raise InvalidRequest(f"Ongeldige organisatie-id in provision.actor: {org[:70]!r}.")
        if "IRCP" in role:
            recipients.add(org)
        elif "CST" in role:
            holders.add(org)
        else:
            raise InvalidRequest("provision.actor.role is IRCP (ontvanger) of CST (bronhouder).")
    purposes = []
    for coding in prov.get("purpose") or []:
        if isinstance(coding, dict) and coding.get("system") == PURPOSE_SYSTEM:
            purposes.append(coding.get("code"))
    if len(purposes) != 1 or not isinstance(purposes[0], str):
        raise InvalidRequest(f"provision.purpose heeft precies één doel uit {PURPOSE_SYSTEM}.")
    categories = codes(prov.get("code") or [], CATEGORY_SYSTEM)
    if not categories:
        raise InvalidRequest(f"provision.code noemt de samenvattingscategorieën ({CATEGORY_SYSTEM}).")
    decision = prov.get("type") or "permit"
    if purposes[0] == FINDABLE:
        # contract section 8: being findable names only holders (this node), never a recipient
        if recipients or not holders or set(categories) != {"involvement"} or decision != "permit":
            raise InvalidRequest(
                "Een toestemming om vindbaar te zijn (findable) noemt alleen deze organisatie "
                "als bronhouder (CST), geen ontvanger, en alleen de categorie involvement."
            )
    elif not recipients or not holders:
        raise InvalidRequest("Noem minstens één ontvangende (IRCP) en één bronhoudende (CST) organisatie.")
    if decision not in ("permit", "deny"):
        # FHIR's binding is required; an unknown code stored here would break every read
        raise InvalidRequest("provision.type is 'permit' (toestemming) of 'deny' (bezwaar).")
    if status == "rejected" and (decision != "permit" or not ext.get(EXT + "refused-by")):
        raise InvalidRequest("Een weigering (status 'rejected') noemt wie weigert in de extensie refused-by.")
    return ConsentIn(
        subject_id=subject_id,
        performers=tuple(performers),
        status=status,
        refused_by=tuple(ext.get(EXT + "refused-by", [])),
        consulted=tuple(ext.get(EXT + "consulted", [])),
        decision=decision,
        start=start,
        end=end,
        recipients=frozenset(recipients),
        holders=frozenset(holders),
        purpose=purposes[0],
        categories=frozenset(categories),
        resource=resource,
    )
