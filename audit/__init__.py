"""The audit domain: NEN 7513 records, the tamper-evident chain, FHIR/CSV export, reports.

Pure: no Flask, SQLAlchemy or HTTP. The store calls these functions inside its own
transaction (SECURITY.md: no audit, no disclosure).
"""

from audit.chain import (
    CHECKPOINT_EVERY,
    CHECKPOINT_TYP,
    GENESIS,
    KIND_CHECKPOINT,
    KIND_HEAD,
    KIND_PRUNE,
    Checkpoint,
    InvalidCheckpoint,
    StoredEntry,
    VerifyResult,
    anchor_from_prune,
    checkpoint_claims,
    entry_from_row,
    entry_hash,
    format_recorded_at,
    is_checkpoint_due,
    new_entry,
    read_checkpoint,
    record_from_json,
    record_to_canonical,
    row_hash,
    sign_checkpoint,
    verify_chain,
    verify_rows,
)
from audit.events import (
    ACTIONS,
    ERROR,
    OUTCOMES,
    REFUSED,
    SUCCESS,
    AuditRecord,
    InvalidAuditRecord,
)
from audit.fhir import (
    CSV_COLUMNS,
    iter_csv,
    search_bundle,
    to_audit_event,
    to_csv,
)
from audit.report import ReportData, disclosure_report_rows
from audit.signer import CheckpointSignatureError, make_signer, make_verifier

__all__ = [
    "ACTIONS", "CHECKPOINT_EVERY", "CHECKPOINT_TYP", "CSV_COLUMNS", "ERROR", "GENESIS",
    "KIND_CHECKPOINT", "KIND_HEAD", "KIND_PRUNE", "OUTCOMES", "REFUSED", "SUCCESS",
    "AuditRecord", "Checkpoint", "CheckpointSignatureError", "InvalidAuditRecord",
    "InvalidCheckpoint", "ReportData", "StoredEntry", "VerifyResult", "anchor_from_prune",
    "checkpoint_claims", "disclosure_report_rows", "entry_from_row",
    "entry_hash",
    "format_recorded_at", "is_checkpoint_due", "iter_csv", "make_signer", "make_verifier",
    "new_entry", "read_checkpoint", "record_from_json", "record_to_canonical", "row_hash",
    "search_bundle", "sign_checkpoint", "to_audit_event", "to_csv", "verify_chain",
    "verify_rows",
]
