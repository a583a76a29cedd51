"""The single-use table does not grow forever: expired jti rows are cleared as assertions arrive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from adapters.store.models import UsedJti
from gateway import auth


def test_expired_jti_rows_are_cleared_while_fresh_ones_stay(app, monkeypatch) -> None:
    uow = app.extensions["gateway"].uow
    old = datetime.now(UTC) - timedelta(hours=1)
    with uow() as work:
        for i in range(5):
            work.session.add(UsedJti(issuer="jeugdteam-west", jti=f"old-{i}", expires_at=old))
        work.commit()
    monkeypatch.setattr(auth, "PRUNE_ONE_IN", 1)
    fresh = int((datetime.now(UTC) + timedelta(minutes=2)).timestamp())
    assert auth.use_once(uow, "jeugdteam-west", "fresh-1", fresh)
    assert not auth.use_once(uow, "jeugdteam-west", "fresh-1", fresh)  # still single-use
    with uow() as work:
        left = work.session.scalar(select(func.count()).select_from(UsedJti))
    assert left == 1
