"""The inbox: summaries pushed to this node (safety disclosures, section 4; consented
pushes, section 9), kept as signed for its professionals to read."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.store.models import Inbox


def keep(
    session: Session,
    *,
    exchange_id: str,
    from_org: str,
    subject: str,
    received_at: datetime,
    bundle: dict[str, Any],
    kind: str,
    legal_ground: str = "",
    purpose: str = "",
    consent_id: str = "",
) -> None:
    """Keep one pushed Bundle exactly as it was signed."""
    session.add(
        Inbox(
            id=uuid.uuid4().hex,
            exchange_id=exchange_id,
            from_org=from_org,
            subject=subject,
            legal_ground=legal_ground,
            received_at=received_at,
            bundle=json.dumps(bundle),
            kind=kind,
            purpose=purpose,
            consent_id=consent_id,
        )
    )


def newest_first(session: Session, subject: str | None = None) -> list[Inbox]:
    """Everything in the inbox, or what concerns one BSN, newest first (ties by id)."""
    q = select(Inbox).order_by(Inbox.received_at.desc(), Inbox.id)
    if subject:
        q = q.where(Inbox.subject == subject)
    return list(session.scalars(q))
