"""Audit actions and the NEN 7513 audit record (SECURITY.md, "NEN 7513 log line").

Every auditable act is a named constant; its Dutch label for the privacy officer who
reviews the log is the audit-action CodeSystem's designation (``profiles/codesystems``).
An ``AuditRecord`` holds what NEN 7513 asks of a log line (who, in which role, on whose
behalf, for which purpose, from where, about whom, which data, on which consent or legal
ground, with which outcome) plus the exchange evidence: our and the
peer's request/response hashes, so the two logs vouch for each other. The event id, the
timestamp and the chain position belong to the chain (``audit.chain``).

A record is validated when it is built: a record that could not be stored identically in
SQLite and PostgreSQL, or that would carry a token, a secret or a body, never exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from contract import jcs, systems
from profiles import catalog

# --- actions ---------------------------------------------------------------------------

DISCLOSURE_SENT = "disclosure-sent"
DISCLOSURE_REFUSED = "disclosure-refused"
SUMMARY_RECEIVED = "summary-received"
SUMMARY_REQUEST_FAILED = "summary-request-failed"
CONSENT_RECORDED = "consent-recorded"
CONSENT_REFUSED = "consent-refused"
CONSENT_REVOKED = "consent-revoked"
CONSENT_DECLINED = "consent-declined"
CONSENT_VIEWED = "consent-viewed"
CONSENT_STATUS_QUERIED = "consent-status-queried"
TOKEN_ISSUED = "token-issued"  # noqa: S105 - an action name, not a secret
SAFETY_DISCLOSURE_SENT = "safety-disclosure-sent"
SAFETY_DISCLOSURE_RECEIVED = "safety-disclosure-received"
KEY_ROTATED = "key-rotated"
PARTNER_ADDED = "partner-added"
PARTNER_REMOVED = "partner-removed"
PARTNER_KEYS_UPDATED = "partner-keys-updated"
CLIENT_ADDED = "client-added"
CLIENT_REMOVED = "client-removed"
CLIENT_SECRET_ROTATED = "client-secret-rotated"  # noqa: S105 - an action name, not a secret
LOGIN = "login"
LOGIN_FAILED = "login-failed"
AUDIT_READ = "audit-read"
AUDIT_PRUNED = "audit-pruned"
FLAG_HANDLED = "flag-handled"
RECORD_WRITTEN = "record-written"
RECORD_VIEWED = "record-viewed"
RECORD_DELETED = "record-deleted"
FEDERATION_LIST_APPLIED = "federation-list-applied"
FEDERATION_LIST_REFUSED = "federation-list-refused"
FEDERATION_MEMBER_ADDED = "federation-member-added"
FEDERATION_MEMBER_UPDATED = "federation-member-updated"
FEDERATION_MEMBER_REMOVED = "federation-member-removed"
FEDERATION_CONFLICT = "federation-conflict"
LOCATOR_SETUP_SERVED = "locator-setup-served"
LOCATOR_MATCH_ANSWERED = "locator-match-answered"
LOCATOR_KEY_ROTATED = "locator-key-rotated"
LOCATE_SEARCHED = "locate-searched"
SUMMARY_PUSHED = "summary-pushed"
SUMMARY_PUSH_FAILED = "summary-push-failed"
SUMMARY_PUSH_RECEIVED = "summary-push-received"
SUMMARY_PUSH_REFUSED = "summary-push-refused"

ACTION_CODES: tuple[str, ...] = (
    DISCLOSURE_SENT,
    DISCLOSURE_REFUSED,
    SUMMARY_RECEIVED,
    SUMMARY_REQUEST_FAILED,
    CONSENT_RECORDED,
    CONSENT_REFUSED,
    CONSENT_REVOKED,
    CONSENT_DECLINED,
    CONSENT_VIEWED,
    CONSENT_STATUS_QUERIED,
    TOKEN_ISSUED,
    SAFETY_DISCLOSURE_SENT,
    SAFETY_DISCLOSURE_RECEIVED,
    KEY_ROTATED,
    PARTNER_ADDED,
    PARTNER_REMOVED,
    PARTNER_KEYS_UPDATED,
    CLIENT_ADDED,
    CLIENT_REMOVED,
    CLIENT_SECRET_ROTATED,
    LOGIN,
    LOGIN_FAILED,
    AUDIT_READ,
    AUDIT_PRUNED,
    FLAG_HANDLED,
    RECORD_WRITTEN,
    RECORD_VIEWED,
    RECORD_DELETED,
    FEDERATION_LIST_APPLIED,
    FEDERATION_LIST_REFUSED,
    FEDERATION_MEMBER_ADDED,
    FEDERATION_MEMBER_UPDATED,
    FEDERATION_MEMBER_REMOVED,
    FEDERATION_CONFLICT,
    LOCATOR_SETUP_SERVED,
    LOCATOR_MATCH_ANSWERED,
    LOCATOR_KEY_ROTATED,
    LOCATE_SEARCHED,
    SUMMARY_PUSHED,
    SUMMARY_PUSH_FAILED,
    SUMMARY_PUSH_RECEIVED,
    SUMMARY_PUSH_REFUSED,
)
"""Every action, in the order of the audit-action CodeSystem."""


def _labels(system: str, codes: tuple[str, ...]) -> Mapping[str, str]:
    # A code without a concept would be logged with no label: stop at start-up instead.
    missing = sorted(set(codes) - set(catalog.codes(system)))
    if missing:
        raise ValueError(f"{system} lacks {missing} (profiles/codesystems)")
    return MappingProxyType({code: catalog.label(system, code) for code in codes})


ACTIONS: Mapping[str, str] = _labels(catalog.AUDIT_ACTION_SYSTEM, ACTION_CODES)
"""Action code -> Dutch label for privacy officers."""

SAFETY_ACTIONS = frozenset({SAFETY_DISCLOSURE_SENT, SAFETY_DISCLOSURE_RECEIVED})

# --- who acted --------------------------------------------------------------------------

#: A practitioner's actor id is ``<kind>:<number>``: each kind's NamingSystem (the FHIR
#: export, ``audit.fhir``) and its Dutch name (the privacy officer's report, ``audit.report``).
PRACTITIONER_ID_KINDS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "uzi": (systems.UZI_SYSTEM, "UZI-nummer"),
        "agb": (systems.AGB_SYSTEM, "AGB-code"),
        "big": (systems.BIG_SYSTEM, "BIG-nummer"),
    }
)

# --- outcomes --------------------------------------------------------------------------

SUCCESS = "success"
REFUSED = "refused"
ERROR = "error"
OUTCOMES: Mapping[str, str] = _labels(catalog.AUDIT_OUTCOME_SYSTEM, (SUCCESS, REFUSED, ERROR))
"""Outcome code -> Dutch label (the audit-outcome CodeSystem)."""

# --- validation limits -----------------------------------------------------------------

MAX_TEXT = 512
"""Longest single text field; identifiers and codes are far shorter."""
MAX_DETAIL_BYTES = 4096
"""Largest canonical ``detail``: a note, never a body."""
MAX_SAFE_INT = 2**53 - 1
"""I-JSON / RFC 8785 integer domain; larger integers change when canonicalised."""

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_BSN = re.compile(r"[0-9]{9}")
# A compact JWS/JWT (three base64url parts, header starting '{"'), or a bearer credential.
_CREDENTIAL = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.|\b[Bb]earer\s+\S")
_FORBIDDEN_KEY_PARTS = (
    "token",
    "secret",
    "password",
    "authorization",
    "assertion",
    "cookie",
    "body",
    "jwt",
    "jws",
    "private",
)
_ALLOWED_KEY_SUFFIXES = ("_jti", "_hash", "-jti", "-hash")

_TEXT_FIELDS = (
    "actor_id",
    "actor_role",
    "actor_org",
    "on_behalf_of",
    "purpose",
    "access_point",
    "subject",
    "consent_id",
    "legal_ground",
    "exchange_id",
    "peer_org",
    "reason_code",
    "request_hash",
    "response_hash",
    "peer_request_hash",
    "peer_response_hash",
)
_HASH_FIELDS = ("request_hash", "response_hash", "peer_request_hash", "peer_response_hash")


class InvalidAuditRecord(ValueError):
    """The audit record breaks a rule below; the caller fails closed (no audit, no disclosure)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One NEN 7513 log line, without its chain position; see the module docstring.

    ``subject`` is a BSN (nine ASCII digits) or "". ``actor_id`` is a practitioner
    identifier such as ``uzi:123456``, a client id, or ``system:<job>``. Hashes are
    lowercase sha256 hex or "". A refused or failed outcome names its ``reason_code``.
    Safety disclosures are always ``flagged`` for review. ``detail`` is small JSON
    without floats, tokens, secrets or bodies. Raises ``InvalidAuditRecord``.
    """

    action: str
    outcome: str
    actor_id: str
    actor_role: str = ""
    actor_org: str = ""
    on_behalf_of: str = ""
    purpose: str = ""
    access_point: str = ""
    subject: str = ""
    categories: tuple[str, ...] = ()
    resource_types: tuple[str, ...] = ()
    count: int = 0
    consent_id: str = ""
    legal_ground: str = ""
    exchange_id: str = ""
    peer_org: str = ""
    reason_code: str = ""
    request_hash: str = ""
    response_hash: str = ""
    peer_request_hash: str = ""
    peer_response_hash: str = ""
    flagged: bool = False
    detail: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidAuditRecord(f"unknown audit action {self.action!r}")
        if self.outcome not in OUTCOMES:
            raise InvalidAuditRecord(f"unknown outcome {self.outcome!r}")
        for name in _TEXT_FIELDS:
            _check_text(name, getattr(self, name))
        if not self.actor_id:
            raise InvalidAuditRecord("actor_id is required (NEN 7513: who acted)")
        if self.subject and not _BSN.fullmatch(self.subject):
            raise InvalidAuditRecord("subject must be a BSN of nine ASCII digits, or empty")
        for name in _HASH_FIELDS:
            value = getattr(self, name)
            if value and not _SHA256_HEX.fullmatch(value):
                raise InvalidAuditRecord(f"{name} must be lowercase sha256 hex")
        for name in ("categories", "resource_types"):
            object.__setattr__(self, name, _text_tuple(name, getattr(self, name)))
        if type(self.count) is not int or not 0 <= self.count <= MAX_SAFE_INT:
            raise InvalidAuditRecord("count must be a non-negative integer")
        if type(self.flagged) is not bool:
            raise InvalidAuditRecord("flagged must be a bool")
        if self.outcome != SUCCESS and not self.reason_code:
            raise InvalidAuditRecord("a refused or failed outcome needs a reason_code")
        if self.action in SAFETY_ACTIONS and not self.flagged:
            raise InvalidAuditRecord("safety disclosures are always flagged for review")
        object.__setattr__(self, "detail", _frozen_detail(self.detail))

    def to_dict(self) -> dict[str, Any]:
        """Return the record as plain JSON-safe data (lists, dicts, str, int, bool, None)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = _thaw(value)
        return out

    @property
    def label_nl(self) -> str:
        """Return the Dutch label of this record's action."""
        return ACTIONS[self.action]


def _check_text(name: str, value: object) -> None:
    if type(value) is not str:
        raise InvalidAuditRecord(f"{name} must be a string")
    if len(value) > MAX_TEXT:
        raise InvalidAuditRecord(f"{name} is longer than {MAX_TEXT} characters")
    _check_string(name, value)


def _check_string(name: str, value: str) -> None:
    # PostgreSQL refuses NUL in text while SQLite stores it: refuse it so both agree.
    if "\x00" in value:
        raise InvalidAuditRecord(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidAuditRecord(f"{name} is not valid Unicode (lone surrogate)") from None
    if _CREDENTIAL.search(value):
        raise InvalidAuditRecord(f"{name} looks like a token or credential; log its jti or hash")


def _text_tuple(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        raise InvalidAuditRecord(f"{name} must be a tuple of strings")
    for item in value:
        _check_text(name, item)
        if not item:
            raise InvalidAuditRecord(f"{name} contains an empty string")
    return tuple(value)


def _frozen_detail(detail: object) -> Mapping[str, Any]:
    if not isinstance(detail, Mapping):
        raise InvalidAuditRecord("detail must be a mapping")
    frozen = _freeze("detail", detail, depth=0)
    try:
        size = len(jcs.dumps(_thaw(frozen)))
    except ValueError as exc:
        raise InvalidAuditRecord(f"detail is not canonical JSON: {exc}") from None
    if size > MAX_DETAIL_BYTES:
        raise InvalidAuditRecord(f"detail is larger than {MAX_DETAIL_BYTES} bytes")
    return frozen  # type: ignore[return-value]


def _freeze(path: str, value: object, *, depth: int) -> object:
    if depth > 4:
        raise InvalidAuditRecord(f"{path} is nested too deeply")
    if value is None or type(value) is bool:
        return value
    if type(value) is int:
        if abs(value) > MAX_SAFE_INT:
            raise InvalidAuditRecord(f"{path} holds an integer outside the I-JSON range")
        return value
    if isinstance(value, float):
        raise InvalidAuditRecord(f"{path} holds a float; RFC 8785 would change it")
    if type(value) is str:
        if len(value) > MAX_TEXT * 2:
            raise InvalidAuditRecord(f"{path} holds a text that is too long")
        _check_string(path, value)
        return value
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise InvalidAuditRecord(f"{path} has a non-string key")
            _check_string(f"{path} key", key)
            lowered = key.lower()
            if any(part in lowered for part in _FORBIDDEN_KEY_PARTS) and not lowered.endswith(_ALLOWED_KEY_SUFFIXES):
                raise InvalidAuditRecord(f"{path} key {key!r} suggests a token, secret or body")
            out[key] = _freeze(f"{path}.{key}", item, depth=depth + 1)
        return MappingProxyType(out)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(f"{path}[]", item, depth=depth + 1) for item in value)
    raise InvalidAuditRecord(f"{path} holds a {type(value).__name__}, not JSON")


def _thaw(value: object) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    return value


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(AuditRecord))
"""The record's fields in declaration order (the CSV and canonical JSON use them)."""
