"""A youth-care team without an EHR API imports its nightly export (issue 6, batch files).

``gateway import DIR FILE --mapping MAPPING`` with the example mapping in
``config/mappings/jeugd-export.toml``: a file goes in whole or not at all, every bad row is
named with its line number, the same file twice changes nothing, and a file that is not
UTF-8 is refused before any row is read. Real SQLite and PostgreSQL stores.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.store.models import AuditEntry, Record
from gateway import config
from gateway.cli.main import main as gateway_main
from gateway.demo import data as d
from gateway.fhir import fhir_in
from gateway.fhir.fhir_in import CATEGORY_SYSTEM, DISCLOSURE_SYSTEM
from gateway.node import build
from gateway.services import registry

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "config" / "mappings" / "jeugd-export.toml"
LINK = "https://jeugd-epd.example/export/regel-id"
MOTHER, FATHER, CHILD = d.bsn(7001), d.bsn(7002), d.bsn(7003)
STRANGER = d.bsn(7004)  # passes the eleven-test, never registered here
HEADER = "regel_id;bsn;soort;datum;titel;tekst;deelbaar;status;betrokkenen;telefoon"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def gateway(*args: Any) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = gateway_main([str(a) for a in args])
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def node(home: Path) -> Iterator[Any]:
    """The team's node with the family registered (the import refuses unknown people)."""
    n = build(config.load(home))
    for bsn, born, given in (
        (MOTHER, date(1990, 3, 1), "Sanne"),
        (FATHER, date(1988, 7, 9), "Kees"),
        (CHILD, date(2016, 5, 4), "Noor"),
    ):
        registry.register_person(n, fhir_in.patient(d.patient(bsn, born, given, "Jansen")))
    yield n
    n.uow.engine.dispose()


def good_rows() -> list[str]:
    return [
        f"R1;{MOTHER};SIGNAAL;2026-11-02;Slaapt slecht;Trekt zich terug, belt dan de wijkcoach.;ja;;;",
        f"R2;{MOTHER};VEILIGHEIDSPLAN;01-10-2026;Veiligheidsplan;Oma vangt de kinderen op bij terugval.;ja;;;",
        f'R3;{MOTHER};BETROKKENEN;;Team West;;nee;;"Wijkcoach: P. Smit; Jeugdarts: dr. K. Aydin";020-5551234',
        f"R4;{CHILD};OPVOEDING;2026-11-10;School;Komt vaker te laat op school.;nee;;;",
        f"R5;{FATHER};IN_ZORG;2026-11-01;;;;;;",
        f"R6;{MOTHER};RAPPORTAGE;2026-11-03;Gesprek;Behandelnotitie die het huis nooit verlaat.;nee;;;",
        f'"R7";"{MOTHER}";"SIGNAAL";"2026-11-04";"Onrust";"Meerdere regels:\nloopt \'s nachts rond.";"ja";;;',
    ]


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", "utf-8")
    return path


def records(node: Any) -> dict[str, dict[str, Any]]:
    with node.uow() as uow:
        rows = uow.session.scalars(select(Record)).all()
        return {
            r.source_id: {
                "system": r.source_system,
                "category": r.category,
                "shareable": r.shareable,
                "type": r.resource_type,
                "updated_at": r.updated_at,
                "resource": json.loads(r.resource),
            }
            for r in rows
        }


def audit_count(node: Any) -> int:
    with node.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_an_export_with_bad_rows_is_refused_whole_and_every_bad_row_is_named(
    node: Any, home: Path, tmp_path: Path
) -> None:
    rows = good_rows()
    bad = [
        "B1;123456789;SIGNAAL;2026-11-02;x;y;ja;;;",  # BSN fails the eleven-test
        f"B2;{MOTHER};DIAGNOSE;2026-11-02;x;y;ja;;;",  # code not in the mapping
        f"B3;{MOTHER};SIGNAAL;31-02-2026;x;y;ja;;;",  # no such day
        f"B4;{STRANGER};SIGNAAL;2026-11-02;x;y;ja;;;",  # person not registered here
        f"R1;{MOTHER};SIGNAAL;2026-11-05;x;y;ja;;;",  # id already on line 2
        f"B6;{MOTHER};SIGNAAL;2026-11-02;x;y;misschien;;;",  # not ja/nee
        f"B7;{MOTHER};SIGNAAL",  # too few fields
    ]
    file = write_csv(tmp_path / "export.csv", rows + bad)
    before = audit_count(node)

    run = gateway("import", home, file, "--mapping", MAPPING)

    assert run.code == 2, run
    lines = run.err.strip().splitlines()
    first_bad = 2 + len(rows) + 1  # header, good rows (R7 spans two lines)
    reported = {int(line.split(": line ")[1].split(":")[0]): line for line in lines[:-1]}
    assert sorted(reported) == list(range(first_bad, first_bad + len(bad))), run.err
    assert "eleven-test" in reported[first_bad]
    assert "unknown code 'DIAGNOSE'" in reported[first_bad + 1]
    assert "does not exist" in reported[first_bad + 2]
    assert "niet geregistreerd" in reported[first_bad + 3]
    assert "line 2 too" in reported[first_bad + 4]
    assert "ja/nee" in reported[first_bad + 5]
    assert "expected 10 fields, found 3" in reported[first_bad + 6]
    assert lines[-1] == f"gateway: {file}: {len(bad)} bad row(s) of {len(rows) + len(bad)}; nothing imported"
    assert "Traceback" not in run.err
    assert records(node) == {} and audit_count(node) == before


def test_a_clean_export_goes_in_once_and_the_same_file_again_changes_nothing(
    node: Any, home: Path, tmp_path: Path
) -> None:
    file = write_csv(tmp_path / "export.csv", good_rows())

    first = gateway("import", home, file, "--mapping", MAPPING)

    assert first.code == 0, first
    assert first.err == ""  # stderr is no terminal here: no progress bar
    assert first.out.strip() == f"{file}: 7 rows: 6 created, 0 updated, 0 unchanged, 1 not mapped"
    stored = records(node)
    assert set(stored) == {"R1", "R2", "R3", "R4", "R5", "R7"}  # R6 (a treatment note) never enters
    assert {s["system"] for s in stored.values()} == {LINK}
    assert {k: (v["type"], v["category"], v["shareable"]) for k, v in stored.items()} == {
        "R1": ("Observation", "signals", True),
        "R2": ("CarePlan", "safety-plan", True),
        "R3": ("CareTeam", "care-team", True),
        "R4": ("Observation", "parenting", False),
        "R5": ("Observation", "care-status", False),
        "R7": ("Observation", "signals", True),
    }
    team = stored["R3"]["resource"]
    assert [(p["role"][0]["text"], p["member"]["display"]) for p in team["participant"]] == [
        ("Wijkcoach", "P. Smit"),
        ("Jeugdarts", "dr. K. Aydin"),
    ]
    assert stored["R2"]["resource"]["period"] == {"start": "2026-10-01"}
    assert stored["R7"]["resource"]["valueString"] == "Meerdere regels:\nloopt 's nachts rond."
    assert stored["R5"]["resource"]["valueCodeableConcept"]["coding"][0]["code"] == "in-care-reachable"
    assert {"system": CATEGORY_SYSTEM, "code": "signals"} in stored["R1"]["resource"]["category"][0]["coding"]
    assert stored["R1"]["resource"]["meta"]["tag"] == [{"system": DISCLOSURE_SYSTEM, "code": "shareable"}]
    audit = audit_count(node)

    again = gateway("import", home, file, "--mapping", MAPPING)

    assert again.code == 0, again
    assert again.out.strip() == f"{file}: 7 rows: 0 created, 0 updated, 6 unchanged, 1 not mapped"
    assert records(node) == stored  # not even updated_at moved
    assert audit_count(node) == audit  # nothing written, nothing to audit


def test_a_corrected_row_updates_its_record_instead_of_adding_one(node: Any, home: Path, tmp_path: Path) -> None:
    rows = good_rows()
    assert gateway("import", home, write_csv(tmp_path / "day1.csv", rows), "--mapping", MAPPING).code == 0
    rows[0] = rows[0].replace("Trekt zich terug", "Trekt zich sterk terug")

    run = gateway("import", home, write_csv(tmp_path / "day2.csv", rows), "--mapping", MAPPING)

    assert run.code == 0, run
    assert "0 created, 1 updated, 5 unchanged" in run.out
    stored = records(node)
    assert len(stored) == 6
    assert stored["R1"]["resource"]["valueString"].startswith("Trekt zich sterk terug")


def test_a_json_lines_export_follows_the_same_rules(node: Any, home: Path, tmp_path: Path) -> None:
    good = [
        {
            "regel_id": "J1",
            "bsn": MOTHER,
            "soort": "SIGNAAL",
            "datum": "2026-11-02T09:30:00+01:00",
            "tekst": "Belt niet terug.",
            "deelbaar": True,
        },
        {"regel_id": 2, "bsn": CHILD, "soort": "OPVOEDING", "tekst": "Eet slecht.", "deelbaar": "nee"},
    ]
    bad = [
        '{"regel_id": "J3", "bsn": 123456782, "soort": "SIGNAAL"}',  # a BSN as a number loses zeros
        '{"regel_id": "J4", "bsn": "' + MOTHER + '", "soort": "SIGNAAL", "soort": "OPVOEDING"}',
        '["J5"]',
        '{"regel_id": "J6", "bsn": "' + MOTHER + '", "soort": "SIGNAAL", "datum": "gisteren"}',
        '{"regel_id": "J7", "soort": "SIGNAAL"}',
    ]
    file = tmp_path / "export.jsonl"
    file.write_text("\n".join([json.dumps(g) for g in good] + [""] + bad) + "\n", "utf-8")

    run = gateway("import", home, file, "--mapping", MAPPING)

    assert run.code == 2, run
    lines = run.err.strip().splitlines()
    assert [line.split(": ")[1] for line in lines[:-1]] == ["line 4", "line 5", "line 6", "line 7", "line 8"]
    assert "leading zero" in lines[0] and "Dubbele sleutel" in lines[1] and "not a JSON object" in lines[2]
    assert "gisteren" in lines[3] and "is not a BSN" in lines[4]
    assert records(node) == {}

    file.write_text("\n".join(json.dumps(g) for g in good) + "\n", "utf-8")
    assert gateway("import", home, file, "--mapping", MAPPING).code == 0
    again = gateway("import", home, file, "--mapping", MAPPING)
    assert "0 created, 0 updated, 2 unchanged" in again.out
    assert set(records(node)) == {"J1", "2"}


def test_a_file_that_is_not_utf8_is_refused_before_any_row(node: Any, home: Path, tmp_path: Path) -> None:
    text = "\n".join([HEADER, *good_rows()[:2], f"R9;{MOTHER};SIGNAAL;2026-11-02;Café;Één keer;ja;;;"]) + "\n"
    file = tmp_path / "export.csv"
    file.write_bytes(text.encode("cp1252"))  # what a spreadsheet on Windows writes by default

    run = gateway("import", home, file, "--mapping", MAPPING)

    assert run.code == 2
    assert run.err.count("\n") == 1 and "Traceback" not in run.err
    assert "is not UTF-8 (byte 0xe9 on line 4)" in run.err
    assert records(node) == {}


def test_a_wrong_header_or_file_type_is_one_clear_line(node: Any, home: Path, tmp_path: Path) -> None:
    csv_file = tmp_path / "export.csv"
    csv_file.write_text("id,bsn,code\nR1,{MOTHER},SIGNAAL\n", "utf-8")
    other = tmp_path / "export.xlsx"
    other.write_bytes(b"PK\x03\x04")

    for file, reason in ((csv_file, "the header lacks column(s) ['regel_id'"), (other, "use a .csv, .jsonl")):
        run = gateway("import", home, file, "--mapping", MAPPING)
        assert run.code == 2 and run.err.count("\n") == 1 and reason in run.err, run


def test_a_terminal_sees_a_progress_bar(node: Any, home: Path, tmp_path: Path) -> None:
    rows = [f"P{i};{MOTHER};SIGNAAL;2026-11-02;t;Regel {i};ja;;;" for i in range(300)]
    file = write_csv(tmp_path / "big.csv", rows)
    primary, replica = pty.openpty()
    env = {**os.environ, "COLUMNS": "100"}
    command = [
        sys.executable,
        "-c",
        "import sys; from gateway.cli.main import main; sys.exit(main())",
        "import",
        str(home),
        str(file),
        "--mapping",
        str(MAPPING),
    ]
    proc = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=replica,
        env=env,  # our own CLI
        timeout=120,
        check=False,
    )
    os.close(replica)
    shown = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(primary, 65536):
            shown += chunk
    os.close(primary)

    assert proc.returncode == 0, shown
    assert b"importing big.csv" in shown and b"100%" in shown
    assert b"300 created" in proc.stdout
