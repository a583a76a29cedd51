"""The federation list: one operator-signed FHIR Bundle of members (contract section 7).

A ``collection`` Bundle: ``id`` the federation id, ``meta.versionId`` a decimal integer that
grows with every publication, ``timestamp``, and ``meta.extension`` ``valid-until``. Per
member one ``Organization`` (org id and URA identifiers, ``name``, ``type`` from the
``organisation-type`` CodeSystem, ``telecom`` the contact point for professionals) and one
``Endpoint`` (``address`` the node's base URL, ``key-thumbprint`` extensions naming the keys
partners may pin), in the shapes of IHE mCSD. ``Bundle.signature`` is a detached JWS over
the RFC 8785 form of the Bundle without ``signature`` (``gateway.trust.signing``), by the operator.

Where the operator's public key comes from (the contract names only its thumbprint): the
Bundle carries it in ``meta.extension`` ``operator-key`` (the public JWK as JSON text). A
node computes its RFC 7638 thumbprint and uses it only when that thumbprint is one the
node's configuration accepts: the pin is the thumbprint, the document merely supplies the
key material that hashes to it. The JWS header stays ``alg`` + ``kid`` (no ``jwk`` header).

``verify`` is strict and refuses the whole list on the first problem: size, nesting, I-JSON,
signature, an unknown operator key, expiry, a malformed or duplicate entry. It raises
``ListRefused`` with one English line for the operator's log and ``federation status``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, KeySet, OKPKey

from contract import ijson, systems
from contract.errors import BadPartnerSignature, GatewayError, InvalidRequest
from gateway.config import ORG_ID
from gateway.trust import signing
from profiles.catalog import codes

VALID_UNTIL = systems.VALID_UNTIL_EXTENSION
OPERATOR_KEY = systems.OPERATOR_KEY_EXTENSION
KEY_THUMBPRINT = systems.KEY_THUMBPRINT_EXTENSION
ORG_ID_SYSTEM = systems.ORG_ID_SYSTEM
URA_SYSTEM = systems.URA_SYSTEM
ORG_TYPE_SYSTEM = systems.ORGANISATION_TYPE_SYSTEM
CONNECTION_SYSTEM = systems.ENDPOINT_CONNECTION_TYPE_SYSTEM
PAYLOAD_SYSTEM = systems.ENDPOINT_PAYLOAD_TYPE_SYSTEM

MAX_DEPTH = 12  # the deepest element of a well-formed list sits at depth 8
MAX_MEMBERS = 5_000
THUMBPRINT = re.compile(r"^[A-Za-z0-9_-]{43}$")
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_INSTANT = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_VERSION = re.compile(r"^[1-9][0-9]{0,15}$")
_URA = re.compile(r"^[0-9]{8}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{4,22}[0-9]$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$")
_URL = re.compile(r"^(https://[^/\s:]+(:[0-9]{1,5})?|http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?)(/[^\s]*)?$")
NAME = re.compile(r"^[^\x00-\x1f\x7f<>{}\\]{2,200}$")


class ListRefused(GatewayError):
    """A federation list failed a check; the list in force stays (contract section 7)."""

    code = "federation-list-refused"
    message_nl = "De federatielijst is geweigerd; de geldende lijst blijft van kracht."


@dataclass(frozen=True)
class ListedMember:
    """One member as the list names it (validated)."""

    org_id: str
    name: str
    type: str
    url: str
    thumbprints: tuple[str, ...]
    contact: tuple[str, ...] = ()
    ura: str = ""


@dataclass(frozen=True)
class VerifiedList:
    """Only ``verify`` makes one: a list whose signature, operator and entries checked out."""

    federation_id: str
    version: int
    timestamp: datetime
    valid_until: datetime
    operator_kid: str
    sha256: str  # of the RFC 8785 form without signature: same version, same content?
    members: tuple[ListedMember, ...]


def org_types() -> dict[str, str]:
    """``{code: Dutch display}`` of the organisation-type CodeSystem."""
    return codes(ORG_TYPE_SYSTEM)


def check_member(m: ListedMember) -> ListedMember:
    """Refuse a member the list could not carry (also the operator's ``add-member`` input)."""
    where = f"member {m.org_id!r}"
    if not ORG_ID.fullmatch(m.org_id):
        raise ListRefused(f"{where}: org id must be 2-63 chars a-z 0-9 . -")
    if not NAME.fullmatch(m.name) or m.name != m.name.strip():
        raise ListRefused(f"{where}: name must be 2-200 printable characters")
    if m.type not in org_types():
        raise ListRefused(f"{where}: type {m.type!r} is not an organisation-type code ({', '.join(org_types())})")
    if not _URL.fullmatch(m.url):
        raise ListRefused(f"{where}: url {m.url!r} must be https:// (http:// on loopback only)")
    if (
        not m.thumbprints
        or len(m.thumbprints) > 16
        or len(set(m.thumbprints)) != len(m.thumbprints)
        or not all(THUMBPRINT.fullmatch(t) for t in m.thumbprints)
    ):
        raise ListRefused(f"{where}: 1-16 distinct RFC 7638 key thumbprints needed")
    if m.ura and not _URA.fullmatch(m.ura):
        raise ListRefused(f"{where}: URA must be eight digits")
    if len(m.contact) > 8:
        raise ListRefused(f"{where}: at most 8 contact points")
    for value in m.contact:
        if not (_PHONE.fullmatch(value) or _EMAIL.fullmatch(value)):
            raise ListRefused(f"{where}: contact {value!r} is neither a phone number nor an e-mail address")
    return m


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _telecom(value: str) -> dict[str, str]:
    return {"system": "email" if "@" in value else "phone", "value": value, "use": "work"}


def build(
    federation_id: str, version: int, members: Iterable[ListedMember], *, now: datetime, valid_until: datetime
) -> dict[str, Any]:
    """The unsigned list Bundle (sorted by org id, so one content gives one text)."""
    entries: list[dict[str, Any]] = []
    for m in sorted(members, key=lambda x: x.org_id):
        identifier = [{"system": ORG_ID_SYSTEM, "value": m.org_id}]
        if m.ura:
            identifier.append({"system": URA_SYSTEM, "value": m.ura})
        org: dict[str, Any] = {
            "resourceType": "Organization",
            "id": m.org_id,
            "identifier": identifier,
            "active": True,
            "type": [{"coding": [{"system": ORG_TYPE_SYSTEM, "code": m.type, "display": org_types()[m.type]}]}],
            "name": m.name,
            "endpoint": [{"reference": f"Endpoint/{m.org_id}"}],
        }
        if m.contact:
            org["telecom"] = [_telecom(v) for v in m.contact]
        endpoint = {
            "resourceType": "Endpoint",
            "id": m.org_id,
            "extension": [{"url": KEY_THUMBPRINT, "valueString": t} for t in m.thumbprints],
            "status": "active",
            "connectionType": {"system": CONNECTION_SYSTEM, "code": "hl7-fhir-rest"},
            "managingOrganization": {"reference": f"Organization/{m.org_id}"},
            "payloadType": [{"coding": [{"system": PAYLOAD_SYSTEM, "code": "any"}]}],
            "address": m.url,
        }
        entries += [
            {"fullUrl": f"{systems.FEDERATION_URN}Organization/{m.org_id}", "resource": org},
            {"fullUrl": f"{systems.FEDERATION_URN}Endpoint/{m.org_id}", "resource": endpoint},
        ]
    return {
        "resourceType": "Bundle",
        "id": federation_id,
        "meta": {"versionId": str(version), "extension": [{"url": VALID_UNTIL, "valueInstant": instant(valid_until)}]},
        "type": "collection",
        "timestamp": instant(now),
        "entry": entries,
    }


def sign(bundle: dict[str, Any], key: ECKey | OKPKey, *, now: datetime) -> dict[str, Any]:
    """Put the operator's public key in the Bundle and sign it (contract section 7)."""
    public = {k: v for k, v in key.as_dict(private=False).items() if k in ("kty", "crv", "x", "y")}
    bundle = json.loads(json.dumps(bundle))
    bundle["meta"]["extension"].append({"url": OPERATOR_KEY, "valueString": json.dumps(public, sort_keys=True)})
    alg = "ES256" if isinstance(key, ECKey) else "EdDSA"
    return signing.sign_bundle(bundle, key, kid=key.thumbprint(), alg=alg, signer_ref=bundle["id"], now=now)


# --- verification ------------------------------------------------------------------------


def _depth_ok(doc: Any) -> bool:
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return True


def _parse_instant(value: Any, what: str) -> datetime:
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        raise ListRefused(f"{what} is not a FHIR instant")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(UTC)


def _extensions(holder: dict[str, Any], url: str, kind: str) -> list[Any]:
    exts = holder.get("extension", [])
    if not isinstance(exts, list) or not all(isinstance(x, dict) for x in exts):
        raise ListRefused("an extension list is malformed")
    return [x.get(kind) for x in exts if x.get("url") == url]


def _public_key(jwk: Any) -> ECKey | OKPKey:
    """A public EC P-256 or Ed25519 key, nothing else (never a private member)."""
    if not isinstance(jwk, dict) or {"d", "p", "q", "k"} & set(jwk):
        raise ListRefused("operator-key is not a public JWK")
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256" and set(jwk) == {"kty", "crv", "x", "y"}:
        return ECKey.import_key(jwk)
    if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and set(jwk) == {"kty", "crv", "x"}:
        return OKPKey.import_key(jwk)
    raise ListRefused("operator-key must be an EC P-256 or Ed25519 public key (kty, crv, x[, y] only)")


def _operator_key(meta: dict[str, Any], accepted: frozenset[str]) -> ECKey | OKPKey:
    found = _extensions(meta, OPERATOR_KEY, "valueString")
    if len(found) != 1 or not isinstance(found[0], str):
        raise ListRefused("the list does not carry exactly one operator-key")
    try:
        key = _public_key(ijson.loads(found[0]))
    except InvalidRequest as exc:
        raise ListRefused(f"operator-key: {exc.detail}") from None
    except (ValueError, TypeError):
        raise ListRefused("operator-key is not a valid public key") from None
    if key.thumbprint() not in accepted:
        raise ListRefused(
            f"signed by operator key {key.thumbprint()}, which this node does not accept "
            "([federation] operator_thumbprints)"
        )
    return key


def verify(
    raw: bytes, accepted: Iterable[str], *, now: datetime, grace: int = 0, max_bytes: int = 10_000_000
) -> VerifiedList:
    """Check a fetched list completely; return it verified or raise ``ListRefused``."""
    if len(raw) > max_bytes:
        raise ListRefused(f"the list is {len(raw)} bytes, more than max_list_bytes ({max_bytes})")
    try:
        doc = ijson.loads(raw)
    except InvalidRequest as exc:
        raise ListRefused(f"the list is not strict JSON: {exc.detail}") from None
    if not _depth_ok(doc):
        raise ListRefused(f"the list is nested deeper than {MAX_DEPTH} levels")
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle" or doc.get("type") != "collection":
        raise ListRefused("the list is not a FHIR Bundle of type collection")
    meta = doc.get("meta")
    if not isinstance(meta, dict):
        raise ListRefused("the list has no meta")
    key = _operator_key(meta, frozenset(accepted))
    try:
        signing.verify_bundle(doc, KeySet([key]))
    except BadPartnerSignature as exc:
        raise ListRefused(f"the operator's signature does not verify ({exc.detail})") from None
    federation_id = doc.get("id")
    if not isinstance(federation_id, str) or not FHIR_ID.fullmatch(federation_id):
        raise ListRefused("Bundle.id (the federation id) is missing or not a FHIR id")
    version = meta.get("versionId")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ListRefused("meta.versionId is not a positive decimal integer")
    timestamp = _parse_instant(doc.get("timestamp"), "Bundle.timestamp")
    until = _extensions(meta, VALID_UNTIL, "valueInstant")
    if len(until) != 1:
        raise ListRefused("the list does not carry exactly one valid-until")
    valid_until = _parse_instant(until[0], "valid-until")
    if valid_until <= timestamp:
        raise ListRefused("valid-until is not after the list's timestamp")
    if now >= valid_until + timedelta(seconds=grace):
        raise ListRefused(f"the list expired at {instant(valid_until)}")
    members = _members(doc.get("entry", []))
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    digest = hashlib.sha256(signing.canonical(unsigned)).hexdigest()
    return VerifiedList(federation_id, int(version), timestamp, valid_until, key.thumbprint(), digest, members)


def _members(entries: Any) -> tuple[ListedMember, ...]:
    if not isinstance(entries, list) or len(entries) > 2 * MAX_MEMBERS:
        raise ListRefused(f"Bundle.entry must be a list of at most {2 * MAX_MEMBERS} entries")
    orgs: dict[str, dict[str, Any]] = {}
    endpoints: dict[str, dict[str, Any]] = {}
    for n, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") not in ("Organization", "Endpoint"):
            raise ListRefused(f"entry {n} is neither an Organization nor an Endpoint")
        if resource["resourceType"] == "Organization":
            org_id = _org_id(resource, n)
            if org_id in orgs:
                raise ListRefused(f"org id {org_id!r} is listed twice")
            orgs[org_id] = resource
        else:
            ref = resource.get("managingOrganization")
            target = ref.get("reference") if isinstance(ref, dict) else None
            if not isinstance(target, str) or not target.startswith("Organization/"):
                raise ListRefused(f"entry {n}: Endpoint without managingOrganization")
            org_id = target.removeprefix("Organization/")
            if org_id in endpoints:
                raise ListRefused(f"org id {org_id!r} has two Endpoints")
            endpoints[org_id] = resource
    if set(orgs) != set(endpoints):
        odd = sorted(set(orgs) ^ set(endpoints))[0]
        raise ListRefused(f"org id {odd!r} needs exactly one Organization and one Endpoint")
    return tuple(_member(org_id, orgs[org_id], endpoints[org_id]) for org_id in sorted(orgs))


def _org_id(org: dict[str, Any], n: int) -> str:
    ids = org.get("identifier")
    if not isinstance(ids, list) or not all(isinstance(i, dict) for i in ids):
        raise ListRefused(f"entry {n}: Organization.identifier is malformed")
    values = [i.get("value") for i in ids if i.get("system") == ORG_ID_SYSTEM]
    if len(values) != 1 or not isinstance(values[0], str) or not ORG_ID.fullmatch(values[0]):
        raise ListRefused(f"entry {n}: Organization needs exactly one valid org-id identifier")
    if org.get("id") != values[0]:
        raise ListRefused(f"entry {n}: Organization.id must be its org id")
    return values[0]


def _member(org_id: str, org: dict[str, Any], endpoint: dict[str, Any]) -> ListedMember:
    where = f"member {org_id!r}"
    ura = [i.get("value") for i in org["identifier"] if i.get("system") == URA_SYSTEM]
    if len(ura) > 1 or (ura and not isinstance(ura[0], str)):
        raise ListRefused(f"{where}: at most one URA identifier")
    types = org.get("type")
    try:
        (coding,) = [c for t in types for c in t["coding"] if c.get("system") == ORG_TYPE_SYSTEM]  # type: ignore[union-attr]
        org_type = coding["code"]
    except (TypeError, KeyError, ValueError, AttributeError):
        raise ListRefused(f"{where}: Organization.type needs exactly one organisation-type coding") from None
    telecom = org.get("telecom", [])
    if not isinstance(telecom, list) or not all(
        isinstance(t, dict) and isinstance(t.get("value"), str) and t.get("system") in ("phone", "email")
        for t in telecom
    ):
        raise ListRefused(f"{where}: telecom must be phone or email values")
    if endpoint.get("status") != "active":
        raise ListRefused(f"{where}: Endpoint.status must be active")
    conn = endpoint.get("connectionType")
    if not isinstance(conn, dict) or conn.get("system") != CONNECTION_SYSTEM or conn.get("code") != "hl7-fhir-rest":
        raise ListRefused(f"{where}: Endpoint.connectionType must be hl7-fhir-rest")
    address = endpoint.get("address")
    thumbprints = _extensions(endpoint, KEY_THUMBPRINT, "valueString")
    name = org.get("name")
    if (
        not isinstance(address, str)
        or not isinstance(name, str)
        or not isinstance(org_type, str)
        or not all(isinstance(t, str) for t in thumbprints)
    ):
        raise ListRefused(f"{where}: name, type, address and thumbprints must be strings")
    return check_member(
        ListedMember(
            org_id=org_id,
            name=name,
            type=org_type,
            url=address.rstrip("/"),
            thumbprints=tuple(thumbprints),
            contact=tuple(t["value"] for t in telecom),
            ura=ura[0] if ura else "",
        )
    )
