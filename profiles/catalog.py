"""The declarative data in ``profiles/``: CodeSystems, purpose matrix, category profiles.

Contract sections 4 and 5. The JSON files are the single source: ``GET /fhir/CodeSystem``
serves them as they are, the builder and the guard read them, so they cannot drift. Every
loader checks the files against each other and raises ``ValueError`` on a mismatch, so a
broken data file stops a node at start-up instead of at the first disclosure.
"""

from __future__ import annotations

import importlib.resources
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from contract import ijson, systems
from profiles.outgoing import leaf_kind

BASE = systems.BASE
CODESYSTEM_BASE = systems.CODESYSTEM_BASE
SUMMARY_CATEGORY_SYSTEM = systems.SUMMARY_CATEGORY_SYSTEM
PURPOSE_SYSTEM = systems.PURPOSE_SYSTEM
DISCLOSURE_SYSTEM = systems.DISCLOSURE_SYSTEM
REFUSAL_REASON_SYSTEM = systems.REFUSAL_REASON_SYSTEM
CARE_STATUS_SYSTEM = systems.CARE_STATUS_SYSTEM
LEGAL_MEASURE_SYSTEM = systems.LEGAL_MEASURE_SYSTEM
ORGANISATION_TYPE_SYSTEM = systems.ORGANISATION_TYPE_SYSTEM
LEGAL_GROUND_SYSTEM = systems.LEGAL_GROUND_SYSTEM
AUDIT_ACTION_SYSTEM = systems.AUDIT_ACTION_SYSTEM
AUDIT_OUTCOME_SYSTEM = systems.AUDIT_OUTCOME_SYSTEM
DESIGNATION_USE_SYSTEM = systems.DESIGNATION_USE_SYSTEM
PARTY_KIND_SYSTEM = systems.PARTY_KIND_SYSTEM
ROLE_SYSTEM = systems.ROLE_SYSTEM
CONTACT_POINT_SYSTEM = systems.CONTACT_POINT_SYSTEM
SHAREABLE = "shareable"
CONSENTED_PUSH = "consented-push"
SAFETY_DISCLOSURE = "safety-disclosure"
INBOX_TAGS = (CONSENTED_PUSH, SAFETY_DISCLOSURE)
"""Disclosure codes on a pushed summary's ``meta.tag``: how it came to the inbox (section 9)."""
BSN_SYSTEM = systems.BSN_SYSTEM
EXCHANGE_ID_SYSTEM = systems.EXCHANGE_ID_SYSTEM
REQUEST_HASH_EXTENSION = systems.REQUEST_HASH_EXTENSION


@dataclass(frozen=True)
class Profile:
    """One category's profile: the resource type and the elements that may leave the node."""

    category: str
    url: str
    version: str
    resource_type: str
    statuses: frozenset[str]
    always: tuple[str, ...]
    shareable: tuple[str, ...]
    coded: tuple[tuple[str, str], ...]
    generated: tuple[str, ...]

    @property
    def canonical(self) -> str:
        """Return ``url|version``, the value written to each entry's ``meta.profile``."""
        return f"{self.url}|{self.version}"

    def allowed_paths(self) -> frozenset[str]:
        """Return every leaf path an output resource under this profile may contain."""
        return _allowed_paths(self)


@cache
def _allowed_paths(profile: Profile) -> frozenset[str]:
    """Once per profile: the guard asks for every resource of every summary."""
    coded = {f"{element}.coding[].{part}" for element, _ in profile.coded for part in ("system", "code", "display")}
    return frozenset({"resourceType", *profile.always, *profile.shareable, *profile.generated, *coded})


def _read(relative: str) -> Any:
    resource = importlib.resources.files("profiles").joinpath(relative)
    return ijson.loads(resource.read_bytes(), error=ValueError)


@cache
def _codesystems() -> tuple[str, ...]:
    # Kept as text so that every caller gets fresh, mutable dicts it cannot share.
    folder = importlib.resources.files("profiles").joinpath("codesystems")
    names = sorted(item.name for item in folder.iterdir() if item.name.endswith(".json"))
    return tuple(json.dumps(_read(f"codesystems/{name}"), ensure_ascii=False) for name in names)


def load_codesystems() -> list[dict[str, Any]]:
    """Return the node's CodeSystem resources as FHIR JSON dicts (contract sections 4 and 5)."""
    return [json.loads(text) for text in _codesystems()]


@cache
def codesystem_urls() -> frozenset[str]:
    """Return the canonical URLs of our CodeSystems (cached: the guard asks per resource)."""
    return frozenset(codesystem["url"] for codesystem in load_codesystems())


def codes(system: str) -> dict[str, str]:
    """Return ``{code: Dutch display}`` of one of our CodeSystems; ``KeyError`` if unknown."""
    return dict(_codes(system))


def http_statuses(system: str) -> dict[str, int | None]:
    """Return ``{code: its http-status property}`` of one of our CodeSystems (None: no status).

    The refusal-reason CodeSystem is the one place each reason code's HTTP status is
    written (contract section 4); ``gateway.http.outcomes`` reads it. ``KeyError`` if unknown.
    """
    for codesystem in load_codesystems():
        if codesystem["url"] == system:
            return {
                c["code"]: next(
                    (p["valueInteger"] for p in c.get("property", []) if p.get("code") == "http-status"), None
                )
                for c in codesystem["concept"]
            }
    raise KeyError(system)


@cache
def _codes(system: str) -> tuple[tuple[str, str], ...]:
    for codesystem in load_codesystems():
        if codesystem["url"] == system:
            return tuple((c["code"], c["display"]) for c in codesystem["concept"])
    raise KeyError(system)


USES = {
    "display": (systems.DESIGNATION_USAGE_SYSTEM, "display"),
    "explanation": (systems.SNOMED_SYSTEM, "900000000000550004"),  # SNOMED CT "Definition"
    "next-step": (DESIGNATION_USE_SYSTEM, "next-step"),
    "author-role": (DESIGNATION_USE_SYSTEM, "author-role"),
    "withheld": (DESIGNATION_USE_SYSTEM, "withheld"),
}
"""The designation uses ``label`` knows: FHIR's display, SNOMED CT's Definition (the plain words
a parent reads) and those of our ``designation-use`` CodeSystem."""


def label(system: str, code: str, *, use: str = "display", language: str = "nl") -> str:
    """Return the text of ``code`` in ``system`` for ``use`` in ``language``: the one source of labels.

    Reads the concept's designation of that language and use (``profiles/codesystems``; a
    ``supplement`` CodeSystem adds designations to a standard one, such as FHIR's
    contact-point-system). Without one, a use other than ``display`` falls back to the label and
    the label to the concept's ``display``. A code the system does not hold comes back as it is,
    so a page shows a new partner's code rather than nothing. Raises ``ValueError`` for a use
    it does not know.
    """
    if use not in USES:
        raise ValueError(f"unknown designation use {use!r}; one of {sorted(USES)}")
    found = _designations(system).get(code)
    if found is None:
        return code
    text = found.get((language, use))
    if text is not None:
        return text
    if use != "display":
        return label(system, code, language=language)
    return found.get(("nl", "display")) or found[("", "display")]


def explanation(system: str, code: str) -> str:
    """Return the plain-language Dutch explanation of ``code`` (``label(..., use="explanation")``)."""
    return label(system, code, use="explanation")


def has_label(system: str, code: str, *, use: str = "display", language: str = "nl") -> bool:
    """Return whether ``code`` carries its own designation for ``use`` in ``language`` (no fallback)."""
    return (language, use) in _designations(system).get(code, {})


@cache
def _designations(system: str) -> dict[str, dict[tuple[str, str], str]]:
    """``{code: {(language, use): text}}`` of a system, from its CodeSystem and any supplements;
    the concept's own display sits under ``("", "display")``."""
    by_use = {pair: name for name, pair in USES.items()}
    out: dict[str, dict[tuple[str, str], str]] = {}
    for codesystem in load_codesystems():
        supplemented = str(codesystem.get("supplements", "")).split("|")[0]
        if system not in (codesystem["url"], supplemented):
            continue
        for concept in codesystem["concept"]:
            texts = out.setdefault(concept["code"], {})
            texts.setdefault(("", "display"), concept["display"])
            for designation in concept.get("designation", []):
                coding = designation.get("use") or {}
                use_system, use_code = coding.get("system"), coding.get("code")
                if not (isinstance(use_system, str) and isinstance(use_code, str)):
                    continue  # a designation without a coded use labels nothing we look up
                name = by_use.get((use_system, use_code))
                if name and isinstance(designation.get("value"), str) and designation.get("language"):
                    texts[(designation["language"], name)] = designation["value"]
    return out


def category_order() -> tuple[str, ...]:
    """Return the summary categories in the order of their CodeSystem."""
    return tuple(codes(SUMMARY_CATEGORY_SYSTEM))


def load_matrix() -> dict[str, frozenset[str]]:
    """Return which categories each purpose may see (``profiles/matrix.json``).

    Raises ``ValueError`` when the matrix names an unknown purpose or category or
    leaves a purpose out.
    """
    return dict(_matrix())


@cache
def _matrix() -> tuple[tuple[str, frozenset[str]], ...]:
    data = _read("matrix.json")
    purposes, categories = set(codes(PURPOSE_SYSTEM)), set(codes(SUMMARY_CATEGORY_SYSTEM))
    matrix = {purpose: frozenset(cats) for purpose, cats in data["purposes"].items()}
    if set(matrix) != purposes:
        raise ValueError(f"matrix.json purposes {sorted(matrix)} != CodeSystem {sorted(purposes)}")
    for purpose, cats in matrix.items():
        if not cats <= categories:
            raise ValueError(f"matrix.json: unknown categories for {purpose}: {sorted(cats - categories)}")
    return tuple(matrix.items())


@cache
def _profiles_file() -> dict[str, Any]:
    return dict(_read("profiles.json"))


def profile_version() -> str:
    """Return the version of the profiles the summaries are built under."""
    return str(_profiles_file()["version"])


def bundle_profile() -> str:
    """Return the summary Bundle's ``meta.profile`` value, ``url|version``."""
    data = _profiles_file()
    return f"{data['bundleProfile']}|{data['version']}"


def load_profiles() -> dict[str, Profile]:
    """Return the category profiles, keyed by summary category.

    Raises ``ValueError`` unless every summary category has exactly one profile.
    """
    return dict(_profiles())


@cache
def _profiles() -> tuple[tuple[str, Profile], ...]:
    data = _profiles_file()
    generated = data["generated"]
    profiles = {
        category: Profile(
            category=category,
            url=spec["profile"],
            version=data["version"],
            resource_type=spec["resourceType"],
            statuses=frozenset(spec["statuses"]),
            always=tuple(spec["always"]),
            shareable=tuple(spec["shareable"]),
            coded=tuple(sorted(spec["coded"].items())),
            generated=(*generated["*"], *generated.get(spec["resourceType"], ())),
        )
        for category, spec in data["categories"].items()
    }
    if set(profiles) != set(category_order()):
        raise ValueError(f"profiles.json categories {sorted(profiles)} != summary-category CodeSystem")
    known = {codesystem["url"] for codesystem in load_codesystems()}
    for profile in profiles.values():
        if profile.version != profile_version() or any(s not in known for _, s in profile.coded):
            raise ValueError(f"profiles.json: bad version or coded system in {profile.category}")
        # Contract section 5: what is copied without the shareable mark is a name, a
        # telecom value, a date or a code; a path of no such kind would copy free text.
        untyped = [path for path in profile.always if leaf_kind(path) is None]
        if untyped:
            raise ValueError(
                f"profiles.json: {profile.category}: 'always' paths of no known kind "
                f"(name, telecom, date, code): {untyped}; free text belongs in 'shareable'"
            )
    return tuple(profiles.items())


def profile_by_canonical(canonical: str) -> Profile | None:
    """Return the profile whose ``url|version`` is ``canonical``, or None."""
    for profile in load_profiles().values():
        if profile.canonical == canonical:
            return profile
    return None
