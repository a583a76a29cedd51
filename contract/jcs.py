"""RFC 8785 (JCS) canonical JSON, fast where it can be and by the reference where not.

Every signature and hash in the gateway is over JCS: signed summaries, request and
response hashes, the audit chain. The ``rfc8785`` package is the reference; it is written
in Python and was a visible share of each exchange. For the documents we sign (no floats,
ASCII member names: every FHIR, JOSE and audit document) RFC 8785 is exactly the standard
library's sorted, compact JSON with ``ensure_ascii=False``:

- the same string escapes (``\\b \\f \\n \\r \\t``, other controls as lower-case ``\\u00xx``,
  every other character literal, U+2028 included);
- code-point order of ASCII keys is their UTF-16 order;
- integers inside +-2**53 print alike; a lone surrogate fails the UTF-8 encoding as it fails RFC 8785.

Anything else (a float, a non-ASCII member name, a non-string key) goes to ``rfc8785``.
``tests/unit/gateway/trust/test_signing.py`` compares the two byte for byte on generated JSON.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_SAFE_INT = 2**53


def _scan(obj: Any, *, signed: bool) -> bool:
    """One walk: whether the fast path applies; with ``signed``, refuse the numbers JCS would
    rewrite (a float, an integer outside +-2**53) rather than hand them to the reference."""
    plain = True
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if plain and not all(type(k) is str and k.isascii() for k in item):
                plain = False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) or (type(item) is int and not -_SAFE_INT < item < _SAFE_INT):
            if signed:
                raise ValueError("number not allowed in a signed document")
            return False  # JCS prints numbers as IEEE-754 doubles: let the reference do it
    return plain


def dumps(obj: Any, *, signed: bool = False) -> bytes:
    """The JCS bytes of ``obj``; raises ``ValueError`` where RFC 8785 has no answer.

    ``signed=True`` (SECURITY.md): a float or an integer outside +-2**53 could change
    meaning when written as a double, so a document to be signed or hashed may hold none.
    """
    if _scan(obj, signed=signed):
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return rfc8785.dumps(obj)
