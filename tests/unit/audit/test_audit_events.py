"""The NEN 7513 audit record: named actions, Dutch labels, and what may never be logged."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from audit_builders import a_disclosure

from audit import events
from audit.events import AuditRecord, InvalidAuditRecord

ACTION_NAMES = (
    "DISCLOSURE_SENT",
    "DISCLOSURE_REFUSED",
    "SUMMARY_RECEIVED",
    "SUMMARY_REQUEST_FAILED",
    "CONSENT_RECORDED",
    "CONSENT_REFUSED",
    "CONSENT_REVOKED",
    "CONSENT_VIEWED",
    "CONSENT_STATUS_QUERIED",
    "TOKEN_ISSUED",
    "SAFETY_DISCLOSURE_SENT",
    "SAFETY_DISCLOSURE_RECEIVED",
    "KEY_ROTATED",
    "PARTNER_ADDED",
    "PARTNER_REMOVED",
    "PARTNER_KEYS_UPDATED",
    "CLIENT_ADDED",
    "LOGIN",
    "LOGIN_FAILED",
    "AUDIT_READ",
    "AUDIT_PRUNED",
    "RECORD_WRITTEN",
    "RECORD_VIEWED",
    "RECORD_DELETED",
    "FEDERATION_LIST_APPLIED",
    "FEDERATION_LIST_REFUSED",
    "FEDERATION_MEMBER_ADDED",
    "FEDERATION_MEMBER_UPDATED",
    "FEDERATION_MEMBER_REMOVED",
    "FEDERATION_CONFLICT",
    "LOCATOR_SETUP_SERVED",
    "LOCATOR_MATCH_ANSWERED",
    "LOCATOR_KEY_ROTATED",
    "LOCATE_SEARCHED",
    "SUMMARY_PUSHED",
    "SUMMARY_PUSH_FAILED",
    "SUMMARY_PUSH_RECEIVED",
    "SUMMARY_PUSH_REFUSED",
    "CONSENT_DECLINED",
    "CLIENT_REMOVED",
    "CLIENT_SECRET_ROTATED",
    "FLAG_HANDLED",
)


def test_every_action_is_a_named_constant_with_a_dutch_label() -> None:
    codes = [getattr(events, name) for name in ACTION_NAMES]
    assert len(set(codes)) == len(codes) == len(events.ACTIONS)
    for code in codes:
        assert events.ACTIONS[code].strip()
    assert set(events.OUTCOMES) == {"success", "refused", "error"}


def test_record_is_frozen_and_converts_lists_to_tuples() -> None:
    record = a_disclosure(categories=["signals"])
    assert record.categories == ("signals",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.subject = "123456782"  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.detail["note"] = "changed"  # type: ignore[index]
    assert dataclasses.replace(record, actor_org="x").actor_org == "x"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (dict(action="peeked"), "unknown audit action"),
        (dict(outcome="maybe"), "unknown outcome"),
        (dict(actor_id=""), "actor_id is required"),
        (dict(actor_id="uzi:1\x00"), "NUL"),
        (dict(detail={"note": "a\x00b"}), "NUL"),
        (dict(detail={"n\x00": 1}), "NUL"),
        (dict(detail={"score": 0.5}), "float"),
        (dict(detail={"deep": {"score": 1.0}}), "float"),
        (dict(detail={"big": 2**60}), "I-JSON"),
        (dict(detail={"consent_token": "abc"}), "token"),
        (dict(detail={"client_secret": "abc"}), "secret"),
        (dict(detail={"body": "{}"}), "body"),
        (dict(detail={"note": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMTEifQ.c2ln"}), "token"),
        (dict(detail={"note": "Authorization: Bearer abc.def"}), "token"),
        (dict(detail={"note": "x" * 2000}), "too long"),
        (dict(detail={"set": {1, 2}}), "not JSON"),
        (dict(consent_id="eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMTEifQ.c2ln"), "token"),
        (dict(subject="12345678"), "BSN"),
        (dict(subject="\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff12"), "BSN"),
        (dict(request_hash="ABC"), "sha256"),
        (dict(count=-1), "count"),
        (dict(count=True), "count"),
        (dict(flagged=1), "flagged"),
        (dict(categories="signals"), "tuple"),
        (dict(categories=("",)), "empty"),
        (dict(outcome="refused", reason_code=""), "reason_code"),
        (dict(action=events.SAFETY_DISCLOSURE_SENT, flagged=False), "flagged"),
        (dict(purpose="\ud800"), "Unicode"),
    ],
)
def test_invalid_records_never_exist(change: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidAuditRecord, match=why):
        a_disclosure(**change)


def test_jti_and_hashes_of_tokens_may_be_logged() -> None:
    jti_key, hash_key = "consent_token_jti", "assertion_hash"
    record = a_disclosure(detail={jti_key: "j-1", hash_key: "ab" * 32})
    assert record.detail[jti_key] == "j-1"


def test_safety_disclosure_is_flagged() -> None:
    record = AuditRecord(
        action=events.SAFETY_DISCLOSURE_SENT,
        outcome=events.SUCCESS,
        actor_id="uzi:1",
        legal_ground="meldcode",
        flagged=True,
        detail={"justification": "Acuut gevaar voor het kind."},
    )
    assert record.flagged and record.label_nl.startswith("Verstrekking zonder toestemming")


def test_audit_domain_imports_no_flask_sqlalchemy_or_http() -> None:
    package = Path(events.__file__).parent
    forbidden = {"flask", "sqlalchemy", "requests", "werkzeug", "urllib3", "httpx"}
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"
