"""Versions of what the node stores, as FHIR's RESTful API shows them (http.html#versioning).

Every Patient, record and Consent the node answers with carries ``meta.versionId`` and
``meta.lastUpdated``, set by the node (a client's own values are replaced). A create
answers ``Location: {base}/fhir/{type}/{id}/_history/{vid}``, ``ETag: W/"{vid}"`` and
``Last-Modified``; ``Prefer: return=minimal`` leaves the body out and
``return=OperationOutcome`` answers an informational OperationOutcome instead
(FHIR http.html#ops). A record pushed again under the same source identifier is a new
version of it.
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime
from typing import Any


def instant(when: dt.datetime) -> str:
    """A FHIR ``instant`` (UTC, milliseconds)."""
    if when.tzinfo is None:  # SQLite hands back naive datetimes, stored as UTC
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stamp(resource: dict[str, Any], version: int, when: dt.datetime) -> dict[str, Any]:
    """A copy of ``resource`` with ``meta.versionId`` and ``meta.lastUpdated`` set."""
    out = dict(resource)
    meta = dict(out.get("meta") or {})
    meta["versionId"], meta["lastUpdated"] = str(version), instant(when)
    out["meta"] = meta
    return out


def unversioned(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` without what the node sets (``meta.versionId``, ``meta.lastUpdated``): what
    to compare when asking whether a push changed anything."""
    out = dict(resource)
    meta = {k: v for k, v in (out.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        out["meta"] = meta
    else:
        out.pop("meta", None)
    return out


def version_of(resource: dict[str, Any] | None) -> int:
    """The stored version number (0 when there is none yet)."""
    value = ((resource or {}).get("meta") or {}).get("versionId")
    return int(value) if isinstance(value, str) and value.isdigit() else 0


def ensure(resource: dict[str, Any], when: dt.datetime) -> dict[str, Any]:
    """``resource`` as stored before versions were kept: version 1, last updated ``when``."""
    if version_of(resource):
        return resource
    return stamp(resource, 1, when)


def headers(resource: dict[str, Any], base_url: str, *, location: bool) -> dict[str, str]:
    """ETag and Last-Modified, and on a create the absolute versioned Location."""
    meta = resource.get("meta") or {}
    vid, updated = meta.get("versionId"), meta.get("lastUpdated")
    out: dict[str, str] = {}
    if vid:
        out["ETag"] = f'W/"{vid}"'
        if location:
            out["Location"] = f"{base_url}/fhir/{resource['resourceType']}/{resource['id']}/_history/{vid}"
    if isinstance(updated, str):
        when = dt.datetime.fromisoformat(updated.replace("Z", "+00:00"))
        out["Last-Modified"] = format_datetime(when.astimezone(dt.UTC), usegmt=True)
    return out


def preferred_return(prefer: str) -> str:
    """``representation`` (default), ``minimal`` or ``OperationOutcome`` from a Prefer header."""
    for part in prefer.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "return":
            value = value.strip().strip('"')
            if value in ("minimal", "OperationOutcome", "representation"):
                return value
    return "representation"
