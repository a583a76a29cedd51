"""FHIR searchsets as a generic client expects them (FHIR R4 search.html, http.html#paging).

- ``_count`` is the page size (default 100, at most 1000; 0 for the total alone) and ``_offset`` where the page
  starts; the Bundle's ``link`` has ``self`` (the search as understood, with its
  parameters), ``next`` while more matches follow, and ``previous``;
- ``total`` counts every match, not the page;
- ``_summary=count`` answers the total alone;
- parameters the node does not know are ignored, as FHIR's default is, and refused
  (``invalid-request``) only under ``Prefer: handling=strict``; ``_format``, ``_pretty``
  and ``_sort`` on the order the node gives (newest first) never count as unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from contract.errors import InvalidRequest

DEFAULT_COUNT = 100
MAX_COUNT = 1000
#: FHIR result parameters that never change which resources match
ALWAYS_IGNORED = frozenset({"_format", "_pretty", "_elements"})
PAGING = frozenset({"_count", "_offset", "_summary"})


@dataclass(frozen=True)
class Page:
    count: int
    offset: int
    only_total: bool
    strict: bool


def _multi(args: Mapping[str, str], name: str) -> list[str]:
    getlist = getattr(args, "getlist", None)
    if getlist is not None:
        return list(getlist(name))
    return [args[name]] if name in args else []


def page(args: Mapping[str, str], *, known: Iterable[str], prefer: str = "", sorts: Iterable[str] = ()) -> Page:
    """Read the paging parameters; refuse unknown ones only when the client asked for strict handling."""
    strict = "handling=strict" in prefer.replace(" ", "").lower()
    known = set(known)
    for name in args:
        base = name.split(":", 1)[0]
        if name in known or name in PAGING or name in ALWAYS_IGNORED:
            continue
        if base in known:  # FHIR: a modifier the server does not support is refused, strict or not
            raise InvalidRequest(
                f"Zoekparameter {name[:40]!r}: deze toevoeging wordt hier niet ondersteund.",
                expression=(name[:40],),
                diagnostics=f"unsupported modifier in {name[:40]!r}",
            )
        if name == "_sort" and all(v in set(sorts) for v in ",".join(_multi(args, "_sort")).split(",")):
            continue
        if strict:
            raise InvalidRequest(
                f"Onbekende zoekparameter {name[:40]!r} (Prefer: handling=strict).",
                expression=(name[:40],),
                diagnostics=f"unknown search parameter {name[:40]!r}",
            )
    count = _integer(args.get("_count"), "_count", DEFAULT_COUNT, 0, MAX_COUNT)
    offset = _integer(args.get("_offset"), "_offset", 0, 0, 10**9)
    summary = args.get("_summary")
    if summary not in (None, "count", "false"):
        if strict:
            raise InvalidRequest(
                "_summary kent hier alleen count en false.",
                expression=("_summary",),
                diagnostics="_summary supports count and false only",
            )
        summary = None
    # _count=0 asks for the total alone, as _summary=count does (FHIR search.html#count)
    return Page(count=count, offset=offset, only_total=summary == "count" or count == 0, strict=strict)


def _integer(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise InvalidRequest(
            f"{name} is een geheel getal van {low} t/m {high}.",
            expression=(name,),
            diagnostics=f"{name} must be an integer from {low} to {high}",
        )
    return int(value)


def bundle(
    resources: list[dict[str, Any]],
    total: int,
    pg: Page,
    *,
    self_url: str,
    params: list[tuple[str, str]],
    full_url: Any = None,
) -> dict[str, Any]:
    """A searchset Bundle of one page: ``resources`` are that page's matches, ``total`` all of them.

    ``params`` are the search parameters as understood (without paging); ``full_url(resource)``
    gives each entry's ``fullUrl``.
    """

    def link(relation: str, offset: int) -> dict[str, str]:
        query = [*params, ("_count", str(pg.count))]
        if offset:
            query.append(("_offset", str(offset)))
        if pg.only_total:
            query.append(("_summary", "count"))
        return {"relation": relation, "url": f"{self_url}?{urlencode(query)}"}

    links = [link("self", pg.offset)]
    if not pg.only_total and pg.offset + len(resources) < total:
        links.append(link("next", pg.offset + pg.count))
    if not pg.only_total and pg.offset > 0:
        links.append(link("previous", max(0, pg.offset - pg.count)))
    out: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
    if not pg.only_total and resources:
        out["entry"] = [
            {**({"fullUrl": full_url(r)} if full_url else {}), "resource": r, "search": {"mode": "match"}}
            for r in resources
        ]
    return out


def params_of(args: Mapping[str, str], names: Iterable[str]) -> list[tuple[str, str]]:
    """The understood search parameters, in a stable order, for the self and next links."""
    wanted = set(names)
    out = []
    for name in sorted(args):
        if name in wanted:
            out += [(name, v) for v in _multi(args, name)]
    return out


def reference_id(value: str, rtype: str, base_url: str) -> str:
    """The id a reference search parameter names: ``Type/id``, the id alone, or the absolute
    URL on this node (FHIR search.html#reference); '' for a reference to another type or
    server, which matches nothing here."""
    value = value.strip()
    if value.startswith(base_url + "/fhir/"):
        value = value[len(base_url) + len("/fhir/") :]
    if "/" not in value:
        return value
    kind, _, rid = value.partition("/")
    return rid if kind == rtype and rid and "/" not in rid else ""
