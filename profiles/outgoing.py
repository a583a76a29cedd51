"""What an outgoing string may be (contract section 5, SECURITY.md "What leaves is built").

Every string that leaves the node is one of: a code from a served or standard CodeSystem the
profile allows, a FHIR-typed value (a date or dateTime, a number, an identifier, a telecom
value shaped as a phone number, e-mail address or URL), a person's or organisation's name
checked as a name, or text from an element marked shareable. And whatever element holds it,
no outgoing string carries a diagnostic code (ICD-10, DSM, ATC, a SNOMED CT concept id) or a
term of ``profiles/diagnostic_terms.json``.

The builder uses ``acceptable`` to leave out an element that fails (fail closed: the
element does not go, the rest of the record may); the guard uses ``check_strings`` to refuse
a Bundle that still holds one, on the holder before signing and on the requester on receipt.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from contract import ijson
from contract.errors import NotShareable

__all__ = [
    "acceptable",
    "check_strings",
    "diagnostic_finding",
    "is_name",
    "is_telecom",
    "leaf_kind",
]

# --- diagnostic codes ----------------------------------------------------------------------------
# ICD-10 (and DSM-5, which uses ICD-10-CM codes): a letter (not U, reserved), two digits or a
# digit and A/B, an optional dot and up to four more. Upper case as written in files; a
# lower-case form counts only with its dot ("f32.1"), as "a12" on its own is too common.
_ICD10 = re.compile(
    r"(?<![\w.])(?:[A-TV-Z][0-9][0-9AB](?:\.[0-9A-Z]{1,4})?|[a-tv-z][0-9][0-9ab]\.[0-9a-z]{1,4})(?![\w]|\.\w)"
)
# DSM-IV-TR / ICD-9-CM mental disorder codes, 290-319 with a decimal part ("296.33").
_DSM_IV = re.compile(r"(?<![\w.])(?:29[0-9]|30[0-9]|31[0-9])\.[0-9]{1,2}(?![\w]|\.\w)")
# ATC: anatomical group letter, two digits, then one or two letters, then optionally two
# digits ("N06AB03", "N06AB", "N06A"). Case-sensitive: ATC is written in capitals.
_ATC = re.compile(r"(?<![\w.])[ABCDGHJLMNPRSV][0-9]{2}[A-Z]{1,2}(?:[0-9]{2})?(?![\w]|\.\w)")
# A run of 6 to 18 digits, tested as a SNOMED CT concept id (partition 00 or 10, Verhoeff).
_DIGITS = re.compile(r"(?<![\w.,+-])[0-9]{6,18}(?![\w]|[.,][0-9])")

_UUID = re.compile(r"(?:urn:uuid:)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-f]{32,128}")

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def _verhoeff_ok(digits: str) -> bool:
    check = 0
    for i, ch in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[i % 8][int(ch)]]
    return check == 0


def _snomed_concept(digits: str) -> bool:
    """Return whether ``digits`` is shaped as a SNOMED CT concept id (RF2 SCTID rules)."""
    return digits[0] != "0" and digits[-3:-1] in ("00", "10") and _verhoeff_ok(digits)


# --- diagnostic terms (data) ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Terms:
    """The term list, indexed for a scan of word tokens (a regex alternation of all terms cost
    about 0.3 ms per string: the scan runs over every string of every summary)."""

    words: frozenset[str]  # whole words, case-folded
    stems: tuple[str, ...]  # word starts, case-folded (str.startswith takes a tuple)
    suffixes: tuple[str, ...]  # word ends, case-folded
    exact: frozenset[str]  # short acronyms, as written
    phrases: re.Pattern[str] | None  # entries holding a space or hyphen, matched as text


@cache
def _terms() -> _Terms:
    raw = importlib.resources.files("profiles").joinpath("diagnostic_terms.json").read_bytes()
    data = ijson.loads(raw, error=ValueError)
    lists = {key: data.get(key, []) for key in ("words", "stems", "suffixes", "acronyms", "medication")}
    for key, items in lists.items():
        if not isinstance(items, list) or not all(isinstance(t, str) and t.strip() for t in items):
            raise ValueError(f"diagnostic_terms.json: {key} must be a list of non-empty strings")

    def single(items: list[str]) -> list[str]:
        return [t.casefold() for t in items if _WORD.fullmatch(t)]

    # Acronyms of four letters or more are unambiguous in any case ("adhd-poli@"); shorter
    # ones only in capitals ("ASS" is autism, "ass." an assistant).
    long_ones = [a for a in lists["acronyms"] if len(a) >= 4]
    phrases = [  # (pattern, flags) of the entries that are no single word
        *(rf"\b{re.escape(t)}\b" for t in lists["words"] + long_ones if not _WORD.fullmatch(t)),
        *(rf"\b{re.escape(t)}\w*" for t in lists["stems"] + lists["medication"] if not _WORD.fullmatch(t)),
        *(rf"\w*{re.escape(t)}\b" for t in lists["suffixes"] if not _WORD.fullmatch(t)),
    ]
    exact_phrases = [rf"(?-i:\b{re.escape(t)}\b)" for t in lists["acronyms"] if len(t) < 4 and not _WORD.fullmatch(t)]
    joined = "|".join(phrases + exact_phrases)
    return _Terms(
        words=frozenset(single(lists["words"]) + single(long_ones)),
        stems=tuple(single(lists["stems"] + lists["medication"])),
        suffixes=tuple(single(lists["suffixes"])),
        exact=frozenset(t for t in lists["acronyms"] if len(t) < 4 and _WORD.fullmatch(t)),
        phrases=re.compile(joined, re.IGNORECASE) if joined else None,
    )


_WORD = re.compile(r"\w+")
# the code patterns in one pass: each needs a digit, most strings have none worth a look
_CODES = re.compile("|".join(p.pattern for p in (_ICD10, _DSM_IV, _ATC)))


def _term_finding(text: str) -> str | None:
    terms = _terms()
    token: str
    for token in _WORD.findall(text):
        if token in terms.exact:
            return token
        folded = token.casefold()
        if folded in terms.words or folded.startswith(terms.stems) or folded.endswith(terms.suffixes):
            return token
    found = terms.phrases.search(text) if terms.phrases is not None else None
    return found.group(0) if found else None


def _code_finding(text: str, numbers: bool) -> str | None:
    found = _CODES.search(text)
    if found:
        return found.group(0)
    if numbers:
        for run in _DIGITS.finditer(text):
            if _snomed_concept(run.group(0)):
                return run.group(0)
    return None


def diagnostic_finding(text: str, *, numbers: bool = True) -> str | None:
    """Return what in ``text`` is diagnostic (a term or a code), or None.

    ``numbers=False`` skips the SNOMED concept-id test, for strings whose type is a number
    run anyway (identifiers, telecom values, dates): a phone number is not a concept id.
    """
    if len(text) <= _CACHED_LENGTH:
        return _cached_finding(text, numbers)
    return _finding(text, numbers)


_CACHED_LENGTH = 300  # displays, codes, URLs and ids repeat across summaries; notes do not


@lru_cache(maxsize=8192)
def _cached_finding(text: str, numbers: bool) -> str | None:
    return _finding(text, numbers)


def _finding(text: str, numbers: bool) -> str | None:
    if _UUID.fullmatch(text) or _HEX.fullmatch(text):
        return None  # our own ids and hashes: no words, no codes
    return _term_finding(text) or _code_finding(text, numbers)


# --- typed values --------------------------------------------------------------------------------

_NAME = re.compile(r"[^\W_](?:[\w .,'’()&/+-]*[\w.)])?")
_DATE = re.compile(
    r"[0-9]{4}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12][0-9]|3[01])"
    r"(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]{1,9})?(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9]|\+14:00))?)?)?"
)
_CODE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_PHONE = re.compile(r"\+?[0-9][0-9 ()./-]{4,24}[0-9]")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}")
_URL = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%/-]*)?")
_MAX_NAME = 200

# FHIR R4 required value sets of the coded leaves our profiles copy, by the path's tail.
_VALUE_SETS: dict[str, frozenset[str]] = {
    "intent": frozenset({"proposal", "plan", "order", "option", "directive"}),
    "detail.status": frozenset(
        {"not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled", "stopped", "unknown"}
    ),
    "telecom[].system": frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"}),
    "telecom[].use": frozenset({"home", "work", "temp", "mobile"}),
}


def is_name(text: str) -> bool:
    """Return whether ``text`` reads as a person's or organisation's name, nothing diagnostic.

    Letters, digits, single spaces and the punctuation of names and titles ("J. de Vries,
    SPV", "Oma (moeders kant)", "GGZ Noord & Partners"), at least one letter; one line, at
    most 200 characters, and no diagnostic term or code.
    """
    return (
        isinstance(text, str)
        and len(text) <= _MAX_NAME
        and _NAME.fullmatch(text) is not None
        and "  " not in text
        and any(c.isalpha() for c in text)
        and diagnostic_finding(text) is None
    )


def is_telecom(system: Any, value: str) -> bool:
    """Return whether ``value`` is shaped as the ``ContactPoint.system`` says (or any of the three)."""
    if not isinstance(value, str) or diagnostic_finding(value, numbers=False) is not None:
        return False
    phone = _PHONE.fullmatch(value) is not None and sum(c.isdigit() for c in value) >= 6
    shapes = {
        "phone": phone,
        "fax": phone,
        "sms": phone,
        "pager": phone,
        "email": _EMAIL.fullmatch(value) is not None,
        "url": _URL.fullmatch(value) is not None,
    }
    if system in shapes:
        return shapes[system]
    return system in (None, "other") and any(shapes.values())


@lru_cache(maxsize=1024)
def leaf_kind(path: str, *, shareable: bool = False) -> str | None:
    """Return the kind of string a profile path holds: name, telecom, date, code, text; or None.

    ``text`` is for elements marked shareable (``shareable=True``). A path of no known kind
    returns None: the catalog refuses a profile with such an ``always`` path, since
    nothing may leave that is not one of the contract's kinds.
    """
    last = path.rsplit(".", 1)[-1].removesuffix("[]")
    if shareable:
        return "text"
    if path.endswith("telecom[].value"):
        return "telecom"
    if last in ("display", "name"):
        return "name"
    if last in ("start", "end", "date", "birthDate") or last.endswith(("DateTime", "Instant")):
        return "date"
    if last in ("status", "intent", "use", "system", "code"):
        return "code"
    return None


def _value_set(path: str) -> frozenset[str] | None:
    for tail, codes in _VALUE_SETS.items():
        if path == tail or path.endswith("." + tail):
            return codes
    return None


def acceptable(kind: str | None, path: str, value: Any, *, telecom_system: Any = None) -> bool:
    """Return whether ``value`` at ``path`` (of ``kind``, from ``leaf_kind``) may leave."""
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        return False
    if kind == "name":
        return is_name(value)
    if kind == "telecom":
        return is_telecom(telecom_system, value)
    if kind == "date":
        return _DATE.fullmatch(value) is not None
    if kind == "code":
        codes = _value_set(path)
        return (
            _CODE.fullmatch(value) is not None
            and (codes is None or value in codes)
            and (diagnostic_finding(value) is None)
        )
    if kind == "text":
        return diagnostic_finding(value) is None
    return False


# --- the last check over every string ---------------------------------------------------------------

# Where a run of digits is its FHIR type (an identifier, a telecom value, a time), not text:
# by the element's name, or its name and its parent's.
_NUMBER_KEYS = frozenset({"timestamp", "id", "fullUrl", "effectiveDateTime", "start", "end"})
_NUMBER_PAIRS = frozenset({("value", "identifier"), ("value", "telecom"), ("source", "meta")})


def _texts(bundle: Any) -> Iterator[tuple[str, str, str]]:
    """Yield (element name, parent name, text) for every string; no paths (the hot path)."""
    stack: list[tuple[Any, str, str]] = [(bundle, "", "")]
    while stack:
        item, key, parent = stack.pop()
        if isinstance(item, str):
            yield key, parent, item
        elif isinstance(item, dict):
            for name, element in item.items():
                if item is bundle and name == "signature":
                    continue  # the JWS is gateway.trust.signing's; base64 is no text
                stack.append((element, name, key))
        elif isinstance(item, list):
            stack.extend((element, key, parent) for element in item)


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield (path, text) for every string but the Bundle's signature (to name a finding)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, element in item.items():
                if not where and key == "signature":
                    continue
                stack.append((element, f"{where}.{key}" if where else str(key)))
        elif isinstance(item, list):
            stack.extend((element, where + "[]") for element in item)


def _numbers_count(key: str, parent: str) -> bool:
    return key not in _NUMBER_KEYS and (key, parent) not in _NUMBER_PAIRS


def check_strings(bundle: Any) -> None:
    """Refuse a Bundle in which any string carries a diagnostic code or term.

    Contract section 5: every string, whatever element holds it (displays, telecom values,
    extensions, narrative, ids). Skips only the Bundle's ``signature``. Raises
    ``NotShareable`` naming the element, never the finding (the finding may be the
    diagnosis itself, and refusals are logged).
    """
    for key, parent, text in _texts(bundle):
        if diagnostic_finding(text, numbers=_numbers_count(key, parent)) is not None:
            break
    else:
        return
    for path, text in _strings(bundle):  # the slow walk, only to say where
        parts = path.replace("[]", "").split(".")
        numbers = _numbers_count(parts[-1], parts[-2] if len(parts) > 1 else "")
        if diagnostic_finding(text, numbers=numbers) is not None:
            raise NotShareable(f"Samenvatting bevat een diagnostische term of code in {path}.")
    raise NotShareable("Samenvatting bevat een diagnostische term of code.")  # pragma: no cover
