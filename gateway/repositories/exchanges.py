"""Exchange ids taken once: the atomic single-use insert every exchange role relies on.

A holder answering ``$behaviour-summary``, a requester keeping its receipt, a sender and
a recipient of a push or a safety disclosure each claim ``(exchange id, role, peer)`` in
the ``exchanges`` table; its unique key makes a second claim fail, and that failed insert
*is* the refusal (``replay``), with no check-then-write race between workers (SECURITY.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapters.store.models import Exchange
from contract.errors import Replay

# a Core insert, built once, run on the session's own connection (same transaction): through
# Session.execute it paid the ORM's statement machinery too (issue 19)
_INSERT = insert(Exchange.__table__)


def claim(
    session: Session, role: str, peer: str, exchange_id: str, subject: str, request_hash: str, now: datetime
) -> None:
    """Take ``exchange_id`` for ``role`` once; raise ``Replay`` (rolled back) if it was taken."""
    try:
        session.connection().execute(
            _INSERT,
            {
                "exchange_id": exchange_id,
                "role": role,
                "peer_org": peer,
                "subject": subject,
                "created_at": now,
                "outcome": "pending",
                "request_hash": request_hash,
            },
        )
    except IntegrityError:
        session.rollback()
        raise Replay() from None


def received(
    session: Session, peer: str, exchange_id: str, subject: str, request_hash: str, response_hash: str, now: datetime
) -> None:
    """The requester's receipt of a verified summary: ids and hashes, never the body."""
    session.connection().execute(
        _INSERT,
        {
            "exchange_id": exchange_id,
            "role": "requester",
            "peer_org": peer,
            "subject": subject,
            "created_at": now,
            "outcome": "received",
            "request_hash": request_hash,
            "response_hash": response_hash,
            "consent_id": "",
        },
    )
