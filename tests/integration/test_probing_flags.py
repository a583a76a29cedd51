"""A privacy officer sees which partners probe for who is in care here: on the flags page and
with ``gateway audit flags`` (issue 13, item 14). Both stores."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from node_builders import gateway
from web_builders import MOTHER, PRIVACY_OFFICER, a_partner, dispose_all, logged_in, web_app

from audit import events
from gateway import config
from gateway.config import ConfigError
from gateway.repositories import audit_log

LIMITS = {"GATEWAY_AUDIT_PROBE_UNKNOWN_PER_DAY": "3", "GATEWAY_AUDIT_PROBE_REFUSALS_PER_DAY": "5"}


@pytest.fixture
def app(home: Any) -> Any:
    application = web_app(home, env=LIMITS)
    a_partner(application, "jeugdteam-west")
    yield application
    dispose_all()


def refusal(app: Any, code: str, peer: str = "jeugdteam-west", times: int = 1) -> None:
    """What the holder writes when it refuses a partner's $behaviour-summary."""
    node = app.extensions["gateway"]
    with node.uow() as uow:
        for _ in range(times):
            audit_log.append(
                uow.session,
                node,
                events.AuditRecord(
                    action=events.DISCLOSURE_REFUSED,
                    outcome=events.REFUSED,
                    actor_id=f"org:{peer}",
                    actor_role="partner",
                    peer_org=peer,
                    reason_code=code,
                    subject=MOTHER,
                ),
            )
        uow.commit()


def test_the_flags_page_names_a_partner_asking_for_many_unknown_people(app: Any) -> None:
    refusal(app, "subject-unknown", times=4)
    refusal(app, "subject-unknown", peer="wijkteam-oost", times=3)  # at the limit: not more than it

    page = logged_in(app, PRIVACY_OFFICER).get("/privacy/signalen").text

    assert "Mogelijk aftasten door jeugdteam-west" in page
    assert "4 keer &#39;persoon hier niet bekend&#39;, 4 weigeringen in totaal" in page
    assert "signaal bij meer dan 3 of 5 per dag" in page
    assert "Mogelijk aftasten door wijkteam-oost" not in page


def test_many_refusals_of_any_kind_are_flagged_as_well(app: Any) -> None:
    refusal(app, "category-not-consented", times=6)

    page = logged_in(app, PRIVACY_OFFICER).get("/privacy/signalen").text

    assert "Mogelijk aftasten door jeugdteam-west" in page and "0 keer" in page and "6 weigeringen" in page


def test_gateway_audit_flags_lists_the_probing_partner_per_day_and_exits_1(
    app: Any, home: Any, monkeypatch: Any
) -> None:
    for key, value in LIMITS.items():
        monkeypatch.setenv(key, value)
    refusal(app, "subject-unknown", times=4)

    run = gateway("audit", "flags", home)
    assert run.code == 1
    [line] = run.out.splitlines()
    day, partner, unknown, refusals = line.split("\t")
    assert (partner, unknown, refusals) == ("jeugdteam-west", "subject-unknown 4", "refusals 4")
    assert date.fromisoformat(day) >= date.today() - timedelta(days=1)
    assert "1 probing flag(s)" in run.err and "more than 3 subject-unknown" in run.err

    later = gateway("audit", "flags", home, "--since", (date.today() + timedelta(days=2)).isoformat())
    assert later.code == 0 and later.out.startswith("no probing flags since")

    monkeypatch.setenv("GATEWAY_AUDIT_PROBE_UNKNOWN_PER_DAY", "10")  # the IT department raises the limit
    assert gateway("audit", "flags", home).code == 0


def test_looking_at_the_flags_is_itself_logged(app: Any, home: Any) -> None:
    gateway("audit", "flags", home)
    node = app.extensions["gateway"]
    with node.uow() as uow:
        last = audit_log.stored(audit_log.entries(uow.session, limit=1)[0]).record
    assert last.action == events.AUDIT_READ and last.detail["view"] == "probing-flags"


def test_bad_input_is_one_line_and_exit_2(home: Any) -> None:
    run = gateway("audit", "flags", home, "--since", "2026-13-45")
    assert run.code == 2 and len(run.err.strip().splitlines()) == 1
    with pytest.raises(ConfigError):
        config.load(home, env={"GATEWAY_AUDIT_PROBE_REFUSALS_PER_DAY": "-1"})
