"""A node in a federation: fetch, verify and apply the operator's member list (contract section 7).

Where it runs. The list in force lives in the store (``federation_members``,
``federation_state``, and the members' rows in ``partners``), so every worker and every host
of a node sees the same list the moment it commits. ``gateway serve`` fetches the list once
before it starts its workers; after that a refresher thread runs in every worker, but each
round first claims the one slot in ``federation_state.next_check_at`` with a conditional
UPDATE, so the whole node fetches once per ``refresh_seconds``, not once per worker.

How trust follows the list. Applying a list is one transaction: members are upserted, each
listed org becomes a partner (source ``federation``) with its listed URL, and ``allowed_kids``
its listed thumbprints (only those of the keys its JWKS publishes are ever pinned); a member
absent from the new list loses its partner row, and with it every request from then on,
live access tokens included (``gateway.http.context.partner_caller`` asks the store on each call).
A member's JWKS is fetched at its first use (``PartnerDirectory.keys_for``), so applying a
500-member list makes no network call, and a list that changes one member's keys re-reads
that member's JWKS only. ``trusted_until`` (valid-until plus grace) is checked in the
partner lookup itself, so an expired list fails closed in every worker even when no
refresher runs.

Conflicts. A bilateral partner (``partner add``) with the same org id as a member but
another URL or an unlisted key is refused (``partners.refused``) until the list or the
partner changes; ``gateway federation status`` shows it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlparse

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from adapters.http import StrictClient
from adapters.store.models import FederationMember, FederationState, Partner, PartnerKey
from audit import events
from contract.errors import GatewayError
from gateway.federation import memberlist as fedlist
from gateway.federation.memberlist import ListedMember, ListRefused, VerifiedList
from gateway.node import Node
from gateway.repositories import audit_log
from gateway.trust.partners import allowed_of

log = logging.getLogger("gateway.federation")

#: the refresher's audit actor
ACTOR = "system:federation"
_FETCH_FAILED = "cannot fetch the list: "


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@dataclass
class Outcome:
    """What one refresh did: applied, unchanged, not-modified, refused, failed or skipped."""

    result: str
    detail: str = ""
    version: int = 0
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


# --- fetching ----------------------------------------------------------------------------


def fetch(node: Node, etag: str = "", last_modified: str = "") -> tuple[int, bytes, str, str]:
    """Fetch the list: (status, body, etag, last-modified); 304 when unchanged."""
    f = node.config.federation
    url = f.list_url
    if url.startswith("file://"):
        path = Path(unquote(urlparse(url).path))
        try:
            st = path.stat()
            stamp = f"{st.st_mtime_ns}-{st.st_size}"
            if etag and stamp == etag:
                return 304, b"", etag, ""
            if st.st_size > f.max_list_bytes:
                raise ListRefused(f"the list is {st.st_size} bytes, more than max_list_bytes ({f.max_list_bytes})")
            return 200, path.read_bytes(), stamp, ""
        except OSError as exc:
            raise GatewayError(f"cannot read {url}: {exc.strerror or exc}") from None
    p = node.config.partners
    client = StrictClient(
        connect_timeout=p.connect_timeout,
        read_timeout=p.read_timeout,
        max_bytes=f.max_list_bytes,
        verify_tls=p.verify_tls,
    )
    headers = {"Accept": "application/fhir+json, application/json"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        reply = client.raw_request("GET", url, headers=headers)
    finally:
        client.close()
    if reply.status == 304:
        return 304, b"", etag, last_modified
    if reply.status != 200:
        raise GatewayError(f"{url} answered HTTP {reply.status}")
    return 200, reply.raw, reply.etag, reply.last_modified


# --- applying ----------------------------------------------------------------------------


def _member_row(m: ListedMember) -> dict[str, Any]:
    return {
        "org_id": m.org_id,
        "name": m.name,
        "type": m.type,
        "ura": m.ura,
        "contact": json.dumps(list(m.contact)),
        "url": m.url,
        "thumbprints": json.dumps(sorted(m.thumbprints)),
    }


def listed_members(session: Session) -> dict[str, ListedMember]:
    return {
        r.org_id: ListedMember(
            org_id=r.org_id,
            name=r.name,
            type=r.type,
            url=r.url,
            ura=r.ura,
            thumbprints=tuple(json.loads(r.thumbprints)),
            contact=tuple(json.loads(r.contact)),
        )
        for r in session.scalars(select(FederationMember))
    }


def reconcile(
    session: Session, node: Node, members: dict[str, ListedMember], until: datetime | None, now: datetime
) -> tuple[list[str], list[str], list[str], list[events.AuditRecord]]:
    """Make the partners table agree with ``members`` (the list in force); return
    (added, removed, changed, audit records). Runs inside the caller's transaction."""
    rows = {p.org_id: p for p in session.scalars(select(Partner))}
    added, removed, changed, records = [], [], [], []

    def record(action: str, org: str, **detail: Any) -> None:
        records.append(
            events.AuditRecord(
                action=action, outcome=events.SUCCESS, actor_id=ACTOR, actor_role="system", peer_org=org, detail=detail
            )
        )

    new_rows = []
    for org_id, m in members.items():
        if org_id == node.org_id:
            continue  # a node trusts every member but itself
        allowed = frozenset(m.thumbprints)
        allowed_text = json.dumps(sorted(allowed))
        row = rows.get(org_id)
        if row is None:
            new_rows.append(
                {
                    "org_id": org_id,
                    "url": m.url,
                    "added_at": now,
                    "jwks_fetched_at": None,
                    "source": "federation",
                    "allowed_kids": allowed_text,
                    "trusted_until": until,
                    "refused": "",
                }
            )
            added.append(org_id)
            record(events.FEDERATION_MEMBER_ADDED, org_id, name=m.name, type=m.type, kids=sorted(allowed))
            continue
        if row.source == "federation":
            if row.url != m.url or allowed_of(row.allowed_kids) != allowed:
                changed.append(org_id)
                record(events.FEDERATION_MEMBER_UPDATED, org_id, url=m.url, kids=sorted(allowed))
                keep = [] if row.url != m.url else sorted(allowed)
                session.execute(
                    delete(PartnerKey.__table__).where(PartnerKey.org_id == org_id, PartnerKey.kid.not_in(keep))
                )
                row.url, row.allowed_kids, row.jwks_fetched_at = m.url, allowed_text, None
            continue  # trusted_until: one UPDATE for all list-only members below
        # a bilateral partner that is listed too: both, unless URL or keys disagree
        pinned = set(session.scalars(select(PartnerKey.kid).where(PartnerKey.org_id == org_id)))
        why = ""
        if row.url.rstrip("/") != m.url:
            why = f"conflict: partner add names {row.url}, the federation list {m.url}"
        elif row.source == "bilateral" and pinned - allowed:
            why = f"conflict: key {sorted(pinned - allowed)[0]} pinned by partner add is not in the federation list"
        if why != row.refused:
            if why:
                record(events.FEDERATION_CONFLICT, org_id, reason=why)
                log.warning("federation: %s refused: %s", org_id, why)
            changed.append(org_id)
        row.refused = why
        if not why:
            row.source, row.allowed_kids, row.trusted_until = "both", allowed_text, None
            session.execute(
                delete(PartnerKey.__table__).where(PartnerKey.org_id == org_id, PartnerKey.kid.not_in(sorted(allowed)))
            )
    for org_id, row in rows.items():
        if org_id in members:
            continue
        if row.source == "federation":
            session.execute(delete(PartnerKey.__table__).where(PartnerKey.org_id == org_id))
            session.execute(delete(Partner.__table__).where(Partner.org_id == org_id))
            removed.append(org_id)
            record(events.FEDERATION_MEMBER_REMOVED, org_id)
        elif row.source == "both" or row.refused:
            # no longer listed: a bilateral partner again, its JWKS mirrored again at next use
            row.source, row.allowed_kids, row.trusted_until, row.refused = "bilateral", None, None, ""
            row.jwks_fetched_at = None
            changed.append(org_id)
    session.flush()
    session.execute(update(Partner.__table__).where(Partner.source == "federation").values(trusted_until=until))
    if new_rows:
        session.execute(Partner.__table__.insert(), new_rows)
    return added, removed, changed, records


def _state(session: Session, *, lock: bool = False) -> FederationState:
    stmt = select(FederationState).where(FederationState.id == 1)
    if lock:
        stmt = stmt.with_for_update()
    state: FederationState | None = session.scalars(stmt).one_or_none()
    if state is None:  # a store made before the migration's insert: make the row
        state = FederationState(
            id=1, federation_id="", version=0, operator_kid="", list_sha256="", etag="", last_modified="", last_error=""
        )
        session.add(state)
        session.flush()
    return state


def apply(node: Node, verified: VerifiedList, *, etag: str = "", last_modified: str = "") -> Outcome:
    """Apply a verified list if it is newer than the one in force (one transaction, audited)."""
    now = node.clock()
    grace = timedelta(seconds=node.config.federation.grace_seconds)
    with node.uow() as uow:
        s = uow.session
        state = _state(s, lock=True)
        if verified.version == state.version and verified.sha256 == state.list_sha256:
            state.fetched_at, state.etag, state.last_modified = now, etag, last_modified
            state.last_error, state.last_error_at = "", None
            uow.commit()
            return Outcome("unchanged", f"version {verified.version} is in force already", verified.version)
        if verified.version <= state.version:
            raise ListRefused(
                f"version {verified.version} is not higher than version {state.version} in force"
                + (" (same version, other content)" if verified.version == state.version else " (a rollback)")
            )
        if state.federation_id and verified.federation_id != state.federation_id:
            raise ListRefused(
                f"the list is for federation {verified.federation_id!r}, this node follows {state.federation_id!r}"
            )
        members = {m.org_id: m for m in verified.members}
        s.execute(delete(FederationMember.__table__))
        if members:
            s.execute(FederationMember.__table__.insert(), [_member_row(m) for m in members.values()])
        added, removed, changed, records = reconcile(s, node, members, verified.valid_until + grace, now)
        applied = events.AuditRecord(
            action=events.FEDERATION_LIST_APPLIED,
            outcome=events.SUCCESS,
            actor_id=ACTOR,
            actor_role="system",
            detail={
                "federation": verified.federation_id,
                "version": verified.version,
                "operator_kid": verified.operator_kid,
                "members": len(members),
                "sha256": verified.sha256,
                "valid_until": fedlist.instant(verified.valid_until),
                "added": len(added),
                "removed": len(removed),
                "changed": len(changed),
            },
        )
        audit_log.append_many(s, node, [applied, *records])
        s.execute(
            update(FederationState.__table__)
            .where(FederationState.id == 1)
            .values(
                federation_id=verified.federation_id,
                version=verified.version,
                operator_kid=verified.operator_kid,
                list_sha256=verified.sha256,
                published_at=verified.timestamp,
                valid_until=verified.valid_until,
                applied_at=now,
                fetched_at=now,
                etag=etag,
                last_modified=last_modified,
                last_error="",
                last_error_at=None,
            )
        )
        uow.commit()
    log.info(
        "federation: applied list %s version %s: %d members (%d added, %d removed, %d changed)",
        verified.federation_id,
        verified.version,
        len(members),
        len(added),
        len(removed),
        len(changed),
    )
    return Outcome("applied", "", verified.version, added, removed, changed)


def _refused(node: Node, why: str, etag: str) -> None:
    """Keep the list in force; note why in the state (status) and the log, audit it once."""
    log.warning("federation: list refused, the list in force stays: %s", why)
    with node.uow() as uow:
        state = _state(uow.session, lock=True)
        if state.last_error != why[:512]:
            audit_log.append(
                uow.session,
                node,
                events.AuditRecord(
                    action=events.FEDERATION_LIST_REFUSED,
                    outcome=events.REFUSED,
                    actor_id=ACTOR,
                    actor_role="system",
                    reason_code="federation-list-refused",
                    detail={"why": why[:400]},
                ),
            )
        state.last_error, state.last_error_at = why[:512], node.clock()
        if etag:
            state.etag = etag  # the same refused file is not verified again on every round
        uow.commit()


def refresh(node: Node, *, claim: bool = False) -> Outcome:
    """Fetch, verify and apply the list once. With ``claim`` (the refresher), only when this
    worker wins the node's slot for this interval; the CLI and ``serve`` pass no claim."""
    f = node.config.federation
    if not f.enabled:
        return Outcome("skipped", "no [federation] list_url")
    now = node.clock()
    with node.uow() as uow:
        state = _state(uow.session)
        if claim:
            # an UPDATE's result is a CursorResult (Session.execute is typed as Result)
            won = cast(
                CursorResult[Any],
                uow.session.execute(
                    update(FederationState.__table__)
                    .where(
                        FederationState.id == 1,
                        (FederationState.next_check_at.is_(None)) | (FederationState.next_check_at <= now),
                    )
                    .values(next_check_at=now + timedelta(seconds=f.refresh_seconds))
                ),
            ).rowcount
            if won != 1:
                return Outcome("skipped", "another worker refreshes in this interval")
        etag, last_modified = state.etag, state.last_modified
        uow.commit()
    try:
        status, raw, new_etag, new_modified = fetch(node, etag, last_modified)
    except ListRefused as exc:
        _refused(node, exc.detail, "")
        return Outcome("refused", exc.detail)
    except GatewayError as exc:
        why = f"{_FETCH_FAILED}{exc.detail}"
        log.warning("federation: %s; the list in force stays", why)
        with node.uow() as uow:
            st = _state(uow.session, lock=True)
            st.last_error, st.last_error_at = why[:512], now
            uow.commit()
        return Outcome("failed", why)
    if status == 304:
        with node.uow() as uow:
            st = _state(uow.session, lock=True)
            refused_before = st.last_error if st.last_error and not st.last_error.startswith(_FETCH_FAILED) else ""
            if not refused_before:
                st.fetched_at, st.last_error, st.last_error_at = now, "", None
            uow.commit()
        if refused_before:  # the file still is the one refused last time: say so, do not re-verify
            return Outcome("refused", f"unchanged since it was refused: {refused_before}")
        return Outcome("not-modified", "the list did not change")
    try:
        verified = fedlist.verify(
            raw, f.operator_thumbprints, now=now, grace=f.grace_seconds, max_bytes=f.max_list_bytes
        )
        return apply(node, verified, etag=new_etag, last_modified=new_modified)
    except ListRefused as exc:
        _refused(node, exc.detail, new_etag)
        return Outcome("refused", exc.detail)


def after_partner_change(node: Node) -> None:
    """Re-run the reconciliation after ``partner add``/``remove`` (conflicts, a removed row)."""
    now = node.clock()
    with node.uow() as uow:
        state = _state(uow.session)
        if state.version == 0:
            return
        grace = timedelta(seconds=node.config.federation.grace_seconds)
        until = _utc(state.valid_until)
        _a, _r, _c, records = reconcile(
            uow.session, node, listed_members(uow.session), until + grace if until else None, now
        )
        for rec in records:
            audit_log.append(uow.session, node, rec)
        uow.commit()


# --- what is in force ----------------------------------------------------------------------


def expired_reason(node: Node) -> str | None:
    """Why the federation fails closed now (the list in force is past valid-until), or None.

    A node that never applied a list is not failing closed: nobody is trusted through a list
    yet, and it must stay reachable (its JWKS above all) for the operator to list it.
    """
    if not node.config.federation.enabled:
        return None
    with node.uow(read_only=True) as uow:
        state = uow.session.get(FederationState, 1)
        version, until = (state.version, _utc(state.valid_until)) if state else (0, None)
        error = state.last_error if state else ""
    if version == 0 or until is None:
        return None
    grace = timedelta(seconds=node.config.federation.grace_seconds)
    if node.clock() >= until + grace:
        return f"the federation list in force (version {version}) expired at {fedlist.instant(until)}" + (
            f"; last refresh: {error}" if error else ""
        )
    return None


def status(node: Node) -> dict[str, Any]:
    """The list in force and every member this node refuses to trust, with why."""
    with node.uow(read_only=True) as uow:
        state = uow.session.get(FederationState, 1)
        count = len(uow.session.scalars(select(FederationMember.org_id)).all())
        refused = [
            (p.org_id, p.refused)
            for p in uow.session.scalars(select(Partner).where(Partner.refused != "").order_by(Partner.org_id))
        ]

    def iso(moment: datetime | None) -> str:
        moment = _utc(moment)
        return fedlist.instant(moment) if moment else "-"

    out: dict[str, Any] = {
        "list_url": node.config.federation.list_url,
        "federation": state.federation_id if state else "",
        "version": state.version if state else 0,
        "operator": state.operator_kid if state else "",
        "fetched_at": iso(state.fetched_at if state else None),
        "applied_at": iso(state.applied_at if state else None),
        "valid_until": iso(state.valid_until if state else None),
        "members": count,
        "last_error": state.last_error if state else "",
        "last_error_at": iso(state.last_error_at if state else None),
        "refused": refused,
    }
    expired = expired_reason(node)
    if expired:
        listed = [] if count == 0 else list(_list_only(node))
        out["refused"] = out["refused"] + [(m, "the federation list in force has expired") for m in listed]
        out["expired"] = expired
    return out


def listed(node: Node) -> set[str]:
    """The org ids of the list in force."""
    with node.uow(read_only=True) as uow:
        return set(uow.session.scalars(select(FederationMember.org_id)))


def _list_only(node: Node) -> list[str]:
    with node.uow(read_only=True) as uow:
        return list(
            uow.session.scalars(select(Partner.org_id).where(Partner.source == "federation").order_by(Partner.org_id))
        )


# --- the refresher -----------------------------------------------------------------------


class Refresher(threading.Thread):
    """One per worker; rounds every ``refresh_seconds`` (jittered), one fetch per node per round."""

    def __init__(self, node: Node) -> None:
        super().__init__(name="federation-refresher", daemon=True)
        self.node = node
        self.stopping = threading.Event()

    def run(self) -> None:
        interval = self.node.config.federation.refresh_seconds
        while not self.stopping.wait(interval * random.uniform(0.5, 1.0)):  # noqa: S311 - jitter, not a secret
            try:
                refresh(self.node, claim=True)
            except Exception:  # the refresher must outlive a store outage
                log.exception("federation: refresh round failed; the list in force stays")

    def stop(self) -> None:
        self.stopping.set()
