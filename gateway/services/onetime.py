"""Nothing done twice (issue 20.1): one-time form tokens and API idempotency keys.

A key is claimed by an atomic insert into ``once_keys`` (unique on scope and key), like the
replay guard: the failed insert of a second claim *is* the repeat, across workers and
restarts. The first request then records what it led to (its HTTP status, where its result
is shown, and for the API the response to replay); a repeat is answered from that record,
and a key reused for a different request is refused. Keys live a day
(``KEEP``), as Stripe's and the IETF draft's idempotency keys do.

The same table keeps a form typed just as the session ended (``keep_form``), for an hour,
under a random key only that browser's cookie names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from adapters.store import Duplicate
from adapters.store.models import OnceKey

if TYPE_CHECKING:  # the composition root imports the use cases
    from gateway.node import Node

KEEP = timedelta(days=1)
RUNNING = 0


@dataclass(frozen=True)
class Earlier:
    """What the first request with this key led to (``status`` 0: it is still running)."""

    request_hash: str
    status: int
    location: str
    body: str


def claim(node: Node, scope: str, key: str, request_hash: str) -> Earlier | None:
    """Claim ``key`` in ``scope``; None when this is the first use, else the earlier use."""
    now = node.clock()
    try:
        with node.uow() as uow:
            uow.once_keys.forget_before(now - KEEP)
            uow.once_keys.add(
                OnceKey(
                    scope=scope,
                    key=key,
                    request_hash=request_hash,
                    created_at=now,
                    status=RUNNING,
                    location="",
                    body="",
                )
            )
            uow.commit()
        return None
    except Duplicate:
        pass
    with node.uow(read_only=True) as uow:
        row = uow.once_keys.get(scope, key)
        if row is None:  # the earlier claim failed and was released meanwhile: claim again
            return claim(node, scope, key, request_hash)
        return Earlier(row.request_hash, row.status, row.location, row.body)


def finish(node: Node, scope: str, key: str, status: int, location: str = "", body: str = "") -> None:
    """Record what the first request led to, for its repeats."""
    with node.uow() as uow:
        uow.once_keys.finish(scope, key, status=status, location=location[:512], body=body)
        uow.commit()


def release(node: Node, scope: str, key: str) -> None:
    """Forget a claim whose request failed before doing anything (so it may be tried again)."""
    with node.uow() as uow:
        uow.once_keys.release(scope, key, status=RUNNING)
        uow.commit()


# --- forms kept over a login (issue 20.5, gateway.web.keep_typed) ----------------------------

KEPT_FORM = "kept-form"  # the scope of a kept form's row: its key is the random name the cookie holds
KEEP_FORM = timedelta(minutes=60)


def _fresh(row: OnceKey, now: datetime) -> bool:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)  # SQLite: naive UTC
    return created >= now - KEEP_FORM


def keep_form(node: Node, key: str, path: str, fields: dict[str, list[str]]) -> None:
    """Keep the ``fields`` typed into the form at ``path`` under ``key``; forget forms kept
    longer than ``KEEP_FORM`` meanwhile."""
    now = node.clock()
    with node.uow() as uow:
        uow.once_keys.forget_before(now - KEEP_FORM, scope=KEPT_FORM)
        uow.once_keys.add(
            OnceKey(
                scope=KEPT_FORM,
                key=key,
                request_hash="",
                created_at=now,
                status=RUNNING,
                location=path[:512],
                body=json.dumps(fields, ensure_ascii=False),
            )
        )
        uow.commit()


def kept_form_path(node: Node, key: str) -> str | None:
    """The path of the form kept under ``key``, while it is kept."""
    with node.uow(read_only=True) as uow:
        row = uow.once_keys.get(KEPT_FORM, key)
    return row.location if row is not None and _fresh(row, node.clock()) else None


def take_form(node: Node, key: str, path: str) -> dict[str, list[str]] | None:
    """The fields kept under ``key`` for the form at ``path``, forgotten as they are given; None
    for another form's key, or one kept too long."""
    with node.uow() as uow:
        row = uow.once_keys.get(KEPT_FORM, key)
        if row is None or row.location != path or not _fresh(row, node.clock()):
            return None
        fields: dict[str, list[str]] = json.loads(row.body)
        uow.once_keys.delete(row)
        uow.commit()
    return fields
