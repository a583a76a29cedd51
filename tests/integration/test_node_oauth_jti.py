"""The single-use table does not grow forever: expired jti rows are cleared as assertions arrive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from adapters.store.models import UsedJti
from gateway.http import auth
from gateway.http.auth import add_client
from gateway.repositories import audit_log


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


def test_every_token_request_is_audited_as_login_or_failed_login(app, client) -> None:
    secret = add_client(app.extensions["gateway"].uow, "epd", "ehr")
    assert (
        client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("epd", secret)).status_code == 200
    )
    assert client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("epd", "wrong")
    ).status_code in (400, 401)
    with app.extensions["gateway"].uow() as uow:
        seen = [
            (audit_log.stored(e).record.action, e.actor_id, audit_log.stored(e).record.reason_code)
            for e in audit_log.entries(uow.session, action=None)
        ]
    assert ("login", "client:epd", "") in seen
    assert ("login-failed", "client:epd", "invalid_client") in seen
