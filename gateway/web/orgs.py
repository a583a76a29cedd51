"""Organisations on the pages: named by listed name and type, never by bare org id (issue 15).

Everything comes from ``gateway.federation.directory`` (the federation list, and bilateral partners by
org id), read once per request. Templates use the ``org`` filter for a name and
``org_type`` for the Dutch kind; views use ``choices`` for the consent form's groups.
"""

from __future__ import annotations

from flask import Flask, g

from gateway.current import node_of
from gateway.federation import directory
from gateway.federation.directory import DirectoryEntry

OWN_GROUP = "Deze organisatie"


def known() -> dict[str, DirectoryEntry]:
    """Org id -> entry for this node and every organisation it trusts now (cached per request)."""
    cached = getattr(g, "_directory", None)
    if cached is None:
        node = node_of()
        own = DirectoryEntry(node.org_id, str(node.config.node.name), "", [], node.config.node.url, "self")
        cached = {e.org_id: e for e in directory.entries(node)}
        cached[node.org_id] = own
        g.directory_entries = cached
    return cached


def name(org_id: str) -> str:
    found = known().get(org_id)
    return found.name if found else org_id


def kind(org_id: str) -> str:
    found = known().get(org_id)
    return directory.type_label(found.type) if found and found.type else ""


def partners() -> list[DirectoryEntry]:
    """The trusted organisations, by name."""
    own = node_of().org_id
    return [e for e in known().values() if e.org_id != own]


def choices() -> list[tuple[str, DirectoryEntry]]:
    """(group label, entry) for the consent form: this organisation first, then by type."""
    own = known()[node_of().org_id]
    return [(OWN_GROUP, own)] + [(label, e) for label, items in directory.by_type(partners()) for e in items]


def contacts(org_ids: set[str]) -> list[DirectoryEntry]:
    """The other organisations among ``org_ids`` that this node knows, by name."""
    own = node_of().org_id
    return sorted((known()[o] for o in org_ids if o != own and o in known()), key=lambda e: e.name.casefold())


def init_app(app: Flask) -> None:
    app.add_template_filter(name, "org")
    app.add_template_filter(kind, "org_type")
