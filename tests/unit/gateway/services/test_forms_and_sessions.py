"""A professional's forms and sessions: a form sent twice, a form typed as the session ran out,
and a session ended by logging out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gateway.services import onetime, sessions


def test_a_one_time_form_token_used_twice_is_answered_with_what_the_first_use_did(node: Any) -> None:
    assert onetime.claim(node, "form:uzi:1", "tok-1", "hash-a") is None
    onetime.finish(node, "form:uzi:1", "tok-1", 303, "/clienten/p1/toestemming")
    earlier = onetime.claim(node, "form:uzi:1", "tok-1", "hash-a")
    assert earlier == onetime.Earlier("hash-a", 303, "/clienten/p1/toestemming", "")


def test_a_second_click_while_the_first_still_runs_sees_it_running(node: Any) -> None:
    onetime.claim(node, "form:uzi:1", "tok-1", "hash-a")
    assert onetime.claim(node, "form:uzi:1", "tok-1", "hash-a").status == onetime.RUNNING


def test_a_form_whose_request_failed_may_be_sent_again(node: Any) -> None:
    onetime.claim(node, "form:uzi:1", "tok-1", "hash-a")
    onetime.release(node, "form:uzi:1", "tok-1")
    assert onetime.claim(node, "form:uzi:1", "tok-1", "hash-a") is None


def test_a_finished_form_is_not_released_by_a_late_failure(node: Any) -> None:
    onetime.claim(node, "form:uzi:1", "tok-1", "hash-a")
    onetime.finish(node, "form:uzi:1", "tok-1", 201, "/x")
    onetime.release(node, "form:uzi:1", "tok-1")
    assert onetime.claim(node, "form:uzi:1", "tok-1", "hash-a").status == 201


def test_the_same_token_of_another_professional_is_a_separate_claim(node: Any) -> None:
    onetime.claim(node, "form:uzi:1", "tok-1", "hash-a")
    assert onetime.claim(node, "form:uzi:2", "tok-1", "hash-b") is None


def test_a_key_is_kept_a_day_then_may_be_used_again(node: Any) -> None:
    onetime.claim(node, "api:epd", "key-1", "hash-a")
    onetime.finish(node, "api:epd", "key-1", 201, "/fhir/Patient/p1", "{}")
    node.clock.move(days=1, minutes=1)
    assert onetime.claim(node, "api:epd", "key-1", "hash-b") is None


def test_a_form_typed_as_the_session_ran_out_is_offered_after_login_and_given_back_once(node: Any) -> None:
    fields = {"purpose": ["joint-safety-planning"], "category": ["signals", "care-team"]}
    onetime.keep_form(node, "k-1", "/clienten/p1/toestemming", fields)
    assert onetime.kept_form_path(node, "k-1") == "/clienten/p1/toestemming"
    assert onetime.take_form(node, "k-1", "/clienten/p2/toestemming") is None  # another client's form
    assert onetime.take_form(node, "k-1", "/clienten/p1/toestemming") == fields
    assert onetime.take_form(node, "k-1", "/clienten/p1/toestemming") is None
    assert onetime.kept_form_path(node, "k-1") is None


def test_a_kept_form_is_forgotten_after_an_hour(node: Any) -> None:
    onetime.keep_form(node, "k-1", "/clienten/p1/samenvatting", {"partner": ["jeugdteam-west"]})
    node.clock.move(minutes=61)
    assert onetime.kept_form_path(node, "k-1") is None
    assert onetime.take_form(node, "k-1", "/clienten/p1/samenvatting") is None
    onetime.keep_form(node, "k-2", "/clienten/p1/samenvatting", {})
    assert ("kept-form", "k-1") not in node.store.once  # the next keep cleared it out


def test_a_session_ended_by_logout_is_refused_until_it_would_have_expired(node: Any) -> None:
    expires = node.clock() + timedelta(hours=8)
    assert not sessions.is_ended(node, "sid-1")
    sessions.end(node, "sid-1", expires)
    assert sessions.is_ended(node, "sid-1")
    node.clock.move(hours=9)
    sessions.end(node, "sid-2", node.clock() + timedelta(hours=8))  # the next logout tidies up
    assert not sessions.is_ended(node, "sid-1") and sessions.is_ended(node, "sid-2")
