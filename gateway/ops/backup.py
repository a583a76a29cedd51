"""``gateway backup`` and ``gateway restore``: a consistent, online snapshot of one node.

A backup is one owner-only ``.tar.gz`` holding:

- ``manifest.json``: format, org id, when, the store's Alembic revision, the audit head
  (seq and hash), row counts, and the SHA-256 of every other member;
- ``node.toml`` as it is (it holds no secret: passwords and PINs come from the environment);
- ``keys/``: ``keyring.json`` and the private key files. Keys on an HSM are in the backup
  only as their reference (``CKA_ID``); the token itself is backed up with the HSM's own
  procedure, which this node cannot do and does not pretend to.
- ``store/<table>.jsonl``: every row of every table, read in **one read-only transaction**
  (SQLite: one WAL snapshot; PostgreSQL: ``REPEATABLE READ READ ONLY``), so the node keeps
  serving and the snapshot is what the store held at one instant. The key ring is read
  after the snapshot: every key that signed an audit head in it is on disk by then.

Rows are written as JSON through the node's own table definitions (SQLAlchemy Core),
dates and bytes tagged, so a backup restores into either store: a SQLite node can move to
PostgreSQL by restoring with ``--db``. ``restore`` refuses a damaged file (checksums), a
home or store that holds a node already, and a backup of a newer schema than this
version knows; it builds the schema to the backup's revision, loads the rows, upgrades to
the newest revision and then verifies the restored audit chain.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, inspect, select, text
from sqlalchemy.engine import make_url

from adapters.store import alembic_config, make_engine, migrate, revision_of
from adapters.store.engine import READ_ONLY, is_postgres
from adapters.store.models import Base
from contract.errors import GatewayError, InvalidRequest

FORMAT = "jggz-gateway-backup/1"
_BATCH = 1000


class BackupError(GatewayError):
    """A backup cannot be made, or a file is not a usable backup of a node."""

    code = "invalid-request"
    message_nl = "De back-up is niet bruikbaar."


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, (bytes, memoryview)):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        ((tag, value),) = obj.items()
        if tag == "$dt":
            return datetime.fromisoformat(value)
        if tag == "$d":
            return date.fromisoformat(value)
        if tag == "$b":
            return base64.b64decode(value)
    return obj


@dataclass(frozen=True)
class Made:
    path: Path
    rows: int
    audit_seq: int


def _tables(engine: Engine) -> list[Any]:
    """The node's tables, parents first; refuse a store holding a table this version does not know."""
    known = {t.name for t in Base.metadata.sorted_tables}
    present = set(inspect(engine).get_table_names()) - {"alembic_version"}
    unknown = sorted(present - known)
    if unknown:
        raise BackupError(
            f"the store holds tables this version does not know: {', '.join(unknown)}; "
            "back it up with the version that made them"
        )
    return [t for t in Base.metadata.sorted_tables if t.name in present]


def _snapshot(engine: Engine) -> tuple[str | None, dict[str, bytes], dict[str, int]]:
    """Read every table in one read-only transaction; return (revision, files, counts)."""
    tables = _tables(engine)
    files: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    options: dict[str, Any] = {READ_ONLY: True}
    if is_postgres(engine):
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with engine.connect().execution_options(**options) as conn, conn.begin():
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        for table in tables:
            out = io.StringIO()
            n = 0
            order = list(table.primary_key.columns) or list(table.columns)
            for row in conn.execute(select(table).order_by(*order)).mappings():
                out.write(
                    json.dumps(
                        {k: _encode(v) for k, v in row.items()},
                        ensure_ascii=False,
                        separators=(",", ":"),
                        allow_nan=False,
                    )
                )
                out.write("\n")
                n += 1
            files[f"store/{table.name}.jsonl"] = out.getvalue().encode("utf-8")
            counts[table.name] = n
    return revision, files, counts


def _key_files(home: Path) -> dict[str, bytes]:
    keydir = home / "keys"
    ring = json.loads((keydir / "keyring.json").read_text("utf-8"))
    files = {"keys/keyring.json": (keydir / "keyring.json").read_bytes()}
    for entry in ring["keys"]:
        if entry.get("store", "file") == "file":
            files[f"keys/{entry['kid']}.pem"] = (keydir / f"{entry['kid']}.pem").read_bytes()
    return files


def make(cfg: Any, engine: Engine, out: Path) -> Made:
    """Write a backup of the node configured by ``cfg`` to ``out`` (owner-only; never overwritten).

    Needs the store and the node home only, not the keys themselves: a node whose keys are
    on an HSM is backed up without its PIN.
    """
    home = Path(cfg.home)
    revision, files, counts = _snapshot(engine)
    head = _head(files)
    files.update(_key_files(home))
    files["node.toml"] = (home / "node.toml").read_bytes()
    manifest = {
        "format": FORMAT,
        "org_id": cfg.node.org_id,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "revision": revision,
        "store": engine.dialect.name,
        "rows": counts,
        "audit_head": head,
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    files["manifest.json"] = json.dumps(manifest, indent=2).encode("utf-8")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name in ["manifest.json", *sorted(n for n in files if n != "manifest.json")]:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o600, int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(files[name]))
    return Made(out, sum(counts.values()), head["seq"])


def _head(files: dict[str, bytes]) -> dict[str, Any]:
    lines = files.get("store/audit_head.jsonl", b"").decode("utf-8").splitlines()
    row = json.loads(lines[0]) if lines else {}
    return {"seq": int(row.get("seq", 0)), "hash": row.get("hash", "")}


def read(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Open a backup; check its format and every checksum. Raises BackupError."""
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            files: dict[str, bytes] = {}
            for member in tar.getmembers():
                if not member.isfile() or member.name.startswith("/") or ".." in member.name.split("/"):
                    raise BackupError(f"{path}: unexpected member {member.name!r}")
                fh = tar.extractfile(member)
                assert fh is not None
                files[member.name] = fh.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{path} is not a readable backup ({type(exc).__name__})") from None
    try:
        manifest = json.loads(files.pop("manifest.json"))
    except (KeyError, ValueError):
        raise BackupError(f"{path} has no manifest: not a gateway backup") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format {manifest.get('format')!r}")
    sums = manifest.get("sha256", {})
    if set(sums) != set(files):
        raise BackupError(f"{path}: members differ from the manifest")
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != sums[name]:
            raise BackupError(f"{path}: {name} is damaged (checksum)")
    return manifest, files


def restore(path: Path, home: Path, store_url: str | None) -> dict[str, Any]:
    """Restore the backup at ``path`` into the new node home ``home``; return its manifest."""
    manifest, files = read(path)
    revision = manifest["revision"]
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if revision not in known:
        raise BackupError(f"the backup's schema {revision!r} is newer than this version: upgrade first")
    home = home.resolve()
    if (home / "node.toml").exists() or (home / "keys").exists():
        raise InvalidRequest(f"{home} holds a node already; restore into a new directory")
    toml = files["node.toml"].decode("utf-8")
    target = store_url or _default_store(toml, home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(home / "node.toml", _with_store(toml, target).encode("utf-8"))
    (home / "keys").mkdir(mode=0o700)
    for name, data in files.items():
        if name.startswith("keys/"):
            _write(home / name, data)
    if target.startswith("sqlite:///"):
        db = Path(target.removeprefix("sqlite:///"))
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    engine = make_engine(target)
    try:
        if revision_of(engine) is not None:
            raise InvalidRequest("the target store holds a node already; restore into an empty one")
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
        _load_rows(engine, files)
        migrate(engine)
    finally:
        engine.dispose()
    return manifest


def _load_rows(engine: Engine, files: dict[str, bytes]) -> None:
    with engine.begin() as conn:
        present = set(inspect(conn).get_table_names())
        # rows the migrations seed (one-row state tables) make way for the backup's own
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in present and f"store/{table.name}.jsonl" in files:
                conn.execute(table.delete())
        for table in Base.metadata.sorted_tables:
            data = files.get(f"store/{table.name}.jsonl")
            if data is None or table.name not in present:
                continue
            batch: list[dict[str, Any]] = []
            for line in data.decode("utf-8").splitlines():
                batch.append(json.loads(line, object_hook=_decode))
                if len(batch) >= _BATCH:
                    conn.execute(insert(table), batch)
                    batch = []
            if batch:
                conn.execute(insert(table), batch)
            if is_postgres(engine):  # serial ids continue after the restored ones
                for col in table.primary_key.columns:
                    if col.autoincrement is True:
                        conn.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'), "  # noqa: S608 - our schema's names
                                f"COALESCE((SELECT max({col.name}) FROM {table.name}), 0) + 1, false)"
                            )
                        )


def _default_store(toml: str, home: Path) -> str:
    url = str(tomllib.loads(toml).get("store", {}).get("url", ""))
    if url.startswith("sqlite:///") or not url:
        return f"sqlite:///{home / 'node.db'}"
    return os.environ.get("GATEWAY_STORE_URL", url)


def _with_store(toml: str, url: str) -> str:
    """``node.toml`` with ``[store] url`` set to ``url`` (no password is ever written)."""
    shown = (
        make_url(url).render_as_string(hide_password=False)
        if url.startswith("sqlite")
        else make_url(url).set(password=None).render_as_string(hide_password=False)
    )
    out, section = [], ""
    for line in toml.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
        if section == "[store]" and stripped.split("=", 1)[0].strip() == "url":
            line = f'url = "{shown}"'
        out.append(line)
    return "\n".join(out) + "\n"


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
