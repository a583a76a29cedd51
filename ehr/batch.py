"""Batch file adapter: CSV and JSON Lines exports of EHRs without an API (issue 6).

``gateway import DIR FILE --mapping MAPPING``. The mapping's ``batch`` table says which
column holds what (``ehr.mapping.BATCH_FIELDS``); a ``.csv`` file has a header line
(delimiter ``,`` ``;`` ``|`` or tab, guessed from the header unless the mapping names it),
a ``.jsonl``/``.ndjson`` file one JSON object per line with the same names as keys.

Rules:
- **Whole or not at all.** Every row is read, mapped and checked (also against the store:
  is the person registered?) in one unit of work; one bad row and nothing is written.
- **Every bad row is reported**, with its line number and reason, not just the first.
- **Twice is once.** The row id is the source link (``identifier_system|id``): a second
  import of the same file finds every record unchanged and writes nothing; a changed row
  updates its record. An id used twice in one file is a bad row.
- **UTF-8 only** (a byte-order mark is allowed): anything else is refused whole, naming
  the line of the first byte that is not UTF-8, before any row is read.

Each row becomes the resource its category's profile keeps (``profiles/profiles.json``):
an Observation (code from the code column, ``title`` as code text, ``text`` as value), a
CarePlan (``title``, ``text`` as description, ``date`` as period start) or a CareTeam
(``title`` as name, ``members`` as "role: name; role: name", ``phone``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from consent.model import valid_bsn
from contract import ijson
from contract.errors import GatewayError, InvalidRequest
from ehr.interface import Outcome, Problem, SourceRecord, store, to_node_record
from ehr.mapping import FALSE_VALUES, TRUE_VALUES, BatchLayout, Mapping, MappingError
from gateway.node import Node
from profiles.catalog import load_profiles

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
MAX_ID = 200  # source ids are stored in a 255-character column together with nothing else
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?")
_DUTCH_DATE = re.compile(r"(\d{1,2})-(\d{1,2})-(\d{4})")
_BAD = "\0bad"  # key of a row that could not be split into fields: its reason


class BadFile(GatewayError):
    """The file as a whole cannot be read: encoding, format, header. Nothing is written."""

    code = "invalid-request"
    message_nl = "Het bestand kan niet worden gelezen."


@dataclass(frozen=True)
class Row:
    line: int  # where the row starts in the file, 1-based
    values: dict[str, Any]  # column name -> value


@dataclass
class Prepared:
    """A file read and mapped, not yet written."""

    name: str
    sha256: str
    rows: int
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0


def prepare(path: Path, mapping: Mapping) -> Prepared:
    """Read, check and map every row; raise ``BadFile`` when the file as a whole is unusable."""
    layout = mapping.batch
    if layout is None:
        raise MappingError(f"mapping {mapping.name} has no 'batch' table: it cannot read export files")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BadFile(f"{path.name}: use a .csv, .jsonl or .ndjson file")
    raw = path.read_bytes()
    text = decode(raw, path.name)
    rows = read_csv(text, layout, path.name) if fmt == "csv" else read_jsonl(text, path.name)
    out = Prepared(name=path.name, sha256=hashlib.sha256(raw).hexdigest(), rows=len(rows))
    first_line: dict[str, int] = {}
    for row in rows:
        where = f"line {row.line}"
        try:
            rec = source_record(row, layout, mapping)
            if rec.identifier[1] in first_line:
                raise InvalidRequest(f"id {rec.identifier[1]!r} is on line {first_line[rec.identifier[1]]} too")
            first_line[rec.identifier[1]] = row.line
            node_record = to_node_record(rec, mapping)
        except InvalidRequest as exc:
            out.problems.append(Problem(where, exc.detail))
            continue
        if node_record is None:
            out.skipped += 1
        else:
            out.records.append((where, node_record))
    return out


def write(node: Node, prepared: Prepared, *, progress: Callable[[int], None] | None = None) -> Outcome:
    """Write a prepared file in one unit of work, unless any row (read or stored) is bad."""
    outcome = store(
        node,
        prepared.records,
        actor_id="system:import",
        detail={"file": prepared.name[:200], "file_sha256": prepared.sha256},
        all_or_nothing=True,
        prior_problems=len(prepared.problems),
        progress=progress,
    )
    outcome.skipped += prepared.skipped
    outcome.problems = sorted(prepared.problems + outcome.problems, key=lambda p: int(p.where.split()[-1]))
    return outcome


def decode(raw: bytes, name: str) -> str:
    """UTF-8 text (a leading byte-order mark dropped); ``BadFile`` names the first bad line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadFile(
            f"{name} is not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}); export it as UTF-8 and import it again"
        ) from None


def read_csv(text: str, layout: BatchLayout, name: str) -> list[Row]:
    """Rows with the line each starts on; quoted fields may span lines."""
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise BadFile(f"{name}: the first line must be the header")
    delimiter = layout.delimiter or max(",;\t|", key=lines[0].count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
        missing = [col for _, col in layout.columns if col not in header]
        if missing:
            raise BadFile(f"{name}: the header lacks column(s) {missing} (delimiter {delimiter!r})")
        rows, start = [], reader.line_num + 1
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                if len(cells) != len(header):
                    values = {_BAD: f"expected {len(header)} fields, found {len(cells)}"}
                else:
                    values = dict(zip(header, cells, strict=True))
                rows.append(Row(start, values))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise BadFile(f"{name}: line {reader.line_num}: malformed CSV ({exc})") from None
    return rows


def read_jsonl(text: str, name: str) -> list[Row]:
    """One JSON object per non-blank line (strict JSON: no duplicate keys)."""
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = ijson.loads(line)
        except InvalidRequest as exc:
            value = {_BAD: f"not a JSON object ({exc.detail})"}
        if not isinstance(value, dict):
            value = {_BAD: "not a JSON object"}
        rows.append(Row(number, value))
    return rows


def source_record(row: Row, layout: BatchLayout, mapping: Mapping) -> SourceRecord:
    """The row as a source record; ``InvalidRequest`` says what is wrong with it."""
    if _BAD in row.values:
        raise InvalidRequest(row.values[_BAD])

    def get(name: str) -> str:
        column = layout.column(name)
        value = row.values.get(column) if column else None
        if value is None:
            return ""
        if isinstance(value, bool) and name == "shareable":
            return "true" if value else "false"
        if isinstance(value, int) and not isinstance(value, bool) and name == "id":
            return str(value)
        if not isinstance(value, str):
            why = " (a BSN keeps its leading zero)" if name == "bsn" else ""
            raise InvalidRequest(f"{column} must be text{why}")
        return value.strip()

    ident, bsn, code = get("id"), get("bsn"), get("code")
    if not ident or len(ident) > MAX_ID:
        raise InvalidRequest(f"{layout.column('id')} (the record id) is empty or longer than {MAX_ID}")
    if not valid_bsn(bsn):
        raise InvalidRequest(f"{layout.column('bsn')} {bsn!r} is not a BSN (nine digits, eleven-test)")
    if not code:
        raise InvalidRequest(f"{layout.column('code')} is empty")
    rule = mapping.rule_for([(layout.code_system, code)])
    if rule is None:
        raise InvalidRequest(f"unknown code {code!r}: not in mapping {mapping.name}")
    share = get("shareable").lower()
    if share not in TRUE_VALUES + FALSE_VALUES:
        raise InvalidRequest(f"{layout.column('shareable')} {share!r} is not ja/nee (yes/no)")
    coding = {"system": layout.code_system, "code": code}
    resource: dict[str, Any] = {"resourceType": "Observation"}
    if not rule.ignored:
        resource = _resource(load_profiles()[rule.category].resource_type, coding, get, _date(get("date")))
    return SourceRecord(
        where=f"line {row.line}",
        identifier=(layout.identifier_system, ident),
        subject_bsn=bsn,
        resource=resource,
        codings=((layout.code_system, code),),
        marked_shareable=share in TRUE_VALUES,
    )


def _resource(rtype: str, coding: dict[str, str], get: Callable[[str], str], when: str) -> dict[str, Any]:
    title, text, status = get("title"), get("text"), get("status")
    if rtype == "Observation":
        res: dict[str, Any] = {
            "resourceType": "Observation",
            "status": status or "final",
            "code": {"coding": [coding], **({"text": title} if title else {})},
        }
        if when:
            res["effectiveDateTime"] = when
        if text:
            res["valueString"] = text
        return res
    if rtype == "CarePlan":
        res = {
            "resourceType": "CarePlan",
            "status": status or "active",
            "intent": "plan",
            "category": [{"coding": [coding]}],
        }
        res.update({k: v for k, v in (("title", title), ("description", text)) if v})
        if when:
            res["period"] = {"start": when}
        return res
    res = {"resourceType": "CareTeam", "status": status or "active", "category": [{"coding": [coding]}]}
    if title:
        res["name"] = title
    members = [m.strip() for m in get("members").split(";") if m.strip()]
    if members:
        res["participant"] = [_participant(m) for m in members]
    if get("phone"):
        res["telecom"] = [{"system": "phone", "value": get("phone"), "use": "work"}]
    if text:
        res["note"] = [{"text": text}]
    return res


def _participant(member: str) -> dict[str, Any]:
    role, sep, who = member.partition(":")
    if not sep:
        return {"member": {"display": member}}
    return {"role": [{"text": role.strip()}], "member": {"display": who.strip()}}


def _date(value: str) -> str:
    """A FHIR date(Time) from ISO or Dutch DD-MM-JJJJ; "" stays ""."""
    if not value:
        return ""
    dutch = _DUTCH_DATE.fullmatch(value)
    if dutch:
        value = f"{dutch.group(3)}-{int(dutch.group(2)):02d}-{int(dutch.group(1)):02d}"
    if not _DATE.fullmatch(value):
        raise InvalidRequest(f"date {value!r} is not JJJJ-MM-DD, DD-MM-JJJJ or a full FHIR dateTime")
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidRequest(f"date {value!r} does not exist") from None
    return value
