"""The AuditEvent ``date`` search: FHIR dates compared as dates (issue 13 item 9)."""

from __future__ import annotations

import pytest

from audit.search_dates import bounds
from contract.errors import InvalidRequest


@pytest.mark.parametrize(
    "values, expected",
    [
        (["2026-03-14"], ("2026-03-14T00:00:00.000Z", "2026-03-15T00:00:00.000Z")),
        (["eq2026-03"], ("2026-03-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z")),
        (["ge2026-12"], ("2026-12-01T00:00:00.000Z", None)),
        (["gt2026-12"], ("2027-01-01T00:00:00.000Z", None)),
        (["le2026"], (None, "2027-01-01T00:00:00.000Z")),
        (["lt2026-02-28"], (None, "2026-02-28T00:00:00.000Z")),
        (["ge2026-03-14T10:00:00+01:00"], ("2026-03-14T09:00:00.000Z", None)),
        (["ge2026-01-01", "lt2026-02-01", "ge2026-01-10"], ("2026-01-10T00:00:00.000Z", "2026-02-01T00:00:00.000Z")),
        (["2024-02-29"], ("2024-02-29T00:00:00.000Z", "2024-03-01T00:00:00.000Z")),
    ],
)
def test_a_date_stands_for_its_range(values: list[str], expected: tuple[str | None, str | None]) -> None:
    assert bounds(values) == expected


@pytest.mark.parametrize(
    "value",
    [
        "ge2025-13-45",
        "2025-02-30",
        "2023-02-29",
        "ge2025-1-1",
        "ne2025-01-01",
        "ap2025",
        "ge2025-01-01T10:00",
        "ge2025-01-01T10:00:00",
        "ge2025-01-01T24:00:00Z",
        "ge0000",
        "ge２０２５",
        "ge2025-01-01\x00",
        "ge",
        "",
        "ge 2025",
        "GE2025",
    ],
)
def test_what_is_no_fhir_date_is_refused(value: str) -> None:
    with pytest.raises(InvalidRequest):
        bounds([value])
