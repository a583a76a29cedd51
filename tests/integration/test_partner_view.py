"""An exchange asks about the same partner several times; the store answers once per request.

Is the caller trusted, where does the issuer live, which keys does it sign with: one
request reads the partner's entry once. The next request reads it again, so a partner the
IT department removed is refused from the very next call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc.jwk import ECKey
from sqlalchemy import event

from adapters.store.models import Partner, PartnerKey
from gateway import config
from gateway.app import create_app
from gateway.trust.partners import one_view_per_request


@pytest.fixture
def node(app: Any) -> Any:
    return app.extensions["gateway"]


@pytest.fixture
def partner_reads(node: Any) -> Iterator[list[str]]:
    """The statements that read the partner tables, as the driver receives them."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "partners" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(node.uow.engine, "before_cursor_execute", record)
    yield seen
    event.remove(node.uow.engine, "before_cursor_execute", record)


def pin(node: Any, org_id: str = "jeugdteam-west") -> str:
    key = ECKey.generate_key("P-256", private=True)
    jwk = dict(key.as_dict(private=False), kid=key.thumbprint())
    now = datetime.now(UTC)
    with node.uow() as uow:
        uow.session.add(Partner(org_id=org_id, url="http://127.0.0.1:9", added_at=now, jwks_fetched_at=now))
        uow.session.flush()
        uow.session.add(PartnerKey(org_id=org_id, kid=key.thumbprint(), jwk=json.dumps(jwk), added_at=now))
        uow.commit()
    return key.thumbprint()


def test_one_request_reads_a_partner_once(node: Any, partner_reads: list[str]) -> None:
    kid = pin(node)
    with one_view_per_request():
        assert node.partners.is_trusted("jeugdteam-west")
        assert node.partners.url_of("jeugdteam-west") == "http://127.0.0.1:9"
        keys = node.partners.keys_for("jeugdteam-west", kid)
        assert keys is not None and [k.kid for k in keys.keys] == [kid]
        assert node.partners.url_of("unknown-org") is None
        assert node.partners.keys_for("unknown-org") is None
    assert len(partner_reads) == 2  # jeugdteam-west once, unknown-org once


def test_a_removed_partner_is_refused_from_the_next_request(node: Any) -> None:
    pin(node)
    with one_view_per_request():
        assert node.partners.is_trusted("jeugdteam-west")
    assert node.partners.remove("jeugdteam-west")
    with one_view_per_request():
        assert not node.partners.is_trusted("jeugdteam-west")
        assert node.partners.keys_for("jeugdteam-west") is None


def test_outside_a_request_every_question_goes_to_the_store(node: Any, partner_reads: list[str]) -> None:
    pin(node)
    assert node.partners.is_trusted("jeugdteam-west")
    assert node.partners.is_trusted("jeugdteam-west")
    assert len(partner_reads) == 2


def test_a_partner_without_pinned_keys_is_trusted_but_verifies_nothing(node: Any) -> None:
    pin(node)
    with node.uow() as uow:
        uow.session.query(PartnerKey).delete()
        uow.commit()
    with one_view_per_request():
        assert node.partners.url_of("jeugdteam-west") == "http://127.0.0.1:9"
        assert node.partners.keys_for("jeugdteam-west") is None


def test_the_app_gives_every_request_its_own_view(home: Any) -> None:
    app = create_app(config.load(home))
    node = app.extensions["gateway"]

    @app.get("/test/trusted")
    def trusted() -> dict[str, bool]:
        return {"trusted": node.partners.is_trusted("jeugdteam-west") and node.partners.is_trusted("jeugdteam-west")}

    reads: list[str] = []
    event.listen(
        node.uow.engine,
        "before_cursor_execute",
        lambda _c, _k, statement, *_: reads.append(statement) if statement.startswith("SELECT") else None,
    )
    try:
        pin(node)
        client = app.test_client()
        assert client.get("/test/trusted").json == {"trusted": True}
        assert len([s for s in reads if "FROM partners" in s]) == 1
        node.partners.remove("jeugdteam-west")
        assert client.get("/test/trusted").json == {"trusted": False}
        assert len([s for s in reads if "FROM partners" in s]) == 2
    finally:
        node.uow.engine.dispose()
