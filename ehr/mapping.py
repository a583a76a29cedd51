"""Code mappings: which source codes become which summary category (issue 6).

A mapping is data, kept in ``config/mappings/`` (JSON or TOML) and loaded here; no source
code system is named in code. It says, per code of the EHR's own code system (for example
"signaleringsplan", "crisiskaart", "betrokken hulpverleners"):

- ``category``: the summary category (contract section 5) the record gets, or ``ignore``
  for records that must never enter the node (a diagnosis, medication);
- ``shareable``: whether its free text may leave the node: ``marked`` (default: only when
  the author marked it at the source, see ``shareable_mark``), ``always`` (the organisation
  writes these texts to be shared, e.g. a crisis card made with the client) or ``never``;
- ``care_status`` (category ``care-status`` only): the care-status code to record, so
  the source's own value (which may carry a reason) is never copied.

A ``batch`` table adds what a CSV or JSON Lines export needs: the identifier system of its
row ids, the code system of its code column, and which column holds what. See
``config/mappings/README.md`` for the file format and ``adapters/README.md`` for use.
Raises ``MappingError`` (exit 2 on the command line) for any file that does not fit.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract import ijson
from contract.errors import GatewayError, InvalidRequest
from profiles.catalog import CARE_STATUS_SYSTEM, codes, load_profiles

SHAREABLE = ("marked", "always", "never")
IGNORE = "ignore"
#: Columns a batch file may map; ``id``, ``bsn`` and ``code`` are required.
BATCH_FIELDS = ("id", "bsn", "code", "date", "title", "text", "status", "shareable", "members", "phone")
BATCH_REQUIRED = ("id", "bsn", "code")
TRUE_VALUES = ("ja", "j", "yes", "y", "true", "1", "x")
FALSE_VALUES = ("nee", "n", "no", "false", "0", "")


class MappingError(GatewayError):
    """A mapping file is missing, malformed or names an unknown category."""

    code = "invalid-request"
    message_nl = "Het mappingbestand is ongeldig."


@dataclass(frozen=True)
class CodeRule:
    """What one source code becomes."""

    system: str
    code: str
    category: str  # a summary category, or IGNORE
    shareable: str = "marked"
    care_status: str = ""

    @property
    def ignored(self) -> bool:
        return self.category == IGNORE


@dataclass(frozen=True)
class BatchLayout:
    """How a CSV / JSON Lines export is laid out (the mapping's ``batch`` table)."""

    identifier_system: str  # the link back to the source: system of the row ids
    code_system: str  # the code system the code column's values belong to
    columns: tuple[tuple[str, str], ...]  # (field, column name in the file)
    delimiter: str = ""  # CSV: "," ";" or tab; "" = guess from the header line

    def column(self, name: str) -> str | None:
        return dict(self.columns).get(name)


@dataclass(frozen=True)
class Mapping:
    name: str
    rules: tuple[CodeRule, ...]
    shareable_mark: tuple[str, str] | None = None  # (system, code) of the source's own mark
    batch: BatchLayout | None = None

    def rule_for(self, codings: list[tuple[str, str]]) -> CodeRule | None:
        """Return the rule of the first mapped (system, code); None when none is mapped.

        Raises ``InvalidRequest`` when the codings map to two different categories: the
        adapter never guesses which one the author meant.
        """
        index = {(r.system, r.code): r for r in self.rules}
        found = [index[c] for c in codings if c in index]
        if len({r.category for r in found}) > 1:
            names = ", ".join(sorted({f"{r.code}->{r.category}" for r in found}))
            raise InvalidRequest(f"codes map to more than one category ({names})")
        return found[0] if found else None

    def shareable(self, rule: CodeRule, marked: bool) -> bool:
        """Whether the record's free text may leave the node (see the module docstring)."""
        return rule.shareable == "always" or (rule.shareable == "marked" and marked)


def load(path: str | Path, *, home: Path | None = None) -> Mapping:
    """Read and check a mapping file (``.json`` or ``.toml``); a relative path is taken from ``home``."""
    file = Path(path)
    if not file.is_absolute() and home is not None:
        file = home / file
    if not file.is_file():
        raise MappingError(f"mapping file {path} not found")
    raw = file.read_bytes()
    try:
        if file.suffix == ".toml":
            data = tomllib.loads(raw.decode("utf-8"))
        elif file.suffix == ".json":
            data = ijson.loads(raw, error=ValueError)
        else:
            raise MappingError(f"mapping {file.name}: use a .json or .toml file")
    except (ValueError, UnicodeDecodeError) as exc:
        raise MappingError(f"mapping {file.name} cannot be read: {exc}") from None
    return parse(data, file.stem)


def parse(data: Any, name: str) -> Mapping:
    """Build a ``Mapping`` from parsed JSON/TOML; raise MappingError naming the first problem."""
    if not isinstance(data, dict):
        raise MappingError(f"mapping {name}: expected an object at the top")
    unknown = set(data) - {"description", "codes", "shareable_mark", "batch"}
    if unknown:
        raise MappingError(f"mapping {name}: unknown key(s) {sorted(unknown)}")
    profiles = load_profiles()
    care_status = set(codes(CARE_STATUS_SYSTEM))
    rules, seen = [], set()
    entries = data.get("codes")
    if not isinstance(entries, list) or not entries:
        raise MappingError(f"mapping {name}: 'codes' lists at least one code")
    for i, entry in enumerate(entries):
        where = f"mapping {name}: codes[{i}]"
        if not isinstance(entry, dict) or set(entry) - {
            "system",
            "code",
            "category",
            "shareable",
            "care_status",
            "display",
        }:
            raise MappingError(f"{where}: expected system, code, category, shareable, care_status")
        system, code, category = entry.get("system"), entry.get("code"), entry.get("category")
        if not (
            isinstance(system, str)
            and system
            and isinstance(code, str)
            and code
            and isinstance(category, str)
            and category
        ):
            raise MappingError(f"{where}: system, code and category are required strings")
        if category != IGNORE and category not in profiles:
            raise MappingError(f"{where}: unknown category {category!r} (one of {sorted(profiles)} or 'ignore')")
        share = entry.get("shareable", "marked")
        if share not in SHAREABLE:
            raise MappingError(f"{where}: shareable is one of {SHAREABLE}")
        status = entry.get("care_status", "")
        if category == "care-status" and status not in care_status:
            raise MappingError(f"{where}: category care-status needs care_status, one of {sorted(care_status)}")
        if category != "care-status" and status:
            raise MappingError(f"{where}: care_status belongs to category care-status only")
        if (system, code) in seen:
            raise MappingError(f"{where}: {system}|{code} is mapped twice")
        seen.add((system, code))
        rules.append(CodeRule(system, code, category, share, status))
    mark = data.get("shareable_mark")
    if mark is not None and not (
        isinstance(mark, dict) and isinstance(mark.get("system"), str) and isinstance(mark.get("code"), str)
    ):
        raise MappingError(f"mapping {name}: shareable_mark has a system and a code")
    return Mapping(
        name=name,
        rules=tuple(rules),
        shareable_mark=(mark["system"], mark["code"]) if mark else None,
        batch=_batch(data.get("batch"), name),
    )


def _batch(data: Any, name: str) -> BatchLayout | None:
    if data is None:
        return None
    where = f"mapping {name}: batch"
    if not isinstance(data, dict) or set(data) - {"identifier_system", "code_system", "columns", "delimiter"}:
        raise MappingError(f"{where}: expected identifier_system, code_system, columns, delimiter")
    ident, code_system = data.get("identifier_system"), data.get("code_system")
    if not (isinstance(ident, str) and ident and isinstance(code_system, str) and code_system):
        raise MappingError(f"{where}: identifier_system and code_system are required")
    columns = data.get("columns")
    if not isinstance(columns, dict) or not all(isinstance(v, str) and v for v in columns.values()):
        raise MappingError(f"{where}: columns maps field names to column names")
    bad = set(columns) - set(BATCH_FIELDS)
    if bad:
        raise MappingError(f"{where}: unknown field(s) {sorted(bad)}; fields are {list(BATCH_FIELDS)}")
    missing = [f for f in BATCH_REQUIRED if f not in columns]
    if missing:
        raise MappingError(f"{where}: columns needs {missing}")
    delimiter = data.get("delimiter", "")
    if delimiter not in ("", ",", ";", "\t", "|"):
        raise MappingError(f"{where}: delimiter is ',', ';', '|' or a tab")
    return BatchLayout(ident, code_system, tuple(columns.items()), delimiter)
