"""The ``date`` search parameter of ``GET /fhir/AuditEvent`` (FHIR R4 search, "date").

A value is an optional prefix (``eq`` ``gt`` ``ge`` ``lt`` ``le``; none means ``eq``) and a
FHIR ``date`` (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``) or ``dateTime`` (with seconds and a
time zone). The value stands for a range, its precision (a day, a month, a second), and
the prefix compares the entry's time with that range. Dates without a time are read as UTC
days, like the log's own times. Anything else is refused with ``InvalidRequest``: a value
that is not a date must never turn into a filter that matches everything.

Pure: no Flask or SQLAlchemy. The bounds are returned in the log's own ``recorded_at``
form (``chain.format_recorded_at``), so the store compares them as the strings they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from audit.chain import format_recorded_at
from contract.errors import InvalidRequest

__all__ = ["bounds"]

_PREFIXES = ("eq", "gt", "ge", "lt", "le")
_VALUE = re.compile(
    r"(?P<y>[0-9]{4})(?:-(?P<m>0[1-9]|1[0-2])(?:-(?P<d>0[1-9]|[12][0-9]|3[01])"
    r"(?:T(?P<time>(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9])(?P<frac>\.[0-9]{1,9})?"
    r"(?P<tz>Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9]|\+14:00))?)?)?"
)
_HINT = (
    "date is [eq|gt|ge|lt|le] followed by a FHIR date (JJJJ, JJJJ-MM, JJJJ-MM-DD) or dateTime "
    "(JJJJ-MM-DDThh:mm:ss met tijdzone, bijv. Z of +01:00)"
)


def _range(value: str) -> tuple[datetime, datetime]:
    """Return [start, end) of the moments ``value`` stands for; ``InvalidRequest`` otherwise."""
    m = _VALUE.fullmatch(value)
    if m is None:
        raise InvalidRequest(f"Ongeldige datum {value[:40]!r}: {_HINT}.")
    year = int(m["y"])
    try:
        if m["time"]:
            stamp = f"{m['y']}-{m['m']}-{m['d']}T{m['time']}{m['frac'] or ''}"
            start = datetime.fromisoformat(stamp[:26] + ("+00:00" if m["tz"] == "Z" else m["tz"]))
            start = start.astimezone(UTC)
            return start, start + timedelta(seconds=1)
        if m["d"]:
            start = datetime(year, int(m["m"]), int(m["d"]), tzinfo=UTC)  # 2025-02-30 raises here
            return start, start + timedelta(days=1)
        if m["m"]:
            month = int(m["m"])
            start = datetime(year, month, 1, tzinfo=UTC)
            return start, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        start = datetime(year, 1, 1, tzinfo=UTC)
        return start, datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else datetime.max.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidRequest(f"Ongeldige datum {value[:40]!r}: die dag bestaat niet.") from None


def bounds(values: Iterable[str]) -> tuple[str | None, str | None]:
    """Return (since, until) for the ``date`` values: entries with since <= recorded_at < until.

    Several values narrow the window together (FHIR: each must hold). Raises
    ``InvalidRequest`` for an unknown prefix (``ne``, ``sa``, ``eb``, ``ap`` are not
    offered) or a value that is not a FHIR date or dateTime.
    """
    since: datetime | None = None
    until: datetime | None = None
    for raw in values:
        if not isinstance(raw, str) or not raw:
            raise InvalidRequest(f"Lege datum: {_HINT}.")
        prefix, value = (raw[:2], raw[2:]) if raw[:2].isalpha() else ("eq", raw)
        if prefix not in _PREFIXES:
            raise InvalidRequest(f"Datumvoorvoegsel {prefix!r} wordt niet ondersteund: {_HINT}.")
        start, end = _range(value)
        low = {"eq": start, "ge": start, "gt": end}.get(prefix)
        high = {"eq": end, "le": end, "lt": start}.get(prefix)
        if low is not None:
            since = low if since is None else max(since, low)
        if high is not None:
            until = high if until is None else min(until, high)
    return (
        format_recorded_at(since) if since is not None else None,
        format_recorded_at(until) if until is not None else None,
    )
