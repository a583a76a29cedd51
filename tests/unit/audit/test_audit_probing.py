"""Which refused requests make a partner look like it is probing (issue 13, item 14)."""

from __future__ import annotations

from datetime import date

from audit_builders import MOTHER

from audit import chain, events, probing
from audit.events import AuditRecord

PARTNER = "jeugdteam-west"


def refused(
    seq: int,
    at: str,
    code: str = "subject-unknown",
    *,
    peer: str = PARTNER,
    role: str = "partner",
    action: str = events.DISCLOSURE_REFUSED,
) -> chain.StoredEntry:
    record = AuditRecord(
        action=action,
        outcome=events.REFUSED,
        reason_code=code,
        actor_id=f"org:{peer}",
        actor_role=role,
        peer_org=peer,
        subject=MOTHER,
    )
    return chain.StoredEntry(seq, f"e{seq}", at, record, chain.GENESIS, "0" * 64)


def test_more_unknown_subjects_in_a_day_than_the_limit_is_a_probe() -> None:
    entries = [refused(i, f"2026-03-02T09:{i:02d}:00.000Z") for i in range(1, 5)]
    [probe] = probing.probes(entries, unknown_limit=3, refusal_limit=100)
    assert (probe.partner, probe.day, probe.unknown, probe.refusals) == (PARTNER, date(2026, 3, 2), 4, 4)
    assert [e.seq for e in probe.entries] == [1, 2, 3, 4]
    assert probing.probes(entries, unknown_limit=4, refusal_limit=100) == []  # "more than" the limit


def test_many_refusals_of_other_kinds_are_a_probe_too() -> None:
    entries = [refused(i, "2026-03-02T09:00:00.000Z", "category-not-consented") for i in range(1, 7)]
    [probe] = probing.probes(entries, unknown_limit=0, refusal_limit=5)
    assert (probe.unknown, probe.refusals) == (0, 6)


def test_days_are_dutch_calendar_days() -> None:
    # 22:30 UTC on 2 March is 23:30 in Amsterdam (winter time), 23:30 UTC is already 3 March
    entries = [
        refused(1, "2026-03-02T22:30:00.000Z"),
        refused(2, "2026-03-02T22:40:00.000Z"),
        refused(3, "2026-03-02T23:30:00.000Z"),
        refused(4, "2026-03-02T23:40:00.000Z"),
    ]
    found = probing.probes(entries, unknown_limit=1, refusal_limit=100)
    assert [(p.day, p.unknown) for p in found] == [(date(2026, 3, 3), 2), (date(2026, 3, 2), 2)]
    assert probing.probes(entries, unknown_limit=1, refusal_limit=100, since=date(2026, 3, 3))[0].day == date(
        2026, 3, 3
    )


def test_partners_are_counted_apart_and_our_own_failed_requests_do_not_count() -> None:
    entries = [refused(i, "2026-03-02T09:00:00.000Z") for i in range(1, 4)]
    entries += [refused(10 + i, "2026-03-02T09:00:00.000Z", peer="wijkteam-oost") for i in range(2)]
    entries += [
        refused(20 + i, "2026-03-02T09:00:00.000Z", role="professional", action=events.SUMMARY_REQUEST_FAILED)
        for i in range(5)
    ]
    assert [(p.partner, p.unknown) for p in probing.probes(entries, unknown_limit=2, refusal_limit=100)] == [
        (PARTNER, 3)
    ]
