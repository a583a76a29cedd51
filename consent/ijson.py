"""Strict JSON parsing: I-JSON (RFC 7493) for tokens and request bodies.

Python's ``json`` accepts duplicate keys (last wins), ``NaN`` and ``Infinity``, and so
does joserfc (SECURITY.md). A second key could smuggle a claim past one reader and not
another, so we refuse both, and refuse NUL characters, which PostgreSQL cannot store.
"""

from __future__ import annotations

import json
from typing import Any

from consent.errors import InvalidRequest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidRequest(f"Dubbele sleutel in JSON: {key!r}.")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise InvalidRequest(f"Ongeldig getal in JSON: {name}.")


def loads(data: str | bytes, *, error: type[Exception] = InvalidRequest) -> Any:
    """Parse JSON strictly; raise ``error`` on duplicates, non-finite numbers, NUL or bad syntax."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if "\x00" in text:
            raise InvalidRequest("JSON bevat een NUL-teken.")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
        _check_floats(value)
        return value
    except InvalidRequest as exc:
        if error is InvalidRequest:
            raise
        raise error(exc.detail) from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"Ongeldige JSON: {exc.__class__.__name__}.") from exc


def _check_floats(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and (item != item or item in (float("inf"), float("-inf"))):
            raise InvalidRequest("Ongeldig getal in JSON (niet eindig).")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
