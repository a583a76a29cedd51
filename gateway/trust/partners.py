"""The partner trust list: pinned keys per partner organisation (contract section 1).

``partner add`` fetches ``URL/.well-known/jwks.json`` once and pins the keys it finds,
refusing when a thumbprint was given and no key matches. Later, a token or assertion
signed with a ``kid`` we have not pinned triggers one re-fetch from the *pinned* URL
(rate-limited per partner), so a partner's key rotation is picked up; keys never come
from a token header (SECURITY.md, "Keys per issuer").

A re-fetch mirrors the partner's JWKS: keys it no longer publishes (a retired key past its
window, a key withdrawn after a compromise) are unpinned, and every change is audited. A
partner that never rotates again is still re-read when its pinned keys are older than
``max_age`` (on the next use of one of them), so a withdrawn key stops being trusted within
that time. When that routine re-read fails, the pinned keys stay in use.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey
from sqlalchemy import CursorResult, bindparam, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.http import ResponseNotJson, ResponseTooLarge, StrictClient
from adapters.store import UnitOfWorkFactory
from adapters.store.models import FederationMember, Partner, PartnerKey
from contract.errors import GatewayError, InvalidRequest, PartnerUnavailable
from gateway.config import ORG_ID

MAX_JWKS_BYTES = 64_000  # a JWKS of a few keys is about 1 KB; more is no JWKS we pin
MAX_AWAIT = 5.0  # seconds a request waits for another worker's JWKS fetch of the same partner
_PUBLIC_MEMBERS = {"kty", "crv", "x", "y", "kid", "alg", "use", "key_ops"}


class PartnerKeyMismatch(GatewayError):
    code = "thumbprint-mismatch"
    message_nl = "Geen van de sleutels van de partner heeft de opgegeven vingerafdruk."


class BadJwks(InvalidRequest):
    """A partner's JWKS is empty, not JSON, too large, or holds a key that cannot be used.

    ``invalid-request``: bad input, so ``gateway partner add`` exits 2 with one line; at run
    time a re-fetch that meets it pins nothing, and the token it was fetched for stays
    unverifiable (``bad-signature``).
    """


def pinned_key(jwk: dict[str, Any]) -> ECKey | OKPKey:
    """Import one public key from a partner JWKS; refuse anything but EC P-256 / Ed25519.

    A point that is not on its curve, a coordinate that is not base64url or of the wrong
    length, a member of the wrong type: ``BadJwks``, never the library's own exception.
    """
    try:
        return _pinned_key(jwk)
    except InvalidRequest:
        raise
    except (ValueError, TypeError, KeyError, JoseError) as exc:
        raise BadJwks(
            f"partner key {_kid_of(jwk)} is not a valid {_kty_of(jwk)} public key "
            "(malformed, or its point is not on the curve)"
        ) from exc


def _kid_of(jwk: Any) -> str:
    kid = jwk.get("kid") if isinstance(jwk, dict) else None
    return repr(kid[:64]) if isinstance(kid, str) else "(no kid)"


def _kty_of(jwk: Any) -> str:
    kty = jwk.get("kty") if isinstance(jwk, dict) else None
    crv = jwk.get("crv") if isinstance(jwk, dict) else None
    return f"{kty}/{crv}" if isinstance(kty, str) and isinstance(crv, str) else "JWK"


def _pinned_key(jwk: dict[str, Any]) -> ECKey | OKPKey:
    if not isinstance(jwk, dict):
        raise InvalidRequest("JWKS-sleutel is geen object.")
    if {"d", "p", "q", "k"} & set(jwk):
        raise InvalidRequest("De JWKS van de partner bevat een privé-sleutel; geweigerd.")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    clean = {k: v for k, v in jwk.items() if k in _PUBLIC_MEMBERS}
    if kty == "EC" and crv == "P-256":
        key: ECKey | OKPKey = ECKey.import_key({k: v for k, v in clean.items() if k in ("kty", "crv", "x", "y")})
    elif kty == "OKP" and crv == "Ed25519":
        key = OKPKey.import_key({k: v for k, v in clean.items() if k in ("kty", "crv", "x")})
    else:
        raise InvalidRequest(f"Sleuteltype {kty}/{crv} is niet toegestaan (alleen EC P-256 of Ed25519).")
    if "kid" in jwk and jwk["kid"] != key.thumbprint():
        raise InvalidRequest("kid van de partner-sleutel is niet de RFC 7638-vingerafdruk.")
    return key


def conflict(listed_url: str, listed: frozenset[str] | None, url: str, keys: list[ECKey | OKPKey]) -> str:
    """Why a bilateral partner and a federation member of one org id cannot both be trusted
    ("" when they agree): another URL, or a key the list does not name (contract section 7)."""
    if listed is None:
        return ""
    if listed_url.rstrip("/") != url.rstrip("/"):
        return f"conflict: partner add names {url.rstrip('/')}, the federation list {listed_url.rstrip('/')}"
    unlisted = sorted({k.thumbprint() for k in keys} - listed)
    if unlisted:
        return f"conflict: key {unlisted[0]} pinned by partner add is not in the federation list"
    return ""


@functools.lru_cache(maxsize=256)
def _key_set(jwks: tuple[str, ...]) -> KeySet:
    """Parse pinned JWKs (as stored) into a KeySet; cached by their exact text, so a key
    pinned or removed in the store changes the argument and is never served stale."""
    return KeySet.import_key_set({"keys": [json.loads(j) for j in jwks]})


def fetch_jwks(http: StrictClient, url: str) -> list[ECKey | OKPKey]:
    """Fetch and import a partner's JWKS; every key must be usable, or none is pinned.

    Raises ``PartnerUnavailable`` when the JWKS cannot be fetched (unreachable, not 200),
    and ``BadJwks`` when what it answers is no JWKS we pin: empty, not JSON, over
    ``MAX_JWKS_BYTES``, without keys, or with a key that is malformed or off its curve.
    """
    where = url.rstrip("/") + "/.well-known/jwks.json"
    try:
        reply = http.request("GET", where, max_bytes=MAX_JWKS_BYTES)
    except ResponseTooLarge:
        raise BadJwks(f"the JWKS at {where} is larger than {MAX_JWKS_BYTES} bytes") from None
    except ResponseNotJson:
        raise BadJwks(f"the JWKS at {where} is not strict JSON") from None
    if reply.status != 200:
        raise PartnerUnavailable(f"Geen geldige JWKS op {url} (status {reply.status}).")
    if reply.body is None:
        raise BadJwks(f"the JWKS at {where} is empty")
    if not isinstance(reply.body, dict) or not isinstance(reply.body.get("keys"), list):
        raise BadJwks(f"the answer at {where} is no JWKS (an object with a 'keys' list)")
    keys = [pinned_key(k) for k in reply.body["keys"]]
    if not keys:
        raise BadJwks(f"the JWKS at {where} holds no keys")
    return keys


def _sync_keys(
    session: Any, org_id: str, keys: list[ECKey | OKPKey], now: datetime, allowed: frozenset[str] | None = None
) -> tuple[list[str], list[str]]:
    """Pin exactly ``keys`` (the partner's JWKS): add the new ones, unpin the ones it no longer
    publishes. Return (added, removed) kids. A key another worker pins in the same moment is no
    error (ON CONFLICT DO NOTHING). With ``allowed`` (a federation member: the thumbprints the
    list names, contract section 7) only those of its keys are pinned."""
    known = set(session.scalars(select(PartnerKey.kid).where(PartnerKey.org_id == org_id)))
    published = {key.thumbprint(): key for key in keys}
    if allowed is not None:
        published = {kid: key for kid, key in published.items() if kid in allowed}
    rows: list[dict[str, Any]] = []
    for kid, key in published.items():
        if kid not in known:
            jwk = key.as_dict(private=False)
            jwk["kid"] = kid
            rows.append({"org_id": org_id, "kid": kid, "jwk": json.dumps(jwk), "added_at": now})
    if rows:
        dialect = session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        session.execute(insert(PartnerKey.__table__).on_conflict_do_nothing(index_elements=["org_id", "kid"]), rows)
    withdrawn = sorted(known - set(published))
    if withdrawn:
        session.execute(delete(PartnerKey.__table__).where(PartnerKey.org_id == org_id, PartnerKey.kid.in_(withdrawn)))
    return sorted(r["kid"] for r in rows), withdrawn


# Built once (constructing a statement cost more than running it): a partner's URL and
# pinned keys in one statement (no partner row: no rows; no keys: one row with NULLs), with
# the time of the last JWKS fetch.
# A partner refused for a conflict, or trusted only through a federation list that is past
# its valid-until (``trusted_until``), has no entry: it is unknown from that moment, in every
# worker, whether or not a refresher ran (contract section 7).
_PARTNER = (
    select(Partner.url, Partner.jwks_fetched_at, PartnerKey.kid, PartnerKey.jwk)
    .outerjoin(PartnerKey, PartnerKey.org_id == Partner.org_id)
    .where(
        Partner.org_id == bindparam("org"),
        Partner.refused == "",
        or_(Partner.trusted_until.is_(None), Partner.trusted_until > bindparam("now")),
    )
)


def _as_utc(moment: datetime | None) -> datetime | None:
    """A stored fetch time as an aware UTC datetime (SQLite keeps no offset; it was UTC)."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


class _Entry(NamedTuple):
    url: str
    fetched_at: datetime | None  # the last JWKS fetch (or attempt), UTC
    keys: dict[str, str]  # kid -> JWK text


_CLAIM = (
    update(Partner.__table__)
    .where(
        Partner.org_id == bindparam("org"),
        or_(Partner.jwks_fetched_at.is_(None), Partner.jwks_fetched_at <= bindparam("due")),
    )
    .values(jwks_fetched_at=bindparam("now"))
)
_FETCHED = select(Partner.url, Partner.jwks_fetched_at, Partner.allowed_kids).where(Partner.org_id == bindparam("org"))


def allowed_of(text: str | None) -> frozenset[str] | None:
    """The stored ``allowed_kids`` (JSON list) as a set; None: no restriction (bilateral)."""
    return None if text is None else frozenset(json.loads(text))


# What one request has read of the directory: org id -> an _Entry, or None outside
# a request. An exchange asks about the same partner three or four times (is the caller
# trusted, where does it live, which keys does it sign with); the store answers once per
# request, and every request still reads it fresh, so a removal counts from the next one.
_SEEN: ContextVar[dict[str, _Entry | None] | None] = ContextVar("partners_seen", default=None)


@contextmanager
def one_view_per_request() -> Iterator[None]:
    """Within this block each partner is read from the store at most once (a WSGI request)."""
    token = _SEEN.set({})
    try:
        yield
    finally:
        _SEEN.reset(token)


#: called inside the unit of work that changed a partner's pinned keys: (session, org id,
#: added kids, removed kids); the node audits it there, so the change and its audit commit together
KeysChanged = Callable[[Any, str, list[str], list[str]], None]


class PartnerDirectory:
    """Look up and pin partners' keys; store-backed so every worker sees the same list."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        http: StrictClient,
        *,
        refetch_interval: int = 60,
        max_age: int = 86_400,
        clock: Callable[[], datetime] | None = None,
        on_keys_changed: KeysChanged | None = None,
    ) -> None:
        self.uow = uow
        self.http = http
        self.refetch_interval = timedelta(seconds=refetch_interval)
        self.max_age = timedelta(seconds=max_age)
        # the node's clock, so the rate limit runs on the same time as token checks (and tests)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.on_keys_changed = on_keys_changed

    def add(self, org_id: str, url: str, thumbprint: str | None = None) -> list[str]:
        """Fetch, check and pin a partner's keys; return the pinned kids.

        Raises InvalidRequest for an org id no node could have (``config.ORG_ID``),
        PartnerUnavailable when the JWKS cannot be fetched, PartnerKeyMismatch when
        ``thumbprint`` matches none of its keys; nothing is pinned then.
        """
        if not isinstance(org_id, str) or not ORG_ID.fullmatch(org_id):
            raise InvalidRequest(f"org id {org_id!r}: use 2-63 chars a-z 0-9 . -")
        keys = fetch_jwks(self.http, url)
        if thumbprint and thumbprint not in {k.thumbprint() for k in keys}:
            raise PartnerKeyMismatch(f"no key of {url} has thumbprint {thumbprint}")
        now = self.clock()
        with self.uow() as uow:
            thumbprints = [k.thumbprint() for k in keys]
            other = uow.session.scalar(
                select(PartnerKey.org_id).where(PartnerKey.kid.in_(thumbprints), PartnerKey.org_id != org_id)
            )
            if other is not None:
                # one key, two organisations: one of them would sign as the other (issue 20.13)
                raise PartnerKeyMismatch(
                    f"a key at {url} is pinned for partner {other} already; one key cannot speak for two organisations"
                )
            partner = uow.session.get(Partner, org_id)
            if partner is None:  # its keys are audited with the partner-added entry
                uow.session.add(
                    Partner(
                        org_id=org_id,
                        url=url.rstrip("/"),
                        added_at=now,
                        jwks_fetched_at=now,
                        source="bilateral",
                        refused="",
                    )
                )
                uow.session.flush()
                _sync_keys(uow.session, org_id, keys, now)
            else:
                allowed = allowed_of(partner.allowed_kids)
                listed = uow.session.get(FederationMember, org_id)
                if listed is not None:
                    # listed too (issue 15): another URL or an unlisted key refuses both
                    partner.source = "both"
                    partner.refused = conflict(listed.url, frozenset(json.loads(listed.thumbprints)), url, keys)
                partner.url, partner.jwks_fetched_at = url.rstrip("/"), now
                uow.session.flush()
                self._synced(uow.session, org_id, keys, now, allowed)
            uow.commit()
        return [k.thumbprint() for k in keys]

    def _synced(
        self,
        session: Any,
        org_id: str,
        keys: list[ECKey | OKPKey],
        now: datetime,
        allowed: frozenset[str] | None = None,
    ) -> None:
        added, removed = _sync_keys(session, org_id, keys, now, allowed)
        if (added or removed) and self.on_keys_changed is not None:
            self.on_keys_changed(session, org_id, added, removed)

    def list(self) -> list[tuple[str, str, list[str]]]:
        with self.uow() as uow:
            partners = uow.session.scalars(select(Partner).order_by(Partner.org_id)).all()
            return [
                (
                    p.org_id,
                    p.url,
                    list(uow.session.scalars(select(PartnerKey.kid).where(PartnerKey.org_id == p.org_id))),
                )
                for p in partners
            ]

    def remove(self, org_id: str) -> bool:
        """Forget a partner and its pinned keys; False when it was not a partner."""
        with self.uow() as uow:
            # Core deletes, keys first. The ORM deleted the partner row first, the foreign key's
            # cascade took the keys, and the ORM's own key deletes then matched nothing (warning)
            uow.session.execute(delete(PartnerKey.__table__).where(PartnerKey.org_id == org_id))
            # a DML statement's result is a CursorResult (Session.execute is typed as Result)
            removed = cast(
                CursorResult[Any], uow.session.execute(delete(Partner.__table__).where(Partner.org_id == org_id))
            ).rowcount
            uow.commit()
        return bool(removed)

    def _entry(self, org_id: str, *, fresh: bool = False) -> _Entry | None:
        """The partner's URL and pinned keys, from the store (once per request, see ``_SEEN``)."""
        seen = _SEEN.get()
        if seen is not None and not fresh and org_id in seen:
            return seen[org_id]
        rows = self.uow.read(_PARTNER, {"org": org_id, "now": self.clock()})
        entry = None
        if rows:
            entry = _Entry(rows[0][0], _as_utc(rows[0][1]), {kid: jwk for _u, _f, kid, jwk in rows if kid is not None})
        if seen is not None:
            seen[org_id] = entry
        return entry

    def url_of(self, org_id: str) -> str | None:
        entry = self._entry(org_id)
        return entry.url if entry else None

    def is_trusted(self, org_id: str) -> bool:
        return self.url_of(org_id) is not None

    def keys_for(self, org_id: str, kid: str | None = None) -> KeySet | None:
        """Return the pinned keys of ``org_id``; on an unknown ``kid`` re-fetch once (rate-limited).

        When another worker or thread is fetching the partner's JWKS right now, wait for
        that fetch (up to the outbound timeout) instead of refusing a key it is about to pin.
        Pinned keys older than ``max_age`` are re-read first (rate-limited too), so a key the
        partner withdrew is not served; if that re-read fails, the pinned keys are used.
        """
        entry = self._entry(org_id)
        if entry is None:
            return None
        keys = entry.keys
        if kid is not None and kid not in keys:
            outcome = self._refetch(org_id)
            if outcome == "fetched" or (outcome == "in-flight" and self._await(org_id, kid)):
                keys = self.pinned(org_id)
        elif (entry.fetched_at is None or self.clock() - entry.fetched_at >= self.max_age) and self._refetch(
            org_id
        ) == "fetched":
            keys = self.pinned(org_id)
        return _key_set(tuple(sorted(keys.values()))) if keys else None

    def pinned(self, org_id: str) -> dict[str, str]:
        """The pinned keys read fresh from the store (after a re-fetch, here or by another
        worker); only the parsing of the same JWKs is cached."""
        entry = self._entry(org_id, fresh=True)
        return entry.keys if entry else {}

    @property
    def _fetch_window(self) -> timedelta:
        return timedelta(seconds=sum(getattr(self.http, "timeout", (3.0, 10.0))))

    def _await(self, org_id: str, kid: str) -> bool:
        """Poll the store for ``kid`` while a fetch claimed by someone else may still run.

        Bounded to a few seconds: anyone can name an unknown kid, so waiting must stay cheap.
        """
        deadline = time.monotonic() + min(self._fetch_window.total_seconds(), MAX_AWAIT)
        while time.monotonic() < deadline:
            if kid in self.pinned(org_id):
                return True
            time.sleep(0.05)
        return False

    def _refetch(self, org_id: str) -> str:
        """Fetch the partner's JWKS if the rate limit allows: fetched, in-flight, limited or failed."""
        now = self.clock()
        with self.uow() as uow:
            # Claim the slot first (a failed fetch also waits), in one conditional UPDATE: on
            # PostgreSQL a second worker's UPDATE waits for the first one's row lock and then
            # finds the slot taken, where a read-then-write let both fetch and pin the same key.
            # an UPDATE's result is a CursorResult (Session.execute is typed as Result)
            claimed = cast(
                CursorResult[Any],
                uow.session.execute(_CLAIM, {"org": org_id, "now": now, "due": now - self.refetch_interval}),
            )
            row = uow.session.execute(_FETCHED, {"org": org_id}).first()
            if row is None:
                return "failed"
            url, last, allowed = row[0], _as_utc(row[1]), allowed_of(row[2])
            if claimed.rowcount != 1:
                # claimed moments ago: that fetch may still be running and bring this kid
                return "in-flight" if last is not None and now - last < self._fetch_window else "limited"
            uow.commit()
        try:
            keys = fetch_jwks(self.http, url)
        except GatewayError:
            return "failed"
        with self.uow() as uow:
            self._synced(uow.session, org_id, keys, now, allowed)
            uow.commit()
        return "fetched"
