"""SMART Backend Services scopes (SMART App Launch 2.0, scopes-and-launch-context.html).

Each role may hold a fixed set of SMART v2 system scopes (``system/Patient.crs``: create,
read, search). A client asks ``/oauth/token`` for some of them (``scope=``; v1 ``.read``,
``.write`` and ``.*`` are read as v2), or for none and gets all of its role's. What it
gets is in the token response and in the token's ``scope`` claim, and every REST
interaction is checked against it: a token granted ``system/Patient.r`` cannot create a
Patient. Operations (``$request-summary`` ...) stay gated by role alone. A requested
scope outside the role's is ``invalid_scope`` (RFC 6749 section 5.2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

RECORDS = ("Observation", "CarePlan", "CareTeam", "EpisodeOfCare")
_READER_WRITER = (
    "system/Patient.crs",
    "system/RelatedPerson.cd",
    *(f"system/{t}.crd" for t in RECORDS),
    "system/Consent.crs",
    "system/Bundle.s",
)

#: role -> the scopes it may hold
ROLE_SCOPES: Mapping[str, tuple[str, ...]] = {
    "ehr": _READER_WRITER,
    "professional": _READER_WRITER,
    "admin": ("system/Patient.c", "system/RelatedPerson.cd", *(f"system/{t}.cd" for t in RECORDS)),
    "privacy-officer": ("system/AuditEvent.rs",),
    "partner": ("system/Bundle.r", "system/Consent.r"),
}

_SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]{1,63})\.(\*|read|write|[cruds]{1,5})$")
_V1 = {"*": "cruds", "read": "rs", "write": "cud"}
_ORDER = "cruds"


class ScopeRefused(ValueError):
    """A requested scope this client's role may not hold, or one that is not a SMART system scope."""


def parse(scope: str) -> tuple[str, str] | None:
    """``system/Type.letters`` -> (Type, letters in cruds order), None when not a system scope."""
    match = _SCOPE.match(scope)
    if match is None:
        return None
    rtype, perms = match.groups()
    letters = _V1.get(perms, perms)
    return rtype, "".join(c for c in _ORDER if c in letters)


def supported() -> list[str]:
    return sorted({s for scopes in ROLE_SCOPES.values() for s in scopes})


def _covers(held: Iterable[str], rtype: str, letters: str) -> bool:
    for scope in held:
        parsed = parse(scope)
        if parsed and parsed[0] in (rtype, "*") and set(letters) <= set(parsed[1]):
            return True
    return False


def grant(role: str, requested: str | None) -> str:
    """The scope string to grant ``role`` for ``requested`` (space-separated; None or blank: all)."""
    allowed = ROLE_SCOPES.get(role, ())
    if not requested or not requested.strip():
        return " ".join(allowed)
    out = []
    for scope in requested.split():
        parsed = parse(scope)
        if parsed is None or not _covers(allowed, *parsed):
            raise ScopeRefused(scope)
        out.append(f"system/{parsed[0]}.{parsed[1]}")
    return " ".join(dict.fromkeys(out))


def permits(granted: Iterable[str], rtype: str, letter: str) -> bool:
    """Whether the granted scopes allow interaction ``letter`` (c, r, u, d, s) on ``rtype``."""
    return _covers(granted, rtype, letter)


def interaction(method: str, path: str) -> tuple[str, str] | None:
    """The (resource type, SMART letter) of a REST call on ``/fhir``; None for operations,
    transactions and everything outside the FHIR API."""
    steps = [s for s in path.split("/") if s]
    if len(steps) < 2 or steps[0] != "fhir" or any(s.startswith("$") for s in steps):
        return None
    rtype, rest = steps[1], steps[2:]
    if not rtype[:1].isupper() or rtype == "metadata":
        return None
    method = method.upper()
    if rest == ["_search"] and method == "POST":
        return rtype, "s"
    if not rest:
        return rtype, {"GET": "s", "POST": "c", "DELETE": "d", "PUT": "u"}.get(method, "r")
    return rtype, {"GET": "r", "DELETE": "d", "PUT": "u"}.get(method, "c")
