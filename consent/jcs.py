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
``tests/unit/profiles/test_signing.py`` compares the two byte for byte on generated JSON.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

_SAFE_INT = 2**53


def _fast_path_applies(obj: Any) -> bool:
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if type(k) is not str or not k.isascii():
                    return False
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) or (type(item) is int and not -_SAFE_INT < item < _SAFE_INT):
            return False  # JCS prints numbers as IEEE-754 doubles: let the reference do it
    return True


def dumps(obj: Any) -> bytes:
    """The JCS bytes of ``obj``; raises ``ValueError`` where RFC 8785 has no answer."""
    if _fast_path_applies(obj):
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return rfc8785.dumps(obj)
