"""The consent domain's values: people, custody, recorded consents, verified consents.

Plain frozen dataclasses, no I/O. A ``Party`` is keyed ``"bsn:<BSN>"`` (a person) or
``"org:<id>"`` (a certified guardian institution); grants name parties by those keys so
that the rules in ``consent.rules`` (contract section 6) compare plain strings.

``VerifiedConsent`` is the one value ``consent.decision.check`` accepts (STYLE habit 11):
it can only come from ``consent.token.verify`` or from a consent recorded at the holder
itself (``consent.local.vouch``), so an unverified token cannot reach
disclosure by accident.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Literal

from contract.errors import InvalidRequest

PartyKind = Literal["subject", "parent", "guardian", "institution"]
Decision = Literal["permit", "deny"]
Status = Literal["active", "inactive", "rejected"]  # rejected: a recorded refusal

_NINE_DIGITS = re.compile(r"[0-9]{9}")
_ORG_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_ELEVEN_TEST_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def valid_bsn(value: str) -> bool:
    """Tell whether ``value`` is a BSN: nine ASCII digits, not all zero, passing the eleven-test.

    ``int()`` and ``str.isdigit()`` accept full-width and Arabic-Indic digits and
    ``000000000`` passes the eleven-test (SECURITY.md), hence the explicit checks.
    """
    if not isinstance(value, str) or not value.isascii() or not _NINE_DIGITS.fullmatch(value):
        return False
    if value == "000000000":
        return False
    # int() is safe here: the nine characters are ASCII digits. The check digit weighs -1.
    return sum(weight * int(digit) for weight, digit in zip(_ELEVEN_TEST_WEIGHTS, value, strict=True)) % 11 == 0


def person_key(bsn: str) -> str:
    """Return the party key of the person with this BSN; raise ``InvalidRequest`` if invalid."""
    if not valid_bsn(bsn):
        raise InvalidRequest("Ongeldig BSN (elfproef of formaat).")
    return f"bsn:{bsn}"


def valid_party_key(key: str) -> bool:
    """Tell whether ``key`` is ``bsn:<valid BSN>`` or ``org:<org id>``."""
    if not isinstance(key, str):
        return False
    if key.startswith("bsn:"):
        return valid_bsn(key[4:])
    if key.startswith("org:"):
        return _ORG_ID.fullmatch(key[4:]) is not None
    return False


@dataclass(frozen=True)
class Party:
    """Someone who may take part in a consent: the subject, a parent, a voogd, an institution.

    ``custody`` means gezag (parental authority or guardianship). A certified guardian
    institution ("gecertificeerde instelling") holding voogdij has an ``org:`` key and
    kind ``institution`` (or ``guardian``); subjects and parents have ``bsn:`` keys.
    Raises ``InvalidRequest`` for a malformed key or kind.
    """

    key: str
    kind: PartyKind
    custody: bool
    name: str = ""

    def __post_init__(self) -> None:
        if not valid_party_key(self.key):
            raise InvalidRequest("Ongeldige partij: verwacht 'bsn:<BSN>' of 'org:<id>'.")
        if self.kind not in ("subject", "parent", "guardian", "institution"):
            raise InvalidRequest(f"Onbekende soort partij: {self.kind!r}.")
        # A voogd is a person or a certified institution; subjects and parents are people.
        person = self.key.startswith("bsn:")
        if (self.kind in ("subject", "parent") and not person) or (self.kind == "institution" and person):
            raise InvalidRequest(f"Partij van soort {self.kind!r} met sleutel van andere soort.")


@dataclass(frozen=True)
class Subject:
    """The person the data is about. Raises ``InvalidRequest`` for an invalid BSN."""

    bsn: str
    birth_date: datetime.date

    def __post_init__(self) -> None:
        if not valid_bsn(self.bsn):
            raise InvalidRequest("Ongeldig BSN (elfproef of formaat).")

    @property
    def key(self) -> str:
        """The subject's own party key, ``bsn:<BSN>``."""
        return f"bsn:{self.bsn}"


def _require_frozensets(obj: object, names: tuple[str, ...]) -> None:
    # A plain set would make the frozen value mutable and unhashable; a str would be
    # read as a set of characters. Both are programming errors, not requests to refuse.
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, frozenset) or not all(isinstance(v, str) for v in value):
            raise TypeError(f"{type(obj).__name__}.{name} must be a frozenset of str")


@dataclass(frozen=True)
class Grant:
    """A recorded consent (FHIR ``Consent``) or objection (``decision`` ``deny``).

    ``grantors`` and ``refusals`` are party keys; ``consulted`` names parents heard for a
    subject of 16 or over (informational only). ``recipients`` are the IRCP organisations,
    ``holders`` the CST organisations. ``end`` is inclusive. Raises ``InvalidRequest`` for
    an impossible period, decision or status, and ``TypeError`` for non-frozenset sets.
    """

    id: str
    subject: Subject
    grantors: frozenset[str]
    refusals: frozenset[str]
    consulted: frozenset[str]
    recipients: frozenset[str]
    holders: frozenset[str]
    purpose: str
    categories: frozenset[str]
    start: datetime.date
    end: datetime.date | None
    decision: Decision
    status: Status
    issuer: str

    def __post_init__(self) -> None:
        _require_frozensets(self, ("grantors", "refusals", "consulted", "recipients", "holders", "categories"))
        if not isinstance(self.id, str) or not self.id:
            raise InvalidRequest("Een toestemming heeft een id nodig.")
        if self.decision not in ("permit", "deny"):
            raise InvalidRequest(f"Onbekende beslissing: {self.decision!r}.")
        if self.status not in ("active", "inactive", "rejected"):
            raise InvalidRequest(f"Onbekende status: {self.status!r}.")
        if self.end is not None and self.end < self.start:
            raise InvalidRequest("De einddatum van de toestemming ligt voor de begindatum.")


# The seal that only the two legitimate constructors of VerifiedConsent hold. A forged
# VerifiedConsent would let an unverified token reach disclosure (STYLE habit 11), so
# building one by hand must be awkward and visible in review: grep for _VERIFIER_SEAL.
_VERIFIER_SEAL = object()


@dataclass(frozen=True)
class VerifiedConsent:
    """A consent whose token verified (or that was recorded here): the decision's only input.

    Construct it only through ``consent.token.verify`` or ``consent.local.vouch``; any other
    construction raises ``TypeError``, because the decision trusts every field blindly.
    For a local consent there is no token: ``jti`` and ``kid`` are empty and
    ``iat`` = ``nbf`` = ``exp`` = the moment of the check.
    """

    issuer: str
    subject_bsn: str
    audience: tuple[str, ...]
    grantee: str
    purpose: str
    categories: frozenset[str]
    consent_id: str
    iat: int
    nbf: int
    exp: int
    jti: str
    kid: str
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._seal is not _VERIFIER_SEAL:
            raise TypeError("VerifiedConsent comes only from consent.token.verify or consent.local.vouch")

    @property
    def from_token(self) -> bool:
        """Tell whether this consent came from a verified token (not a local record)."""
        return bool(self.jti)
