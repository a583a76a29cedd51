"""Strict JSON parsing: I-JSON (RFC 7493) for tokens and request bodies.

Python's ``json`` accepts duplicate keys (last wins), ``NaN`` and ``Infinity``, and so
does joserfc (SECURITY.md). A second key could smuggle a claim past one reader and not
another, so we refuse both, and refuse NUL characters, which PostgreSQL cannot store.
"""

from __future__ import annotations

import json
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


_INF = float("inf")
# one decoder, built once (json.loads with options builds a new one on every call)
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                            parse_float=_finite_float)


def loads(data: str | bytes, *, error: type[Exception] = InvalidRequest) -> Any:
    """Parse JSON strictly; raise ``error`` on duplicates, non-finite numbers, NUL or bad syntax."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if "\x00" in text or "\\u0000" in text:  # raw or escaped (rarely, a literal "\u0000" too)
            raise InvalidRequest("JSON bevat een NUL-teken.")
        if text.startswith("\ufeff"):  # as json.loads: a BOM is not JSON
            raise ValueError("unexpected BOM")
        return _DECODER.decode(text)
    except InvalidRequest as exc:
        if error is InvalidRequest:
            raise
        raise error(exc.detail) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"Ongeldige JSON: {exc.__class__.__name__}.") from exc
