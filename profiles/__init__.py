"""Behaviour-level summary profiles (contract section 5): data, builder and guard.

The domain side of a disclosure: no Flask, HTTP or SQLAlchemy here. ``build_summary``
constructs the Bundle from allow-lists and runs ``check_summary`` on it before returning.
"""

from profiles.catalog import (
    BSN_SYSTEM,
    CARE_STATUS_SYSTEM,
    CONSENTED_PUSH,
    DISCLOSURE_SYSTEM,
    EXCHANGE_ID_SYSTEM,
    INBOX_TAGS,
    LEGAL_MEASURE_SYSTEM,
    PURPOSE_SYSTEM,
    REFUSAL_REASON_SYSTEM,
    REQUEST_HASH_EXTENSION,
    SAFETY_DISCLOSURE,
    SHAREABLE,
    SUMMARY_CATEGORY_SYSTEM,
    explanation,
    label,
    load_codesystems,
    load_matrix,
)
from profiles.guard import check_summary
from profiles.summary import PROFILE_VERSION, build_summary, note_record

__all__ = [
    "BSN_SYSTEM",
    "CARE_STATUS_SYSTEM",
    "CONSENTED_PUSH",
    "DISCLOSURE_SYSTEM",
    "EXCHANGE_ID_SYSTEM",
    "INBOX_TAGS",
    "LEGAL_MEASURE_SYSTEM",
    "PROFILE_VERSION",
    "PURPOSE_SYSTEM",
    "REFUSAL_REASON_SYSTEM",
    "REQUEST_HASH_EXTENSION",
    "SAFETY_DISCLOSURE",
    "SHAREABLE",
    "SUMMARY_CATEGORY_SYSTEM",
    "build_summary",
    "check_summary",
    "explanation",
    "label",
    "load_codesystems",
    "load_matrix",
    "note_record",
]
