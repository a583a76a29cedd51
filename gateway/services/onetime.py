"""Nothing done twice (issue 20.1): one-time form tokens and API idempotency keys.

A key is claimed by an atomic insert into ``once_keys`` (unique on scope and key), like the
replay guard: the failed insert of a second claim *is* the repeat, across workers and
restarts. The first request then records what it led to (its HTTP status, where its result
is shown, and for the API the response to replay); a repeat is answered from that record,
and a key reused for a different request is refused. Keys live a day
(``KEEP``), as Stripe's and the IETF draft's idempotency keys do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from adapters.store import Duplicate
from adapters.store.models import OnceKey

KEEP = timedelta(days=1)
RUNNING = 0


@dataclass(frozen=True)
class Earlier:
    """What the first request with this key led to (``status`` 0: it is still running)."""

    request_hash: str
    status: int
    location: str
    body: str


def claim(node: Any, scope: str, key: str, request_hash: str) -> Earlier | None:
    """Claim ``key`` in ``scope``; None when this is the first use, else the earlier use."""
    now = node.clock()
    try:
        with node.uow() as uow:
            uow.once_keys.forget_before(now - KEEP)
            uow.once_keys.add(OnceKey(scope=scope, key=key, request_hash=request_hash, created_at=now,
                                      status=RUNNING, location="", body=""))
            uow.commit()
        return None
    except Duplicate:
        pass
    with node.uow(read_only=True) as uow:
        row = uow.once_keys.get(scope, key)
        if row is None:  # the earlier claim failed and was released meanwhile: claim again
            return claim(node, scope, key, request_hash)
        return Earlier(row.request_hash, row.status, row.location, row.body)


def finish(node: Any, scope: str, key: str, status: int, location: str = "", body: str = "") -> None:
    """Record what the first request led to, for its repeats."""
    with node.uow() as uow:
        uow.once_keys.finish(scope, key, status=status, location=location[:512], body=body)
        uow.commit()


def release(node: Any, scope: str, key: str) -> None:
    """Forget a claim whose request failed before doing anything (so it may be tried again)."""
    with node.uow() as uow:
        uow.once_keys.release(scope, key, status=RUNNING)
        uow.commit()
