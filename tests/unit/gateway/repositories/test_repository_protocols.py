"""The repositories keep their promises, the same on the fakes and on SQLite.

Each situation runs twice (``uow`` fixture): if the fake drifts from the real repository,
the use-case tests on fakes stop meaning anything, and one of these fails first.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from adapters.store import Duplicate
from adapters.store.models import FlagReview, LocatorState, OnceKey, Person, Professional, Record, Relation
from gateway.repositories import ports

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def a_person(pid: str, bsn: str, name: str = "", *, minutes: int = 0) -> Person:
    return Person(
        id=pid,
        bsn=bsn,
        birth_date=date(2013, 5, 1),
        resource="{}",
        created_at=T0 + timedelta(minutes=minutes),
        search_name=name.casefold(),
    )


def a_relation(rid: str, child: str, party: str, *, minutes: int = 0) -> Relation:
    return Relation(
        id=rid,
        child_id=child,
        party_key=party,
        kind="parent",
        custody=True,
        resource="",
        created_at=T0 + timedelta(minutes=minutes),
    )


def a_record(rid: str, subject: str, category: str, source_id: str, *, shareable: bool = True) -> Record:
    return Record(
        id=rid,
        subject_id=subject,
        resource_type="Observation",
        category=category,
        shareable=shareable,
        resource="{}",
        source_system="urn:epd",
        source_id=source_id,
        updated_at=T0,
    )


def a_key(scope: str, key: str, *, minutes: int = 0, status: int = 0) -> OnceKey:
    return OnceKey(
        scope=scope,
        key=key,
        request_hash="h",
        created_at=T0 + timedelta(minutes=minutes),
        status=status,
        location="",
        body="",
    )


def test_every_repository_on_a_unit_follows_its_protocol(uow: Any) -> None:
    with uow(read_only=True) as unit:
        for name, protocol in ports.REPOSITORIES.items():
            assert isinstance(getattr(unit, name), protocol), name
    assert isinstance(uow.lookups, ports.Lookups)


def test_a_person_registered_without_commit_is_not_there_afterwards(uow: Any) -> None:
    with uow() as unit:
        unit.people.add(a_person("p1", "111222333", "Noor Jansen"))
    with uow(read_only=True) as unit:
        assert unit.people.by_bsn("111222333") is None
    with uow() as unit:
        unit.people.add(a_person("p1", "111222333", "Noor Jansen"))
        unit.commit()
    with uow(read_only=True) as unit:
        assert unit.people.by_bsn("111222333").id == "p1"
        assert unit.people.get("p1").bsn == "111222333"
        assert unit.people.get("nobody") is None


def test_a_second_registration_of_the_same_bsn_is_a_duplicate(uow: Any) -> None:
    with uow() as unit:
        unit.people.add(a_person("p1", "111222333"))
        unit.commit()
    with pytest.raises(Duplicate), uow() as unit:
        unit.people.add(a_person("p2", "111222333"))
        unit.commit()


def test_a_rolled_back_unit_may_go_on_and_write_something_else(uow: Any) -> None:
    with uow() as unit:
        unit.people.add(a_person("p1", "111222333"))
        unit.rollback()
        unit.people.add(a_person("p2", "444555666"))
        unit.commit()
    with uow(read_only=True) as unit:
        assert unit.people.get("p1") is None and unit.people.get("p2") is not None


def test_the_name_search_wants_every_word_oldest_first_and_treats_percent_as_a_letter(uow: Any) -> None:
    with uow() as unit:
        unit.people.add(a_person("p2", "222222222", "Sanne Jansen", minutes=2))
        unit.people.add(a_person("p1", "111111111", "Noor Jansen", minutes=1))
        unit.people.add(a_person("p3", "333333333", "Noor de Boer", minutes=3))
        unit.commit()
    with uow(read_only=True) as unit:
        assert [p.id for p in unit.people.named(["jansen"], 25)] == ["p1", "p2"]
        assert [p.id for p in unit.people.named(["noor", "jansen"], 25)] == ["p1"]
        assert [p.id for p in unit.people.named(["jansen"], 1)] == ["p1"]
        assert unit.people.named(["%"], 25) == []


def test_a_childs_relations_come_in_the_order_they_were_recorded(uow: Any) -> None:
    with uow() as unit:
        unit.people.add(a_person("kid", "111111111"))
        unit.relations.add(a_relation("r2", "kid", "bsn:222222222", minutes=2))
        unit.relations.add(a_relation("r1", "kid", "bsn:333333333", minutes=1))
        unit.commit()
    with uow() as unit:
        assert [r.id for r in unit.relations.of_child("kid")] == ["r1", "r2"]
        assert [r.id for r in unit.relations.of_party("bsn:222222222")] == ["r2"]
        assert unit.relations.between("kid", "bsn:333333333").id == "r1"
        assert unit.relations.between("kid", "bsn:999999999") is None
        unit.relations.delete(unit.relations.get("r1"))
        unit.commit()
    with uow(read_only=True) as unit:
        assert [r.id for r in unit.relations.of_child("kid")] == ["r2"]


def test_the_same_party_twice_for_one_child_is_a_duplicate(uow: Any) -> None:
    with uow() as unit:
        unit.people.add(a_person("kid", "111111111"))
        unit.relations.add(a_relation("r1", "kid", "bsn:222222222"))
        unit.commit()
    with pytest.raises(Duplicate), uow() as unit:
        unit.relations.add(a_relation("r2", "kid", "bsn:222222222"))
        unit.commit()


def test_records_are_found_by_source_and_category_and_a_source_id_belongs_to_one_record(uow: Any) -> None:
    with uow() as unit:
        unit.people.add(a_person("p1", "111111111"))
        unit.records.add(a_record("a", "p1", "signals", "epd-1"))
        unit.records.add(a_record("b", "p1", "safety-plan", "epd-2", shareable=False))
        unit.commit()
    with uow(read_only=True) as unit:
        assert unit.records.by_source("urn:epd", "epd-2").id == "b"
        assert unit.records.by_source("urn:other", "epd-2") is None
        assert [r.id for r in unit.records.of_subject("p1", {"signals"})] == ["a"]
        assert unit.records.shareable_categories("p1") == {"signals"}
    with pytest.raises(Duplicate), uow() as unit:
        unit.records.add(a_record("c", "p1", "signals", "epd-1"))
        unit.commit()


def test_a_once_key_is_claimed_once_finished_and_released_only_while_running(uow: Any) -> None:
    with uow() as unit:
        unit.once_keys.add(a_key("form", "k1"))
        unit.once_keys.add(a_key("form", "k2"))
        unit.commit()
    with pytest.raises(Duplicate), uow() as unit:
        unit.once_keys.add(a_key("form", "k1"))
        unit.commit()
    with uow() as unit:
        unit.once_keys.finish("form", "k1", status=303, location="/clienten/p1", body="")
        unit.once_keys.release("form", "k1", status=0)  # it finished: stays
        unit.once_keys.release("form", "k2", status=0)  # still running: goes
        unit.commit()
    with uow(read_only=True) as unit:
        assert (unit.once_keys.get("form", "k1").status, unit.once_keys.get("form", "k1").location) == (
            303,
            "/clienten/p1",
        )
        assert unit.once_keys.get("form", "k2") is None


def test_old_once_keys_are_forgotten_in_their_own_scope_only(uow: Any) -> None:
    with uow() as unit:
        unit.once_keys.add(a_key("kept-form", "old"))
        unit.once_keys.add(a_key("form", "old"))
        unit.once_keys.add(a_key("kept-form", "new", minutes=90))
        unit.commit()
    with uow() as unit:
        unit.once_keys.forget_before(T0 + timedelta(minutes=60), scope="kept-form")
        unit.commit()
    with uow(read_only=True) as unit:
        assert unit.once_keys.get("kept-form", "old") is None
        assert unit.once_keys.get("form", "old") is not None
        assert unit.once_keys.get("kept-form", "new") is not None


def test_an_ended_session_stays_ended_until_it_would_have_expired(uow: Any) -> None:
    with uow() as unit:
        unit.ended_sessions.end("s-old", T0)
        unit.ended_sessions.end("s-new", T0 + timedelta(hours=8))
        unit.commit()
    with uow() as unit:
        unit.ended_sessions.forget_expired(T0 + timedelta(hours=1))
        unit.commit()
    with uow(read_only=True) as unit:
        assert not unit.ended_sessions.is_ended("s-old")
        assert unit.ended_sessions.is_ended("s-new")
        assert not unit.ended_sessions.is_ended("never-seen")
    assert uow.lookups.session_ended("s-new") and not uow.lookups.session_ended("s-old")


def test_a_flag_is_marked_handled_once(uow: Any) -> None:
    with uow() as unit:
        unit.flags.add(FlagReview(event_id="e1", handled_by="uzi:1", handled_at=T0, note="gebeld"))
        unit.commit()
    with pytest.raises(Duplicate), uow() as unit:
        unit.flags.add(FlagReview(event_id="e1", handled_by="uzi:2", handled_at=T0, note=""))
        unit.commit()
    with uow(read_only=True) as unit:
        assert {k: v.handled_by for k, v in unit.flags.of(["e1", "e2"]).items()} == {"e1": "uzi:1"}
        assert unit.flags.of([]) == {}


def test_professionals_are_named_by_their_last_login(uow: Any) -> None:
    with uow() as unit:
        unit.professionals.add(Professional(actor_id="uzi:1", name="Anna de Vries", seen_at=T0))
        unit.commit()
    with uow() as unit:
        unit.professionals.get("uzi:1").name = "Anna de Vries-Bakker"
        unit.commit()
    with uow(read_only=True) as unit:
        assert unit.professionals.names({"uzi:1", "uzi:2"}) == {"uzi:1": "Anna de Vries-Bakker"}


def test_a_partners_calls_are_counted_per_window(uow: Any) -> None:
    with uow() as unit:
        assert [unit.locator.count_call("jeugdteam-west", 60) for _ in range(3)] == [1, 2, 3]
        assert unit.locator.count_call("jeugdteam-west", 120) == 1
        assert unit.locator.count_call("huisarts-oost", 120) == 1
        unit.commit()


def test_the_locator_state_is_one_row_whose_generation_grows(uow: Any) -> None:
    def fresh() -> LocatorState:
        return LocatorState(id=1, master_id="m1", master_key="a2V5", master_created_at=T0, generation=0)

    with uow() as unit:
        if unit.locator.state() is None:  # the migrations may have made it
            unit.locator.bump(fresh)
        before = unit.locator.state().generation
        unit.locator.bump(fresh)
        unit.commit()
    with uow(read_only=True) as unit:
        assert unit.locator.state().generation == before + 1
    with pytest.raises(Duplicate), uow() as unit:
        unit.locator.add_state(fresh())
        unit.commit()


def test_a_read_only_unit_cannot_commit(uow: Any) -> None:
    with uow(read_only=True) as unit, pytest.raises(RuntimeError):
        unit.commit()
