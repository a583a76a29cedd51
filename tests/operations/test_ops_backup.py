"""The night-time backup of a live node, and the morning someone has to restore it.

GGZ Noord serves (real gunicorn, exchanges under way) while ``gateway backup`` takes its
snapshot; the file is restored into a fresh home, on the same kind of store and across
(SQLite to PostgreSQL), and the restored node's audit chain verifies and it is the same
node to its partners: the same keys, the same people, the same log.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, func, select

from adapters.store.models import AuditEntry, Person
from gateway import config
from gateway.app import create_app
from gateway.cli.main import main
from gateway.demo import runner as demo
from gateway.demo.loopback import run_cli
from tests.conftest import PG, STORES, StoreFactory


def _gateway(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _count(url: str, model: Any) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(model)).scalar_one())
    finally:
        engine.dispose()


def _busy(node: Any, stop: threading.Event) -> threading.Thread:
    """An EHR looking people up all the while: every lookup appends audit entries."""
    api = node.session("ggz-epd", "uzi:900000101")

    def run() -> None:
        while not stop.is_set():
            api.get("/fhir/Patient", identifier=f"http://fhir.nl/fhir/NamingSystem/bsn|{demo.MOTHER}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_backup_of_a_serving_node_restores_into_a_fresh_home_whose_audit_verifies(
    federation: Any, tmp_path: Path, stores: StoreFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    ggz, jeugd, ids = federation
    played = demo.play(ggz, jeugd, ids, echo=lambda *_: None)
    assert played["first"].status_code == 200
    stop = threading.Event()
    busy = _busy(ggz, stop)
    try:
        code, out, err = _gateway(capsys, "backup", str(ggz.home), "--out", str(tmp_path / "ggz.tar.gz"))
    finally:
        stop.set()
        busy.join(10)
    assert code == 0, err
    assert (tmp_path / "ggz.tar.gz").stat().st_mode & 0o077 == 0  # keys inside: owner only
    with tarfile.open(tmp_path / "ggz.tar.gz") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest["org_id"] == "ggz-noord" and manifest["audit_head"]["seq"] > 0

    target = stores.url()  # None: SQLite in the new home; else a fresh PostgreSQL schema
    args = ["restore", str(tmp_path / "ggz.tar.gz"), str(tmp_path / "restored")] + (["--db", target] if target else [])
    code, out, err = _gateway(capsys, *args)

    assert code == 0, err
    assert "audit intact" in out
    restored = config.load(tmp_path / "restored")
    # the snapshot is one instant: exactly the head the manifest names, every entry up to it
    assert _count(restored.store.url, AuditEntry) >= manifest["audit_head"]["seq"]
    assert _count(restored.store.url, Person) == manifest["rows"]["persons"]
    app = create_app(restored)
    try:
        jwks = app.test_client().get("/.well-known/jwks.json").get_json()
    finally:
        app.extensions["gateway"].uow.engine.dispose()

    assert jwks == requests.get(ggz.url + "/.well-known/jwks.json", timeout=5).json()  # the same node to partners
    code, out, _ = _gateway(capsys, "audit", "verify", str(tmp_path / "restored"))
    assert code == 0 and "intact" in out


@pytest.mark.skipif("postgresql" not in STORES, reason="needs the PostgreSQL store")
def test_a_sqlite_node_moves_to_postgresql_through_backup_and_restore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "wijkteam"
    run_cli("init", str(home), "--org-id", "wijkteam-oost", "--name", "Wijkteam Oost")
    run_cli("client", "add", str(home), "--client-id", "epd", "--role", "ehr")
    run_cli("keys", "rotate", str(home))
    assert _gateway(capsys, "backup", str(home), "--out", str(tmp_path / "w.tgz"))[0] == 0
    pg = StoreFactory("postgresql")
    try:
        code, out, err = _gateway(
            capsys, "restore", str(tmp_path / "w.tgz"), str(tmp_path / "on-pg"), "--db", pg.url() or ""
        )
        assert code == 0, err
        restored = config.load(tmp_path / "on-pg")
        assert restored.store.url.startswith(PG.split("?")[0])
        assert "intact" in _gateway(capsys, "audit", "verify", str(tmp_path / "on-pg"))[1]
        # the node keeps working on its new store: a new audit entry goes on the restored chain
        assert (
            _gateway(
                capsys, "client", "add", str(tmp_path / "on-pg"), "--client-id", "portal", "--role", "professional"
            )[0]
            == 0
        )
        assert "intact" in _gateway(capsys, "audit", "verify", str(tmp_path / "on-pg"))[1]
    finally:
        pg.cleanup()


def _a_backup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    run_cli("init", str(tmp_path / "n"), "--org-id", "ggz-noord", "--name", "GGZ Noord")
    run_cli("client", "add", str(tmp_path / "n"), "--client-id", "epd", "--role", "ehr")  # one audit entry
    assert _gateway(capsys, "backup", str(tmp_path / "n"), "--out", str(tmp_path / "b.tgz"))[0] == 0
    return tmp_path / "b.tgz"


def test_a_damaged_backup_is_refused_and_nothing_is_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = _a_backup(tmp_path, capsys)
    members: dict[str, bytes] = {}
    with tarfile.open(good) as tar:
        for m in tar.getmembers():
            members[m.name] = tar.extractfile(m).read()  # type: ignore[union-attr]
    original = members["store/audit_entries.jsonl"]
    members["store/audit_entries.jsonl"] = original.replace(b'"outcome":"', b'"outcome":"x', 1)  # one edited byte
    assert members["store/audit_entries.jsonl"] != original
    bad = tmp_path / "bad.tgz"

    with tarfile.open(bad, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    code, _, err = _gateway(capsys, "restore", str(bad), str(tmp_path / "r"))

    assert code == 2 and "damaged" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_restore_never_overwrites_a_node_and_backup_never_overwrites_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _a_backup(tmp_path, capsys)
    code, _, err = _gateway(capsys, "restore", str(good), str(tmp_path / "n"))
    assert code == 2 and "holds a node already" in err
    code, _, err = _gateway(capsys, "backup", str(tmp_path / "n"), "--out", str(good))
    assert code == 2 and "never overwrites" in err
