"""Builders for the audit tests: a node's log as the store would keep it, with a real key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey

from audit import chain, events
from audit.chain import GENESIS, StoredEntry, VerifyResult
from audit.events import AuditRecord
from audit.signer import make_signer, make_verifier

KEY = ECKey.generate_key("P-256")
SIGN = make_signer(KEY)
VERIFY = make_verifier(KEY)
INTRUDER_KEY = ECKey.generate_key("P-256")
INTRUDER_SIGN = make_signer(INTRUDER_KEY)

HOLDER = "ggz-noord"
REQUESTER = "jeugdzorg-west"
MOTHER = "111222333"
CHILD = "123456782"
NEIGHBOUR = "987654321"
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CONSENT_NOTE = {"consent_discussed": "Besproken met moeder en jeugdige op 1 maart."}


def a_disclosure(subject: str = MOTHER, **overrides: Any) -> AuditRecord:
    """The holder's record of a summary it disclosed to the requester."""
    fields: dict[str, Any] = dict(
        action=events.DISCLOSURE_SENT,
        outcome=events.SUCCESS,
        actor_id="uzi:900012345",
        actor_role="professional",
        actor_org=REQUESTER,
        on_behalf_of=REQUESTER,
        purpose="joint-safety-planning",
        access_point="192.0.2.10",
        subject=subject,
        categories=("signals", "safety-plan"),
        resource_types=("Observation", "CarePlan"),
        count=3,
        consent_id="consent-42",
        legal_ground="consent",
        exchange_id="ex-1",
        peer_org=REQUESTER,
        request_hash="a" * 64,
        response_hash="b" * 64,
        peer_request_hash="c" * 64,
        detail=CONSENT_NOTE,
    )
    fields.update(overrides)
    return AuditRecord(**fields)


def a_receipt(subject: str = MOTHER, **overrides: Any) -> AuditRecord:
    """The requester's record of a verified summary it received from the holder."""
    fields: dict[str, Any] = dict(
        action=events.SUMMARY_RECEIVED,
        outcome=events.SUCCESS,
        actor_id="uzi:900012345",
        actor_role="professional",
        actor_org=REQUESTER,
        on_behalf_of="ehr-west",
        purpose="joint-safety-planning",
        access_point="ehr-west",
        subject=subject,
        categories=("signals",),
        resource_types=("Observation",),
        count=1,
        consent_id="consent-42",
        legal_ground="consent",
        exchange_id="ex-1",
        peer_org=HOLDER,
        request_hash="c" * 64,
        response_hash="d" * 64,
        peer_response_hash="b" * 64,
    )
    fields.update(overrides)
    return AuditRecord(**fields)


def a_refusal(subject: str = MOTHER, **overrides: Any) -> AuditRecord:
    """The holder's record of a request it refused."""
    fields: dict[str, Any] = dict(
        action=events.DISCLOSURE_REFUSED,
        outcome=events.REFUSED,
        actor_id="uzi:900012345",
        actor_role="professional",
        actor_org=REQUESTER,
        purpose="assessment",
        access_point="192.0.2.10",
        subject=subject,
        categories=("parenting",),
        peer_org=REQUESTER,
        reason_code="consent-revoked",
        exchange_id="ex-2",
        request_hash="e" * 64,
    )
    fields.update(overrides)
    return AuditRecord(**fields)


def some_record(i: int) -> AuditRecord:
    """A varied record for position ``i`` of a long log."""
    kind = i % 4
    if kind == 0:
        return a_disclosure(subject=(MOTHER, CHILD, NEIGHBOUR)[i % 3], exchange_id=f"ex-{i}")
    if kind == 1:
        return a_refusal(exchange_id=f"ex-{i}")
    if kind == 2:
        return AuditRecord(
            action=events.LOGIN, outcome=events.SUCCESS, actor_id="ehr-west", actor_role="ehr", access_point="10.0.0.5"
        )
    return AuditRecord(
        action=events.CONSENT_RECORDED,
        outcome=events.SUCCESS,
        actor_id="uzi:900054321",
        actor_role="professional",
        subject=CHILD,
        consent_id=f"consent-{i}",
        purpose="care-coordination",
        categories=("care-team",),
    )


@dataclass
class Log:
    """A log the way the store keeps it: entries, checkpoints and one signed head."""

    entries: list[StoredEntry] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    head: str | None = None
    heads: dict[int, str] = field(default_factory=dict)

    def append(self, record: AuditRecord, sign: Any = SIGN) -> StoredEntry:
        prev_seq, prev_hash = (self.entries[-1].seq, self.entries[-1].hash) if self.entries else (0, GENESIS)
        at = chain.format_recorded_at(START + timedelta(minutes=prev_seq + 1))
        entry = chain.new_entry(
            prev_seq=prev_seq, prev_hash=prev_hash, event_id=uuid.uuid4().hex, recorded_at=at, record=record
        )
        self.entries.append(entry)
        if chain.is_checkpoint_due(entry.seq):
            self.checkpoints.append(chain.sign_checkpoint(entry, kind=chain.KIND_CHECKPOINT, at=at, sign=sign))
        self.head = chain.sign_checkpoint(entry, kind=chain.KIND_HEAD, at=at, sign=sign)
        self.heads[entry.seq] = self.head
        return entry

    def rows(self) -> list[chain.Row]:
        return [entry.as_row() for entry in self.entries]

    def verify(self, rows: list[chain.Row] | None = None, **kwargs: Any) -> VerifyResult:
        return chain.verify_rows(
            self.rows() if rows is None else rows, self.checkpoints, self.head, verify=VERIFY, **kwargs
        )


def a_log(n: int = 250) -> Log:
    """A log of ``n`` varied entries: checkpoints at 100 and 200, the head at ``n``."""
    log = Log()
    for i in range(1, n + 1):
        log.append(some_record(i))
    return log


def rehash_from(rows: list[chain.Row], index: int) -> list[chain.Row]:
    """Recompute hashes from ``rows[index]`` on, as an intruder with database access would."""
    out = list(rows[:index])
    prev = out[-1][5] if out else GENESIS
    for seq, event_id, at, record_json, _, _ in rows[index:]:
        digest = chain.row_hash(seq, event_id, at, record_json, prev)
        out.append((seq, event_id, at, record_json, prev, digest))
        prev = digest
    return out
