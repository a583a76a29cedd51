"""Units of work on both stores: read-only lookups never queue behind a writer, never write."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from adapters.store.models import Partner
from gateway import config
from gateway.node import build


@pytest.fixture
def node(make_home):
    n = build(config.load(make_home("ggz-noord")))
    yield n
    n.uow.engine.dispose()


def _partner(node, org_id: str) -> None:
    with node.uow() as uow:
        uow.session.add(Partner(org_id=org_id, url=f"https://{org_id}.example", added_at=datetime.now(UTC)))
        uow.commit()


def test_a_read_only_unit_cannot_commit_and_leaves_nothing_behind(node) -> None:
    with pytest.raises(RuntimeError), node.uow(read_only=True) as uow:
        uow.session.add(Partner(org_id="sneaky", url="https://x.example", added_at=datetime.now(UTC)))
        uow.commit()
    assert node.partners.url_of("sneaky") is None


def test_what_a_read_only_unit_loaded_stays_readable_after_it_closes(node) -> None:
    _partner(node, "jeugdteam-west")
    with node.uow(read_only=True) as uow:
        partner = uow.session.get(Partner, "jeugdteam-west")
    assert partner.url == "https://jeugdteam-west.example"  # detached, not expired


def test_a_lookup_answers_while_a_writer_holds_its_transaction_open(node) -> None:
    """A partner lookup during a long write (an audit append under load) does not wait for it."""
    _partner(node, "jeugdteam-west")
    inside, release = threading.Event(), threading.Event()

    def writer() -> None:
        with node.uow() as uow:
            uow.session.get(Partner, "jeugdteam-west").url = "https://moved.example"
            uow.session.flush()
            inside.set()
            release.wait(10)
            uow.commit()

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert inside.wait(10)
        # a read that queued for the write lock would wait until the writer let go, which it
        # does only after this read: SQLite's busy timeout, then store-unavailable
        assert node.partners.url_of("jeugdteam-west") == "https://jeugdteam-west.example"
    finally:
        release.set()
        t.join(10)
    assert node.partners.url_of("jeugdteam-west") == "https://moved.example"


def test_writers_take_turns_and_none_is_lost(node) -> None:
    """Eight threads each add partners through their own units: every row arrives."""

    def add(i: int) -> None:
        for j in range(5):
            _partner(node, f"p{i}-{j}")

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(node.partners.list()) == 40
