"""A partner's pinned keys follow its published JWKS, and every change is audited.

Jeugdteam West rotates and stops publishing a key (its window ended, or it withdrew a key it
fears is compromised). GGZ Noord unpins that key the next time it reads West's JWKS: at once
when West signs with a key GGZ Noord has not seen, and otherwise when the pinned keys are
older than ``partners.jwks_max_age`` and one of them is used. When that routine re-read
fails, the pinned keys stay in use: a JWKS endpoint that is down for a moment must not stop
the exchanges.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc.jwk import ECKey

from adapters.http import Reply
from adapters.store.models import Partner, PartnerKey
from audit import events
from gateway.keys import public_jwk
from gateway.repositories import audit_log
from gateway.trust.partners import PartnerDirectory

WEST = "jeugdteam-west"
DAY = timedelta(days=1)


class WestJwks:
    """West's JWKS endpoint: serves ``keys``, or fails when ``keys`` is None; counts reads."""

    def __init__(self, *keys: ECKey) -> None:
        self.keys: list[ECKey] | None = list(keys)
        self.reads = 0

    def request(self, method: str, url: str, **_: Any) -> Reply:
        self.reads += 1
        if self.keys is None:
            return Reply(503, None, b"")
        return Reply(200, {"keys": [public_jwk(k) for k in self.keys]}, b"")


@pytest.fixture
def node(app: Any) -> Any:
    return app.extensions["gateway"]


def west_pinned(node: Any, *keys: ECKey, fetched: datetime) -> None:
    with node.uow() as uow:
        uow.session.add(Partner(org_id=WEST, url="http://127.0.0.1:9", added_at=fetched, jwks_fetched_at=fetched))
        uow.session.flush()
        for key in keys:
            uow.session.add(
                PartnerKey(org_id=WEST, kid=key.thumbprint(), jwk=json.dumps(public_jwk(key)), added_at=fetched)
            )
        uow.commit()


def directory(node: Any, jwks: WestJwks, now: datetime) -> PartnerDirectory:
    """GGZ Noord's directory as its node builds it (audit hook included), on a fixed clock."""
    return PartnerDirectory(
        node.uow,
        jwks,
        refetch_interval=60,
        max_age=int(DAY.total_seconds()),  # type: ignore[arg-type]
        clock=lambda: now,
        on_keys_changed=node.partners.on_keys_changed,
    )


def kids(keys: Any) -> set[str]:
    return {k.kid for k in keys.keys} if keys is not None else set()


def key_updates(node: Any) -> list[dict[str, Any]]:
    with node.uow(read_only=True) as uow:
        return [json.loads(e.record_json) for e in audit_log.entries(uow.session, action=events.PARTNER_KEYS_UPDATED)]


def test_a_new_kid_brings_the_new_key_and_unpins_the_one_west_withdrew(node: Any) -> None:
    old, new = ECKey.generate_key("P-256", private=True), ECKey.generate_key("P-256", private=True)
    now = datetime.now(UTC)
    west_pinned(node, old, fetched=now - timedelta(hours=1))
    jwks = WestJwks(new)  # West rotated with --withdraw-old

    keys = directory(node, jwks, now).keys_for(WEST, new.thumbprint())

    assert kids(keys) == {new.thumbprint()}
    assert kids(directory(node, jwks, now).keys_for(WEST, old.thumbprint())) == {new.thumbprint()}
    [update] = key_updates(node)
    assert update["peer_org"] == WEST and update["actor_id"] == "system:gateway"
    assert update["detail"] == {"added": [new.thumbprint()], "removed": [old.thumbprint()]}


def test_keys_older_than_their_max_age_are_re_read_at_their_next_use(node: Any) -> None:
    kept, dropped = ECKey.generate_key("P-256", private=True), ECKey.generate_key("P-256", private=True)
    now = datetime.now(UTC)
    west_pinned(node, kept, dropped, fetched=now - DAY - timedelta(seconds=1))
    jwks = WestJwks(kept)  # the retired key's window ended at West

    keys = directory(node, jwks, now).keys_for(WEST, kept.thumbprint())  # a known kid

    assert jwks.reads == 1
    assert kids(keys) == {kept.thumbprint()}
    assert [u["detail"] for u in key_updates(node)] == [{"added": [], "removed": [dropped.thumbprint()]}]
    # read moments ago: the next use does not ask West again
    directory(node, jwks, now + timedelta(minutes=5)).keys_for(WEST, kept.thumbprint())
    assert jwks.reads == 1


def test_fresh_keys_are_used_without_asking_west(node: Any) -> None:
    key = ECKey.generate_key("P-256", private=True)
    now = datetime.now(UTC)
    west_pinned(node, key, fetched=now - DAY + timedelta(minutes=1))
    jwks = WestJwks()

    assert kids(directory(node, jwks, now).keys_for(WEST, key.thumbprint())) == {key.thumbprint()}
    assert jwks.reads == 0 and key_updates(node) == []


def test_when_the_routine_re_read_fails_the_pinned_keys_stay_in_use(node: Any) -> None:
    key = ECKey.generate_key("P-256", private=True)
    now = datetime.now(UTC)
    west_pinned(node, key, fetched=now - 2 * DAY)
    jwks = WestJwks()
    jwks.keys = None  # West's JWKS endpoint answers 503 for a moment

    assert kids(directory(node, jwks, now).keys_for(WEST, key.thumbprint())) == {key.thumbprint()}
    assert jwks.reads == 1 and key_updates(node) == []
    # the failed read counts as the attempt: no request after it asks again within the day
    directory(node, jwks, now + timedelta(minutes=1)).keys_for(WEST, key.thumbprint())
    assert jwks.reads == 1


def test_a_jwks_without_keys_never_unpins_everything(node: Any) -> None:
    key, unknown = ECKey.generate_key("P-256", private=True), ECKey.generate_key("P-256", private=True)
    now = datetime.now(UTC)
    west_pinned(node, key, fetched=now - timedelta(hours=1))
    jwks = WestJwks()  # an empty key list: a broken or hostile endpoint

    assert directory(node, jwks, now).keys_for(WEST, unknown.thumbprint()) is not None
    assert kids(directory(node, jwks, now).keys_for(WEST, key.thumbprint())) == {key.thumbprint()}
    assert key_updates(node) == []
