"""Names, types and contacts of the organisations this node knows (issue 15's directory).

Minimal version for issue 20: every trusted partner, from the partners table, named by its
org id (type ``other``, no contacts). Issue 15 replaces it with the federation list's
entries; callers use only ``entry`` and ``entries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DirectoryEntry:
    org_id: str
    name: str
    type: str  # an organisation-type code
    contact: list[str]
    url: str
    source: str  # "federation" or "bilateral"


def entries(node: Any) -> list[DirectoryEntry]:
    """Every trusted partner."""
    return [DirectoryEntry(org_id=org, name=org, type="other", contact=[], url=url, source="bilateral")
            for org, url, _kids in node.partners.list()]


def entry(node: Any, org_id: str) -> DirectoryEntry | None:
    """The trusted partner ``org_id``, or None."""
    return next((e for e in entries(node) if e.org_id == org_id), None)
