"""The directory of organisations this node trusts (contract section 7: names, types, contacts).

Minimal version backed by the partners table (bilateral trust only): name = org id, type
``other``, no contact point. Issue 15 replaces it with the federation list's entries
(listed name, organisation type and contact point); callers use only this API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DirectoryEntry:
    org_id: str
    name: str
    type: str  # an organisation-type code (contract section 7)
    contact: list[str]  # phone numbers or e-mail addresses for professionals of other organisations
    url: str
    source: str  # "federation" or "bilateral"


def entries(node: Any) -> list[DirectoryEntry]:
    """Every trusted partner (federation members and bilateral partners), by org id."""
    return [DirectoryEntry(org_id=org, name=org, type="other", contact=[], url=url, source="bilateral")
            for org, url, _kids in node.partners.list()]


def entry(node: Any, org_id: str) -> DirectoryEntry | None:
    return next((e for e in entries(node) if e.org_id == org_id), None)
