"""Element paths such as ``activity[].detail.performer[].display`` (``profiles/profiles.json``).

A path names one primitive leaf; ``[]`` marks a repeating element. ``project`` builds a new
dict holding only allow-listed leaves, so output is constructed from the allow-list instead
of copied and pruned; ``leaf_paths`` lists what a dict holds, so the guard can compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

# A compiled tree: element name -> (repeats, subtree or None for a primitive leaf).
Tree = dict[str, tuple[bool, "Tree | None"]]


def compile_paths(paths: Iterable[str]) -> Tree:
    """Compile dotted paths into a tree; raise ``ValueError`` on contradicting paths."""
    tree: Tree = {}
    for path in paths:
        node = tree
        parts = path.split(".")
        for i, part in enumerate(parts):
            repeats = part.endswith("[]")
            name = part.removesuffix("[]")
            leaf = i == len(parts) - 1
            if not name or "[" in name:
                raise ValueError(f"bad path {path!r}")
            previous = node.get(name)
            if previous is None:
                node[name] = (repeats, None if leaf else {})
            elif previous[0] != repeats or (previous[1] is None) != leaf:
                raise ValueError(f"path {path!r} contradicts another path")
            subtree = node[name][1]
            if subtree is not None:
                node = subtree
    return tree


def project(source: Any, tree: Tree) -> dict[str, Any]:
    """Return a new dict with only the leaves of ``source`` that ``tree`` allows.

    Leaves are copied only when they are non-empty strings: numbers, objects where a
    primitive is expected, and anything else never pass.
    """
    if not isinstance(source, dict):
        return {}
    out: dict[str, Any] = {}
    for name, (repeats, subtree) in tree.items():
        value = source.get(name)
        if repeats:
            items = [_one(item, subtree) for item in value] if isinstance(value, list) else []
            kept = [item for item in items if item]
            if kept:
                out[name] = kept
        else:
            item = _one(value, subtree)
            if item:
                out[name] = item
    return out


def _one(value: Any, subtree: Tree | None) -> Any:
    if subtree is None:
        return value if isinstance(value, str) and value.strip() else None
    return project(value, subtree)


def leaf_paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Yield the path of every leaf in ``value`` (empty objects and lists count as leaves)."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from leaf_paths(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for item in value:
            yield from leaf_paths(item, prefix + "[]")
    else:
        yield prefix
