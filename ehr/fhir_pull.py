"""FHIR pull adapter: read records for known people from an EHR's FHIR R4 API (issue 6).

``gateway sync DIR [--source NAME]`` runs ``sync`` for each ``[sources.NAME]`` of the node
(``gateway.config.SourceSection``). Per person known to the node:

1. ``GET {base}/Patient?identifier=http://fhir.nl/fhir/NamingSystem/bsn|<BSN>``: no match
   means the EHR does not know the person; more than one is reported and skipped (never
   guess between two patients). A returned Patient must carry that BSN.
2. ``GET {base}/{type}?subject=Patient/<id>&_count=<page_size>[&_lastUpdated=gt<mark>]``
   for Observation, CarePlan and CareTeam (``patient=`` for EpisodeOfCare, which has no
   subject; ``subject`` with an explicit type is also what servers answer fastest),
   following ``Bundle.link`` next
   (only to URLs under the same base: the bearer token never goes elsewhere). A returned
   resource must reference that patient: a server that silently ignores the search
   parameter would otherwise hand over other people's records.
3. Each resource goes through ``ehr.interface.to_node_record`` (the source link is
   ``<identifier_system>|<type>/<id>``) and ``store``: one unit of work per person, with
   one audit entry when something changed. Records the mapping refuses are reported; the
   person's other records are still written.
4. The watermark (the newest ``meta.lastUpdated`` the server returned for that person) is
   kept per source and per person in ``DIR/sync-state.json``, keyed by the node's own
   person id (no BSN in the file). Per person, so that a person registered after the last
   sync still gets their older records. A changed ``base_url`` starts from scratch.
5. An incremental search cannot see a record the EHR deleted. ``full=True``
   (``gateway sync --full``) reads everything without the watermark and, once a person's
   read is complete, withdraws that person's records from this source that it did not
   return (``ehr.interface.withdraw_missing``). A record the mapping refused this time
   is kept as stored; one the mapping no longer takes is withdrawn.

Authentication: ``bearer`` sends ``GATEWAY_SOURCE_<NAME>_SECRET`` as the token;
``client_credentials`` gets a token from ``token_url`` (RFC 6749 section 4.4, client
authentication ``client_secret_basic``, section 2.3.1) and renews it when it runs out or
is refused. All HTTP goes through ``adapters.http.StrictClient`` (timeouts, size cap, TLS,
no redirects). Errors: ``SourceError`` (exit 1), ``ConfigError``/``MappingError`` (exit 2).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import select

from adapters.http import StrictClient
from adapters.store.models import Person
from contract.errors import GatewayError, InvalidRequest
from ehr import mapping as mappings
from ehr.interface import Outcome, Problem, SourceRecord, store, to_node_record, withdraw_missing
from gateway.config import ConfigError, SourceSection
from gateway.fhir.fhir_in import BSN_SYSTEM, RECORD_TYPES
from gateway.node import Node

STATE_FILE = "sync-state.json"
MAX_PAGES = 10_000  # per search: a server whose next links never end must not hold us
TOKEN_MARGIN = 30  # seconds before expiry that a client-credentials token is renewed


class SourceError(GatewayError):
    """The source EHR could not be read (unreachable, refused us, or answered nonsense)."""

    code = "partner-unavailable"
    message_nl = "Het bronsysteem kon niet worden gelezen."


@dataclass
class SyncReport:
    source: str
    people: int = 0  # known people the source has a patient for
    fetched: int = 0  # resources read
    pages: int = 0  # search pages read
    outcome: Outcome = field(default_factory=Outcome)


class FhirSource:
    """One EHR's FHIR R4 API as the adapter reads it: token, search, paging."""

    def __init__(self, src: SourceSection, http: StrictClient) -> None:
        if not src.secret:
            kind = "bearer token" if src.auth == "bearer" else "client secret"
            raise ConfigError(f"[sources.{src.name}]: set {src.env_prefix}SECRET to the {kind}")
        self.src, self.http = src, http
        self.base = src.base_url.rstrip("/")
        self._token: str | None = src.secret if src.auth == "bearer" else None
        self._expires = float("inf")
        self.pages = 0

    def token(self, *, renew: bool = False) -> str:
        if self.src.auth == "bearer":
            return self.src.secret or ""
        if renew or self._token is None or time.monotonic() > self._expires - TOKEN_MARGIN:
            self._token, self._expires = self._client_credentials()
        return self._token

    def _client_credentials(self) -> tuple[str, float]:
        basic = base64.b64encode(
            f"{quote(self.src.client_id, safe='')}:{quote(self.src.secret or '', safe='')}".encode()
        ).decode()
        form = {"grant_type": "client_credentials"}
        if self.src.scope:
            form["scope"] = self.src.scope
        reply = self.http.request(
            "POST",
            self.src.token_url,
            form=form,
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        )
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.status != 200 or not isinstance(body.get("access_token"), str):
            raise SourceError(
                f"source {self.src.name}: token request refused (HTTP {reply.status}"
                f"{', ' + str(body.get('error')) if body.get('error') else ''})"
            )
        life = body.get("expires_in")
        expires = time.monotonic() + (life if isinstance(life, int) and life > 0 else 300)
        return body["access_token"], expires

    def get(self, url: str) -> dict[str, Any]:
        """GET one Bundle page; renew a client-credentials token once if it is refused."""
        for attempt in (1, 2):
            reply = self.http.request("GET", url, headers={"Authorization": f"Bearer {self.token(renew=attempt == 2)}"})
            if reply.status == 401 and attempt == 1 and self.src.auth == "client_credentials":
                continue
            break
        if reply.status in (401, 403):
            raise SourceError(f"source {self.src.name} refused our credentials (HTTP {reply.status})")
        body = reply.body
        if reply.status != 200 or not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            raise SourceError(
                f"source {self.src.name} answered HTTP {reply.status} without a Bundle for {url.split('?')[0]}"
            )
        self.pages += 1
        return body

    def search(self, rtype: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Yield the matching resources of every page of one search."""
        url: str | None = f"{self.base}/{rtype}?{urlencode(params)}"
        seen: set[str] = set()
        while url is not None:
            if url in seen or len(seen) >= MAX_PAGES:
                raise SourceError(f"source {self.src.name}: paging of {rtype} does not end")
            seen.add(url)
            page = self.get(url)
            for entry in page.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                mode = (entry.get("search") or {}).get("mode", "match") if isinstance(entry, dict) else None
                if isinstance(resource, dict) and resource.get("resourceType") == rtype and mode == "match":
                    yield resource
            url = self._next(page)

    def _next(self, page: dict[str, Any]) -> str | None:
        for link in page.get("link") or []:
            if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
                nxt: str = link["url"]
                if not nxt.startswith((self.base + "/", self.base + "?")):
                    raise SourceError(f"source {self.src.name}: a next link leaves {self.base}; not followed")
                return nxt
        return None


class SyncState:
    """Watermarks per source and person in ``DIR/sync-state.json`` (owner-only, atomic)."""

    def __init__(self, home: Path) -> None:
        self.path = home / STATE_FILE
        try:
            self.data = json.loads(self.path.read_text("utf-8")) if self.path.exists() else {}
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"{self.path} is damaged; remove it to sync everything again") from None
        self.data.setdefault("sources", {})

    def people(self, src: SourceSection) -> dict[str, str]:
        entry = self.data["sources"].get(src.name)
        if not entry or entry.get("base_url") != src.base_url:
            entry = self.data["sources"][src.name] = {"base_url": src.base_url, "people": {}}
        people: dict[str, str] = entry["people"]
        return people

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.data, fh, indent=1, sort_keys=True)
        os.replace(tmp, self.path)


def sync(node: Node, src: SourceSection, *, full: bool = False) -> SyncReport:
    """Pull the records of every known person from ``src``; see the module docstring.
    ``full``: read everything and withdraw what the source no longer holds (step 5)."""
    mapping = mappings.load(src.mapping, home=node.config.home)
    source = FhirSource(src, node.http)
    report = SyncReport(src.name)
    with _lock(node.config.home):
        state = SyncState(node.config.home)
        marks = state.people(src)
        with node.uow() as uow:
            people = [(p.id, p.bsn) for p in uow.session.scalars(select(Person).order_by(Person.id))]
        for pid, bsn in people:
            patient = _patient(source, bsn, pid, report)
            if patient is None:
                continue
            report.people += 1
            records, kept, newest = _records(
                source, src, mapping, patient, bsn, None if full else marks.get(pid), report
            )
            actor_id = f"system:sync:{src.name}"
            outcome = store(
                node, records, actor_id=actor_id, subject=bsn, detail={"source": src.name}, all_or_nothing=False
            )
            if full:  # the read above was complete: every page, or a SourceError stopped the run
                outcome.withdrawn = withdraw_missing(
                    node, bsn, src.record_system, kept, actor_id=actor_id, detail={"source": src.name}
                )
            report.outcome.add(outcome)
            if newest:
                marks[pid] = newest
                state.save()
    report.pages = source.pages
    return report


def _patient(source: FhirSource, bsn: str, pid: str, report: SyncReport) -> str | None:
    found = [
        p
        for p in source.search("Patient", {"identifier": f"{BSN_SYSTEM}|{bsn}"})
        if any(
            isinstance(i, dict) and i.get("system") == BSN_SYSTEM and i.get("value") == bsn
            for i in p.get("identifier") or []
        )
    ]
    if len(found) > 1:
        report.outcome.problems.append(
            Problem(f"person {pid}", f"{len(found)} patients at the source carry this BSN; none taken")
        )
        return None
    return str(found[0]["id"]) if found else None


def _records(
    source: FhirSource,
    src: SourceSection,
    mapping: mappings.Mapping,
    patient: str,
    bsn: str,
    since: str | None,
    report: SyncReport,
) -> tuple[list[tuple[str, dict[str, Any]]], set[str], str | None]:
    """The person's node records from the source, the source ids to keep (mapped or refused
    this time: a refused record keeps its stored version), and the new watermark."""
    records: list[tuple[str, dict[str, Any]]] = []
    kept: set[str] = set()
    newest = since
    for rtype in RECORD_TYPES:
        by = "patient" if rtype == "EpisodeOfCare" else "subject"
        params = {by: f"Patient/{patient}", "_count": str(src.page_size)}
        if since:
            params["_lastUpdated"] = f"gt{since}"
        for res in source.search(rtype, params):
            report.fetched += 1
            where = f"{rtype}/{res.get('id')}"
            newest = _later(newest, (res.get("meta") or {}).get("lastUpdated"))
            if not _belongs(res, patient):
                report.outcome.problems.append(
                    Problem(
                        where, f"not about Patient/{patient}; does the source support the subject search parameter?"
                    )
                )
                continue
            rec = SourceRecord(
                where=where,
                identifier=(src.record_system, where),
                subject_bsn=bsn,
                resource=res,
                codings=_codings(res),
                marked_shareable=_marked(res, mapping),
            )
            try:
                node_record = to_node_record(rec, mapping)
            except InvalidRequest as exc:
                report.outcome.problems.append(Problem(where, exc.detail))
                kept.add(where)
                continue
            if node_record is None:
                report.outcome.skipped += 1
            else:
                records.append((where, node_record))
                kept.add(where)
    return records, kept, newest


def _belongs(resource: dict[str, Any], patient: str) -> bool:
    ref = resource.get("patient" if resource.get("resourceType") == "EpisodeOfCare" else "subject")
    value = ref.get("reference") if isinstance(ref, dict) else None
    return isinstance(value, str) and (value == f"Patient/{patient}" or value.endswith(f"/Patient/{patient}"))


def _codings(resource: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    out = []
    for slot in ("code", "category", "type"):
        value = resource.get(slot)
        for concept in value if isinstance(value, list) else [value]:
            for coding in (concept or {}).get("coding") or [] if isinstance(concept, dict) else []:
                if (
                    isinstance(coding, dict)
                    and isinstance(coding.get("system"), str)
                    and isinstance(coding.get("code"), str)
                ):
                    out.append((coding["system"], coding["code"]))
    return tuple(out)


def _marked(resource: dict[str, Any], mapping: mappings.Mapping) -> bool:
    if mapping.shareable_mark is None:
        return False
    meta = resource.get("meta") or {}
    return any(
        isinstance(c, dict) and (c.get("system"), c.get("code")) == mapping.shareable_mark
        for c in [*(meta.get("tag") or []), *(meta.get("security") or [])]
    )


def _later(current: str | None, candidate: Any) -> str | None:
    """The later of two FHIR instants, kept as the server wrote it (sent back as is)."""
    if not isinstance(candidate, str):
        return current
    try:
        new = datetime.fromisoformat(candidate)
        if current is None or new > datetime.fromisoformat(current):
            return candidate
    except ValueError:
        pass
    return current


class _lock:  # noqa: N801 - used as `with _lock(home):`, named like the context manager it is
    """One sync per node home at a time (``DIR/sync.lock``); a second one stops at once."""

    def __init__(self, home: Path) -> None:
        self.path = home / "sync.lock"

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise SourceError("another gateway sync is running for this node") from None

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
