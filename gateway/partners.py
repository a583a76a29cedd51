"""The partner trust list: pinned keys per partner organisation (contract section 1).

``partner add`` fetches ``URL/.well-known/jwks.json`` once and pins the keys it finds,
refusing when a thumbprint was given and no key matches. Later, a token or assertion
signed with a ``kid`` we have not pinned triggers one re-fetch from the *pinned* URL
(rate-limited per partner), so a partner's key rotation is picked up; keys never come
from a token header (SECURITY.md, "Keys per issuer").
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, KeySet, OKPKey
from sqlalchemy import bindparam, select

from adapters.http import StrictClient
from adapters.store import UnitOfWorkFactory
from adapters.store.models import Partner, PartnerKey
from consent.errors import GatewayError, InvalidRequest, PartnerUnavailable
from gateway.config import ORG_ID

MAX_AWAIT = 5.0  # seconds a request waits for another worker's JWKS fetch of the same partner
_PUBLIC_MEMBERS = {"kty", "crv", "x", "y", "kid", "alg", "use", "key_ops"}


class PartnerKeyMismatch(GatewayError):
    code = "thumbprint-mismatch"
    message_nl = "Geen van de sleutels van de partner heeft de opgegeven vingerafdruk."


def pinned_key(jwk: dict[str, Any]) -> ECKey | OKPKey:
    """Import one public key from a partner JWKS; refuse anything but EC P-256 / Ed25519."""
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


@functools.lru_cache(maxsize=256)
def _key_set(jwks: tuple[str, ...]) -> KeySet:
    """Parse pinned JWKs (as stored) into a KeySet; cached by their exact text, so a key
    pinned or removed in the store changes the argument and is never served stale."""
    return KeySet.import_key_set({"keys": [json.loads(j) for j in jwks]})


def fetch_jwks(http: StrictClient, url: str) -> list[ECKey | OKPKey]:
    reply = http.request("GET", url.rstrip("/") + "/.well-known/jwks.json")
    if reply.status != 200 or not isinstance(reply.body, dict) or not isinstance(reply.body.get("keys"), list):
        raise PartnerUnavailable(f"Geen geldige JWKS op {url} (status {reply.status}).")
    keys = [pinned_key(k) for k in reply.body["keys"]]
    if not keys:
        raise PartnerUnavailable(f"De JWKS op {url} bevat geen sleutels.")
    return keys


def _store_keys(session: Any, org_id: str, keys: list[ECKey | OKPKey], now: datetime) -> int:
    known = set(session.scalars(select(PartnerKey.kid).where(PartnerKey.org_id == org_id)))
    added = 0
    for key in keys:
        if key.thumbprint() not in known:
            jwk = key.as_dict(private=False)
            jwk["kid"] = key.thumbprint()
            session.add(PartnerKey(org_id=org_id, kid=key.thumbprint(), jwk=json.dumps(jwk), added_at=now))
            added += 1
    return added


# built once: constructing a statement cost more than running it
_URL_OF = select(Partner.url).where(Partner.org_id == bindparam("org"))
_PINNED = select(PartnerKey.kid, PartnerKey.jwk).where(PartnerKey.org_id == bindparam("org"))


class PartnerDirectory:
    """Look up and pin partners' keys; store-backed so every worker sees the same list."""

    def __init__(self, uow: UnitOfWorkFactory, http: StrictClient, *, refetch_interval: int = 60,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.uow = uow
        self.http = http
        self.refetch_interval = timedelta(seconds=refetch_interval)
        # the node's clock, so the rate limit runs on the same time as token checks (and tests)
        self.clock = clock or (lambda: datetime.now(UTC))

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
            partner = uow.session.get(Partner, org_id)
            if partner is None:
                uow.session.add(Partner(org_id=org_id, url=url.rstrip("/"), added_at=now, jwks_fetched_at=now))
            else:
                partner.url, partner.jwks_fetched_at = url.rstrip("/"), now
            uow.session.flush()
            _store_keys(uow.session, org_id, keys, now)
            uow.commit()
        return [k.thumbprint() for k in keys]

    def list(self) -> list[tuple[str, str, list[str]]]:
        with self.uow() as uow:
            partners = uow.session.scalars(select(Partner).order_by(Partner.org_id)).all()
            return [(p.org_id, p.url, list(uow.session.scalars(
                select(PartnerKey.kid).where(PartnerKey.org_id == p.org_id)))) for p in partners]

    def remove(self, org_id: str) -> bool:
        """Forget a partner and its pinned keys; False when it was not a partner."""
        with self.uow() as uow:
            partner = uow.session.get(Partner, org_id)
            if partner is None:
                return False
            for key in uow.session.scalars(select(PartnerKey).where(PartnerKey.org_id == org_id)):
                uow.session.delete(key)
            uow.session.delete(partner)
            uow.commit()
        return True

    def url_of(self, org_id: str) -> str | None:
        rows = self.uow.read(_URL_OF, {"org": org_id})
        return rows[0][0] if rows else None

    def is_trusted(self, org_id: str) -> bool:
        return self.url_of(org_id) is not None

    def keys_for(self, org_id: str, kid: str | None = None) -> KeySet | None:
        """Return the pinned keys of ``org_id``; on an unknown ``kid`` re-fetch once (rate-limited).

        When another worker or thread is fetching the partner's JWKS right now, wait for
        that fetch (up to the outbound timeout) instead of refusing a key it is about to pin.
        """
        keys = self._pinned(org_id)
        if not keys and not self.is_trusted(org_id):
            return None
        if kid is not None and kid not in keys:
            outcome = self._refetch(org_id)
            if outcome == "fetched" or (outcome == "in-flight" and self._await(org_id, kid)):
                keys = self._pinned(org_id)
        return _key_set(tuple(sorted(keys.values()))) if keys else None

    def _pinned(self, org_id: str) -> dict[str, str]:
        """The pinned keys, read fresh from the store on every call (a removal or a new pin by
        another worker counts at once); only the parsing of the same JWKs is cached."""
        rows = self.uow.read(_PINNED, {"org": org_id})
        return {kid: jwk for kid, jwk in rows}

    @property
    def _fetch_window(self) -> timedelta:
        return timedelta(seconds=sum(getattr(self.http, "timeout", (3.0, 10.0))))

    def _await(self, org_id: str, kid: str) -> bool:
        """Poll the store for ``kid`` while a fetch claimed by someone else may still run.

        Bounded to a few seconds: anyone can name an unknown kid, so waiting must stay cheap.
        """
        deadline = time.monotonic() + min(self._fetch_window.total_seconds(), MAX_AWAIT)
        while time.monotonic() < deadline:
            if kid in self._pinned(org_id):
                return True
            time.sleep(0.05)
        return False

    def _refetch(self, org_id: str) -> str:
        """Fetch the partner's JWKS if the rate limit allows: fetched, in-flight, limited or failed."""
        now = self.clock()
        with self.uow() as uow:
            partner = uow.session.get(Partner, org_id)
            if partner is None:
                return "failed"
            last = partner.jwks_fetched_at
            if last is not None and last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            if last is not None and now - last < self.refetch_interval:
                # claimed moments ago: that fetch may still be running and bring this kid
                return "in-flight" if now - last < self._fetch_window else "limited"
            partner.jwks_fetched_at = now  # claim the slot first: a failed fetch also waits
            url = partner.url
            uow.commit()
        try:
            keys = fetch_jwks(self.http, url)
        except GatewayError:
            return "failed"
        with self.uow() as uow:
            _store_keys(uow.session, org_id, keys, now)
            uow.commit()
        return "fetched"
