"""Keep the audit log tamper-evident: a sha256 hash chain plus signed checkpoints.

SECURITY.md, "A hash chain is not enough": a chain shows an edited, deleted or reordered
row, but not a cut tail nor a rewrite by someone with database access who recomputes the
hashes. So the node also signs, with its own key:

- a **checkpoint** every ``CHECKPOINT_EVERY`` entries (kept forever),
- the **head**, re-signed on every append in the same transaction (one row, replaced),
- a **prune** anchor when old entries are removed after the retention period.

Each is a compact JWS, header ``typ`` ``audit-checkpoint+jwt``, over the claims
``{"seq", "hash", "at", "kind"}``; signing and verifying are injected callables so this
module never sees a key. Entry hash (stable, documented, also used by ``verify_rows``)::

    sha256(f"{seq}|{event_id}|{recorded_at}|{prev_hash}|".encode() + canonical_record)

where ``canonical_record`` is the RFC 8785 (JCS) UTF-8 JSON of the ``AuditRecord`` and
the first entry links to ``GENESIS``. ``event_id`` is a FHIR id (so it holds no ``|``)
and ``recorded_at`` is ISO-8601 UTC with milliseconds and ``Z``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain as _chain
from typing import Any

from audit.events import FIELD_NAMES, AuditRecord, InvalidAuditRecord
from contract import ijson, jcs, jwt
from contract.errors import InvalidRequest

GENESIS = "0" * 64
"""The ``prev_hash`` of the very first entry."""

CHECKPOINT_EVERY = 100
"""Sign a checkpoint at every seq divisible by this.

The signed head already vouches for the whole chain; checkpoints add what the head cannot:
they localise a consistent rewrite to a window of at most 100 entries, they reveal a cut
tail even when a stale (older, validly signed) head is put back, and they survive the loss
of the head row. 100 keeps that window small for a privacy officer's review while costing
one signature per hundred appends (a 1,000,000-entry log holds 10,000 checkpoints, about
1.3 s of ES256 verification).
"""

CHECKPOINT_TYP = "audit-checkpoint+jwt"
KIND_CHECKPOINT = "checkpoint"
KIND_HEAD = "head"
KIND_PRUNE = "prune"
KINDS = frozenset({KIND_CHECKPOINT, KIND_HEAD, KIND_PRUNE})

Row = tuple[int, str, str, str, str, str]
"""(seq, event_id, recorded_at, canonical_record_json, prev_hash, hash): the stored columns."""

_EVENT_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR id: also the AuditEvent.id
_RECORDED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class InvalidCheckpoint(ValueError):
    """A checkpoint's claims are malformed (its signature may still be valid)."""


# --- records and entries ---------------------------------------------------------------


def record_to_canonical(record: AuditRecord) -> str:
    """Return the RFC 8785 canonical JSON of ``record``: the text the store keeps and hashes."""
    return jcs.dumps(record.to_dict()).decode("utf-8")


def record_from_json(text: str) -> AuditRecord:
    """Parse stored record JSON strictly (no duplicate keys, floats or unknown fields).

    Fields added after a record was written take their defaults. Raises InvalidAuditRecord.
    """
    try:
        data = ijson.loads(text, integers_only=True)
    except InvalidRequest as exc:
        raise InvalidAuditRecord(f"stored record is not valid JSON: {exc.detail}") from None
    if not isinstance(data, dict):
        raise InvalidAuditRecord("stored record is not a JSON object")
    unknown = set(data) - set(FIELD_NAMES)
    if unknown:
        raise InvalidAuditRecord(f"stored record has unknown fields {sorted(unknown)}")
    for name in ("categories", "resource_types"):
        if isinstance(data.get(name), list):
            data[name] = tuple(data[name])
    try:
        return AuditRecord(**data)
    except TypeError as exc:
        raise InvalidAuditRecord(f"stored record is incomplete: {exc}") from None


def format_recorded_at(moment: datetime) -> str:
    """Format an aware datetime as ISO-8601 UTC with milliseconds and ``Z``."""
    if moment.tzinfo is None:
        raise ValueError("recorded_at needs an aware datetime")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def row_hash(seq: int, event_id: str, recorded_at: str, canonical_record: str, prev_hash: str) -> str:
    """Return the entry hash from stored columns (the rule in the module docstring)."""
    prefix = f"{seq}|{event_id}|{recorded_at}|{prev_hash}|".encode()
    return hashlib.sha256(prefix + canonical_record.encode("utf-8")).hexdigest()


def entry_hash(seq: int, event_id: str, recorded_at: str, record: AuditRecord, prev_hash: str) -> str:
    """Return the entry hash of ``record`` at ``seq``, checking every field's format."""
    _check_position(seq, event_id, recorded_at, prev_hash)
    return row_hash(seq, event_id, recorded_at, record_to_canonical(record), prev_hash)


def _check_position(seq: int, event_id: str, recorded_at: str, prev_hash: str) -> None:
    if type(seq) is not int or seq < 1:
        raise ValueError("seq must be a positive integer")
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise ValueError("event_id must be a FHIR id ([A-Za-z0-9-.], at most 64)")
    if not isinstance(recorded_at, str) or not _RECORDED_AT.fullmatch(recorded_at):
        raise ValueError("recorded_at must look like 2026-01-31T12:00:00.000Z")
    if not isinstance(prev_hash, str) or not _HEX64.fullmatch(prev_hash):
        raise ValueError("prev_hash must be lowercase sha256 hex")


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One chained audit entry as stored: its position, its record and both hashes."""

    seq: int
    event_id: str
    recorded_at: str
    record: AuditRecord
    prev_hash: str
    hash: str

    def as_row(self) -> Row:
        """Return the stored columns, with the record as canonical JSON."""
        return (self.seq, self.event_id, self.recorded_at, record_to_canonical(self.record), self.prev_hash, self.hash)


def entry_from_row(row: Row) -> StoredEntry:
    """Rebuild a StoredEntry from stored columns, parsing the hashed record JSON strictly.

    Render exports from this, never from denormalised search columns: only the record
    JSON is covered by the hash. Raises InvalidAuditRecord.
    """
    seq, event_id, recorded_at, record_json, prev_hash, digest = row
    return StoredEntry(seq, event_id, recorded_at, record_from_json(record_json), prev_hash, digest)


def new_entry(
    *, prev_seq: int, prev_hash: str, event_id: str, recorded_at: str, record: AuditRecord, canonical: str | None = None
) -> StoredEntry:
    """Build the entry that follows ``(prev_seq, prev_hash)``; ``(0, GENESIS)`` starts a log.

    After a prune that removed every entry, pass the prune anchor as the predecessor.
    ``canonical`` is ``record_to_canonical(record)`` when the caller has it already (the store
    keeps that text too): the record is then canonicalised once per append, not twice.
    """
    seq = prev_seq + 1
    if canonical is None:
        digest = entry_hash(seq, event_id, recorded_at, record, prev_hash)
    else:
        _check_position(seq, event_id, recorded_at, prev_hash)
        digest = row_hash(seq, event_id, recorded_at, canonical, prev_hash)
    return StoredEntry(seq, event_id, recorded_at, record, prev_hash, digest)


# --- checkpoints -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The verified claims of a checkpoint, head or prune anchor."""

    seq: int
    hash: str
    at: str
    kind: str


def is_checkpoint_due(seq: int) -> bool:
    """Tell whether the entry at ``seq`` must get a signed checkpoint (kind "checkpoint")."""
    return seq % CHECKPOINT_EVERY == 0


def checkpoint_claims(seq: int, entry_hash_hex: str, *, kind: str, at: str) -> dict[str, Any]:
    """Return the claims to sign for the entry ``(seq, hash)``; ``at`` as ``recorded_at``."""
    claims = {"seq": seq, "hash": entry_hash_hex, "at": at, "kind": kind}
    _check_claims(claims)
    return claims


def sign_checkpoint(entry: StoredEntry, *, kind: str, at: str, sign: Callable[[dict[str, Any]], str]) -> str:
    """Sign a checkpoint, head or prune anchor naming ``entry``; return the compact JWS."""
    return sign(checkpoint_claims(entry.seq, entry.hash, kind=kind, at=at))


def read_checkpoint(jws: str, *, verify: Callable[[str], dict[str, Any]]) -> Checkpoint:
    """Verify a checkpoint JWS with ``verify`` (raises on a bad signature) and check its claims.

    Raises whatever ``verify`` raises, or InvalidCheckpoint.
    """
    claims = verify(jws)
    _check_claims(claims)
    return Checkpoint(claims["seq"], claims["hash"], claims["at"], claims["kind"])


def anchor_from_prune(jws: str, *, verify: Callable[[str], dict[str, Any]]) -> tuple[int, str]:
    """Return the ``(seq, hash)`` anchor of a signed prune checkpoint, for ``verify_rows``."""
    checkpoint = read_checkpoint(jws, verify=verify)
    if checkpoint.kind != KIND_PRUNE:
        raise InvalidCheckpoint(f"expected a prune checkpoint, got {checkpoint.kind!r}")
    return checkpoint.seq, checkpoint.hash


def _check_claims(claims: object) -> None:
    if not isinstance(claims, dict) or set(claims) != {"seq", "hash", "at", "kind"}:
        raise InvalidCheckpoint("checkpoint claims must be exactly seq, hash, at, kind")
    seq, digest, at, kind = claims["seq"], claims["hash"], claims["at"], claims["kind"]
    if type(seq) is not int or seq < (0 if kind == KIND_PRUNE else 1):
        raise InvalidCheckpoint("checkpoint seq must be a positive integer")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise InvalidCheckpoint("checkpoint hash must be lowercase sha256 hex")
    if not isinstance(at, str) or not _RECORDED_AT.fullmatch(at):
        raise InvalidCheckpoint("checkpoint 'at' must look like 2026-01-31T12:00:00.000Z")
    if kind not in KINDS:
        raise InvalidCheckpoint(f"unknown checkpoint kind {kind!r}")


def _peek_seq(jws: object) -> int | None:
    """Read the claimed seq of a JWS that failed to verify, only to name the place."""
    try:
        seq = jwt.peek_claims(str(jws), error=InvalidRequest).get("seq")
    except InvalidRequest:  # untrusted garbage only loses the location hint
        return None
    return seq if type(seq) is int else None


# --- verification ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The verdict: ``first_bad_seq`` is the first entry the log can no longer vouch for.

    ``reason`` starts with a stable word: intact, edited, relinked, missing, reordered,
    unanchored, rewritten, truncated, unsigned, forged, conflict or malformed.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class _Problem:
    seq: int | None
    reason: str


def verify_chain(
    entries: Iterable[StoredEntry],
    checkpoints: Sequence[str],
    head: str | None,
    *,
    verify: Callable[[str], dict[str, Any]],
    anchor: tuple[int, str] | None = None,
    checkpoint_every: int | None = CHECKPOINT_EVERY,
) -> VerifyResult:
    """Verify entries given as dataclasses; see ``verify_rows`` for the rules."""
    rows = (entry.as_row() for entry in entries)
    return verify_rows(rows, checkpoints, head, verify=verify, anchor=anchor, checkpoint_every=checkpoint_every)


def verify_rows(
    rows: Iterable[Row],
    checkpoints: Sequence[str],
    head: str | None,
    *,
    verify: Callable[[str], dict[str, Any]],
    anchor: tuple[int, str] | None = None,
    checkpoint_every: int | None = CHECKPOINT_EVERY,
) -> VerifyResult:
    """Verify stored rows, in ascending seq order, against the signed checkpoints and head.

    Names the first bad entry for: an edited row (hash mismatch), a deleted row (seq gap),
    reordered rows, a relinked or consistently rewritten range (prev_hash or a signed hash
    differs), a cut tail (a checkpoint or the head lies beyond the last row), rows added
    after the head, a missing head or checkpoint, a forged checkpoint or head, and history
    removed without a signed prune anchor. ``anchor`` defaults to the highest verified
    "prune" checkpoint in ``checkpoints``. ``checkpoint_every`` None skips the check that
    every due checkpoint exists. Hashing works on the stored bytes: no record is parsed.
    """
    problems: list[_Problem] = []
    pins, checkpoint_seqs, prunes, head_cp = _read_signed(checkpoints, head, verify, problems)
    if anchor is None and prunes:
        anchor = max(prunes)

    iterator = iter(rows)
    first = next(iterator, None)
    start_seq, start_hash = anchor if anchor is not None else (0, GENESIS)
    if first is not None and first[0] == 1:
        start_seq, start_hash = 0, GENESIS
        if anchor is not None and anchor[0] >= 1:  # rows before the anchor are still here
            _pin(pins, anchor[0], anchor[1], f"the prune anchor at seq {anchor[0]}", problems)
    elif first is not None and first[0] != start_seq + 1:
        where = f"the prune anchor is at seq {anchor[0]}" if anchor else "there is no prune anchor"
        problems.append(
            _Problem(
                start_seq + 1,
                (
                    f"missing: the log starts at seq {first[0]} but {where}; entries "
                    f"{start_seq + 1}..{first[0] - 1} were removed without a signed prune anchor"
                ),
            )
        )
        return _verdict(problems, 0, start_seq, start_seq)

    checked, last_pin, failure, last_hash = _scan(
        _chain((first,), iterator) if first is not None else iterator, start_seq, start_hash, pins
    )
    last_seq = start_seq + checked
    if failure is not None:
        problems.append(failure)
        return _verdict(problems, checked, start_seq, last_seq)

    beyond = [(seq, label) for seq, (_, label) in pins.items() if seq > last_seq]
    if beyond:
        _, label = min(beyond)
        problems.append(
            _Problem(
                last_seq + 1,
                (f"truncated: {label} lies beyond the last entry {last_seq}; entries from {last_seq + 1} on were cut"),
            )
        )
    if head_cp is None and head is None and checked:
        problems.append(
            _Problem(
                last_pin + 1,
                (
                    "unsigned: the signed head is missing, so a cut tail cannot be ruled out; "
                    f"entries after {last_pin} are not vouched for by a signature"
                ),
            )
        )
    if head_cp is not None and head_cp.seq < last_seq:
        problems.append(
            _Problem(
                head_cp.seq + 1,
                (
                    f"unsigned: entries {head_cp.seq + 1}..{last_seq} come after the signed head "
                    f"at seq {head_cp.seq} (written outside the gateway?)"
                ),
            )
        )
    if checkpoint_every:
        due = range((start_seq // checkpoint_every + 1) * checkpoint_every, last_seq + 1, checkpoint_every)
        missing = next((seq for seq in due if seq not in checkpoint_seqs), None)
        if missing is not None:
            problems.append(_Problem(missing, (f"unsigned: the signed checkpoint for seq {missing} is missing")))
    return _verdict(problems, checked, start_seq, last_seq, last_hash)


def _scan(
    rows: Iterator[Row], start_seq: int, start_hash: str, pins: dict[int, tuple[str, str]]
) -> tuple[int, int, _Problem | None, str]:
    """Walk the rows once; return (checked, last pinned seq, first failure, last hash)."""
    sha256 = hashlib.sha256
    expected, prev, last_pin = start_seq + 1, start_hash, start_seq
    for row in rows:
        seq, event_id, recorded_at, record_json, prev_hash, stored = row
        if seq != expected:
            return expected - start_seq - 1, last_pin, _gap(seq, expected, rows), prev
        digest = sha256(f"{seq}|{event_id}|{recorded_at}|{prev_hash}|".encode() + record_json.encode()).hexdigest()
        if digest != stored or prev_hash != prev or "|" in event_id or "|" in recorded_at:
            problem = _row_problem(row, digest, prev, start_seq)
            return expected - start_seq - 1, last_pin, problem, prev
        pin = pins.get(seq)
        if pin is not None:
            if pin[0] != stored:
                return (
                    expected - start_seq - 1,
                    last_pin,
                    _Problem(
                        last_pin + 1,
                        (
                            f"rewritten: {pin[1]} signs hash {pin[0][:12]}… but entry {seq} has "
                            f"{stored[:12]}…; entries {last_pin + 1}..{seq} were rewritten"
                        ),
                    ),
                    prev,
                )
            last_pin = seq
        prev = stored
        expected += 1
    return expected - start_seq - 1, last_pin, None, prev


def _gap(seq: int, expected: int, rest: Iterator[Row]) -> _Problem:
    if seq < expected:
        return _Problem(seq, f"reordered: entry {seq} appears again after entry {expected - 1}")
    if any(row[0] == expected for row in rest):
        return _Problem(
            expected, (f"reordered: entry {seq} appears where entry {expected} belongs; entry {expected} comes later")
        )
    return _Problem(expected, f"missing: entries {expected}..{seq - 1} were deleted")


def _row_problem(row: Row, digest: str, prev: str, start_seq: int) -> _Problem:
    seq, event_id, recorded_at, _, prev_hash, stored = row
    if "|" in event_id or "|" in recorded_at:
        return _Problem(seq, f"malformed: entry {seq} has '|' in event_id or recorded_at")
    if digest != stored and prev_hash != prev:
        return _Problem(
            seq,
            (
                f"edited: entry {seq} matches neither its stored hash nor its predecessor "
                "(content edited, or rows deleted and renumbered)"
            ),
        )
    if digest != stored:
        return _Problem(seq, f"edited: entry {seq} no longer matches its stored hash")
    if seq - 1 <= start_seq:
        what = "the prune anchor" if start_seq else "the genesis value"
        return _Problem(seq, f"unanchored: entry {seq} does not link to {what}")
    return _Problem(
        seq - 1,
        (
            f"relinked: entry {seq} does not link to entry {seq - 1}; entry {seq - 1} was "
            f"rewritten or entry {seq} was replaced"
        ),
    )


def _read_signed(
    checkpoints: Sequence[str],
    head: str | None,
    verify: Callable[[str], dict[str, Any]],
    problems: list[_Problem],
) -> tuple[dict[int, tuple[str, str]], set[int], list[tuple[int, str]], Checkpoint | None]:
    """Verify every signature; return pins (seq -> hash, label), checkpoint seqs, prunes, head."""
    pins: dict[int, tuple[str, str]] = {}
    checkpoint_seqs: set[int] = set()
    prunes: list[tuple[int, str]] = []
    for index, jws in enumerate(checkpoints):
        try:
            cp = read_checkpoint(jws, verify=verify)
        except Exception as exc:  # noqa: BLE001 - verify may raise anything on a bad signature
            problems.append(_forged(f"checkpoint #{index}", jws, exc))
            continue
        if cp.kind == KIND_PRUNE:
            prunes.append((cp.seq, cp.hash))
            continue
        checkpoint_seqs.add(cp.seq)
        _pin(pins, cp.seq, cp.hash, f"the checkpoint at seq {cp.seq}", problems)
    head_cp = None
    if head is not None:
        try:
            head_cp = read_checkpoint(head, verify=verify)
            if head_cp.kind != KIND_HEAD:
                raise InvalidCheckpoint(f"the head has kind {head_cp.kind!r}")
        except Exception as exc:  # noqa: BLE001 - as above
            problems.append(_forged("the signed head", head, exc))
            head_cp = None
        else:
            _pin(pins, head_cp.seq, head_cp.hash, f"the signed head at seq {head_cp.seq}", problems)
    return pins, checkpoint_seqs, prunes, head_cp


def _pin(pins: dict[int, tuple[str, str]], seq: int, digest: str, label: str, problems: list[_Problem]) -> None:
    existing = pins.get(seq)
    if existing is not None and existing[0] != digest:
        problems.append(_Problem(seq, (f"conflict: {existing[1]} and {label} sign different hashes for seq {seq}")))
        return
    pins.setdefault(seq, (digest, label))


def _forged(what: str, jws: str, exc: Exception) -> _Problem:
    seq = _peek_seq(jws)
    where = f" (claiming seq {seq})" if seq is not None else ""
    kind = "malformed" if isinstance(exc, InvalidCheckpoint) else "forged"
    return _Problem(seq, f"{kind}: {what}{where} does not verify: {exc.__class__.__name__}")


def _verdict(
    problems: list[_Problem], checked: int, start_seq: int, last_seq: int, last_hash: str | None = None
) -> VerifyResult:
    if problems:
        worst = min(problems, key=lambda p: (p.seq is None, p.seq or 0))
        return VerifyResult(False, checked, worst.seq, worst.reason)
    if not checked:
        return VerifyResult(True, 0, None, "intact: the log is empty")
    return VerifyResult(
        True,
        checked,
        None,
        (f"intact: {checked} entries from seq {start_seq + 1} to {last_seq}, last hash {last_hash}"),
    )
