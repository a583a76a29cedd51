"""The directory: who the trusted organisations are, what kind, and whom to call (contract 7).

The federation list is the directory: members are named by their listed name, type and
contact points. A bilateral partner (``partner add``) carries no such data, so it is named
by its org id with type ``other`` and no contact. Only organisations this node trusts now
are in it: a member refused for a conflict, or trusted only through an expired list, is not.

Everyone who shows or answers with an organisation's name, type or contact uses exactly
``entry`` and ``entries``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, or_, select

from adapters.store.models import FederationMember, Partner
from gateway.federation.memberlist import org_types
from gateway.node import Node
from profiles import catalog

__all__ = ["DirectoryEntry", "by_type", "entries", "entry", "name_of", "type_label"]


@dataclass(frozen=True)
class DirectoryEntry:
    org_id: str
    name: str
    type: str  # an organisation-type code (profiles/codesystems/organisation-type.json)
    contact: list[str]  # phone numbers and e-mail addresses for professionals
    url: str
    source: str  # "federation" or "bilateral"


_TRUSTED = (
    select(
        Partner.org_id,
        Partner.url,
        Partner.source,
        FederationMember.name,
        FederationMember.type,
        FederationMember.contact,
    )
    .outerjoin(FederationMember, FederationMember.org_id == Partner.org_id)
    .where(Partner.refused == "", or_(Partner.trusted_until.is_(None), Partner.trusted_until > bindparam("now")))
)


def _entry(row: Any) -> DirectoryEntry:
    org_id, url, source, name, org_type, contact = row
    if name is None or source == "bilateral":
        return DirectoryEntry(org_id, org_id, "other", [], url, "bilateral")
    return DirectoryEntry(org_id, name, org_type, list(json.loads(contact)), url, "federation")


def entries(node: Node) -> list[DirectoryEntry]:
    """Every trusted partner, federation members and bilateral partners, by name."""
    rows = node.uow.read(_TRUSTED, {"now": node.clock()})
    return sorted((_entry(r) for r in rows), key=lambda e: (e.name.casefold(), e.org_id))


def entry(node: Node, org_id: str) -> DirectoryEntry | None:
    """The trusted organisation ``org_id``, or None when this node does not trust it now."""
    rows = node.uow.read(_TRUSTED.where(Partner.org_id == bindparam("org")), {"now": node.clock(), "org": org_id})
    return _entry(rows[0]) if rows else None


def name_of(node: Node, org_id: str) -> str:
    """The listed name of ``org_id``; this node's own name for itself; else the org id."""
    if org_id == node.org_id:
        return str(node.config.node.name)
    found = entry(node, org_id)
    return found.name if found else org_id


def type_label(code: str) -> str:
    """The Dutch label of an organisation-type code (its CodeSystem's ``nl`` designation)."""
    return catalog.label(catalog.ORGANISATION_TYPE_SYSTEM, code)


def by_type(items: list[DirectoryEntry]) -> list[tuple[str, list[DirectoryEntry]]]:
    """Group entries by type, in the CodeSystem's order, for the pages: [(Dutch label, entries)]."""
    order = list(org_types())
    groups: dict[str, list[DirectoryEntry]] = {}
    for item in items:
        groups.setdefault(item.type, []).append(item)
    return [(type_label(t), groups[t]) for t in sorted(groups, key=lambda t: order.index(t) if t in order else 99)]
