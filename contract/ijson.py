"""Strict JSON parsing: I-JSON (RFC 7493), the one parser for tokens, bodies and the audit log.

Python's ``json`` accepts duplicate keys (last wins), ``NaN`` and ``Infinity``, and lone
surrogates, and so does joserfc (SECURITY.md). A second key could smuggle a claim past one
reader and not another, and a lone surrogate (RFC 7493 section 2.1) cannot be written as
UTF-8 by the next reader, so we refuse them, and refuse NUL characters, which PostgreSQL
cannot store. ``integers_only`` (the audit log's stored records) refuses every fraction
and exponent as well.
"""

from __future__ import annotations

import json
import re
from typing import Any

from contract.errors import InvalidRequest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise InvalidRequest(f"Dubbele sleutel in JSON: {key!r}.")
            seen.add(key)
    return out


def _no_constant(name: str) -> Any:
    raise InvalidRequest(f"Ongeldig getal in JSON: {name}.")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):  # 1e999 overflows to infinity
        raise InvalidRequest("Ongeldig getal in JSON (niet eindig).")
    return value


def _no_float(text: str) -> Any:
    raise InvalidRequest(f"Geen geheel getal in JSON: {text[:20]}.")


_INF = float("inf")
# one decoder each, built once (json.loads with options builds a new one on every call)
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_finite_float)
_INTEGER_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_no_float
)
# an escaped NUL is \u0000 preceded by an even number of backslashes (an odd one escapes the "\")
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# what may hide a lone surrogate: its escape, or (in a str) the code point itself. Only a
# hint: an escaped pair decodes to one character, so the parsed strings decide.
_MAYBE_SURROGATE = re.compile("\\\\u[dD][89a-fA-F][0-9a-fA-F]{2}|[\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value: Any) -> bool:
    """Tell whether any string (member names included) in ``value`` holds a lone surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def loads(data: str | bytes, *, error: type[Exception] = InvalidRequest, integers_only: bool = False) -> Any:
    """Parse JSON strictly; raise ``error`` on duplicates, non-finite numbers, NUL, lone
    surrogates or bad syntax (and, with ``integers_only``, on any non-integer number)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if "\x00" in text or ("\\u0000" in text and _ESCAPED_NUL.search(text)):
            raise InvalidRequest("JSON bevat een NUL-teken.")
        if text.startswith("\ufeff"):  # as json.loads: a BOM is not JSON
            raise ValueError("unexpected BOM")
        value = (_INTEGER_DECODER if integers_only else _DECODER).decode(text)
        if _MAYBE_SURROGATE.search(text) and _lone_surrogate(value):
            raise InvalidRequest("JSON bevat een los surrogaatteken (geen geldige Unicode).")
        return value
    except InvalidRequest as exc:
        if error is InvalidRequest:
            raise
        raise error(exc.detail) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"Ongeldige JSON: {exc.__class__.__name__}.") from exc
