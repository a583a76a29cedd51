"""The directory: names, types and contact points of the organisations this node trusts.

Contract section 7 ("the list is also the directory"). This minimal version (issue 17) is
backed by the partners table alone: name = org id, type ``other``, no contact. Issue 15's
version, built on the federation list, replaces it with the same API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DirectoryEntry:
    org_id: str
    name: str
    type: str  # an organisation-type code (contract section 7)
    contact: list[str] = field(default_factory=list)
    url: str = ""
    source: str = "bilateral"  # federation | bilateral


def entry(node: Any, org_id: str) -> DirectoryEntry | None:
    """The trusted partner ``org_id`` as a directory entry, or None."""
    url = node.partners.url_of(org_id)
    return None if url is None else DirectoryEntry(org_id, org_id, "other", [], url, "bilateral")


def entries(node: Any) -> list[DirectoryEntry]:
    """Every trusted partner."""
    return [DirectoryEntry(org, org, "other", [], url, "bilateral") for org, url, _kids in node.partners.list()]
