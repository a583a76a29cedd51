"""The cached lookups in profiles.catalog answer what the data files say, and stay immutable."""

from __future__ import annotations

from profiles import catalog


def test_codesystem_urls_are_the_served_codesystems() -> None:
    assert catalog.codesystem_urls() == {cs["url"] for cs in catalog.load_codesystems()}
    assert catalog.SUMMARY_CATEGORY_SYSTEM in catalog.codesystem_urls()
    assert isinstance(catalog.codesystem_urls(), frozenset)  # a caller cannot change the cache


def test_codesystem_urls_is_computed_once() -> None:
    assert catalog.codesystem_urls() is catalog.codesystem_urls()
