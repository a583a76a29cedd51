"""The ``gateway`` command (contract section 1).

Exit codes: 0 success, 2 usage or bad input (one line on stderr), 1 other failure. No
command prints a stack trace for an expected error: ``main`` is the CLI's one mapping
from errors to a stderr line and an exit code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click

from contract.errors import GatewayError, InvalidRequest, StoreUnavailable
from gateway.cli import federation, ops
from gateway.cli.common import Failure
from gateway.cli.common import open_node as _node
from gateway.cli.text import english


def _version() -> str:
    try:
        return version("jeugd-ggz-gateway")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="gateway", message="%(prog)s %(version)s")
def cli() -> None:
    """Federated consented-summary gateway for youth care and adult mental health care."""


@cli.command()
@click.argument("home", type=click.Path(file_okay=False))
@click.option("--org-id", required=True, help="This organisation's id in the federation.")
@click.option("--name", required=True, help="Human-readable organisation name.")
@click.option("--url", default=None, help="Public base URL (default http://127.0.0.1:8400).")
@click.option("--db", default=None, help="SQLAlchemy URL (default: SQLite file in HOME).")
@click.option("--alg", type=click.Choice(["ES256", "EdDSA"]), default="ES256", show_default=True)
def init(home: str, org_id: str, name: str, url: str | None, db: str | None, alg: str) -> None:
    """Create a node home: node.toml, a private signing key and an empty store.

    Refuses a home or a store that holds a node already. Whatever fails half-way is
    undone, so the operator can correct the input and run ``init`` again.
    """
    from gateway import config  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.keys import KeyRing  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.repositories import audit_log  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    path = Path(home).resolve()
    if (path / "node.toml").exists() or (path / "keys").exists():
        raise click.UsageError(f"{path} holds a node already; refusing to overwrite it")
    url = (url or "http://127.0.0.1:8400").rstrip("/")
    try:
        port = urlparse(url).port or (443 if url.startswith("https") else 80)
    except ValueError:
        raise click.UsageError(f"--url {url!r} is not an http(s) URL with a valid port") from None
    store_url = db or f"sqlite:///{path / 'node.db'}"
    made: list[Path] = []  # what this run created, removed again if it fails
    if not path.exists():
        made.append(path)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_owner_only(path / "node.toml", config.render_toml(org_id, name, url, store_url, alg, port))
        made.append(path / "node.toml")
        cfg = config.load(path)
        made += _open_empty_store(cfg.store.url)
        from gateway.hsm import token_of  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

        ring = KeyRing.create(path, alg, hsm=token_of(cfg) if cfg.keys.backend == "pkcs11" else None)
        made.append(path / "keys")
        node = _node(home)
        audit_log.init_chain(node)
    except BaseException:
        _undo(made)
        raise
    click.echo(f"org id: {org_id}")
    click.echo(f"node home: {path}")
    click.echo(ring.thumbprint())


def _write_owner_only(path: Path, text: str) -> None:
    # node.toml may hold a database password (--db): owner only, like the key
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _open_empty_store(url: str) -> list[Path]:
    """Create (SQLite: owner-only file) and migrate a store that holds no node yet.

    Returns the files it created. Raises ConfigError (exit 2) when the store cannot be
    opened or already holds a node: both are the operator's ``--db`` to correct.
    """
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    from adapters.store import make_engine, migrate, revision_of  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.config import ConfigError  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    created: list[Path] = []
    database = make_url(url).database
    if url.startswith("sqlite") and database and database != ":memory:":
        db_file = Path(database)
        if not db_file.exists():
            try:
                # SQLite gives its -wal and -shm files the database file's mode
                os.close(os.open(db_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except OSError as exc:
                raise ConfigError(_store_problem(url, exc)) from None
            created += [db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")]
    engine = make_engine(url)
    try:
        if revision_of(engine) is not None:
            raise ConfigError(f"the store {_shown(url)} holds a node already; refusing to overwrite it")
        migrate(engine)
    except SQLAlchemyError as exc:
        raise ConfigError(_store_problem(url, exc)) from None
    finally:
        engine.dispose()
    return created


def _shown(url: str) -> str:
    """The store URL as it may be printed: never with its password."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is not shown at all
        return "(the configured store)"


def _store_problem(url: str, exc: BaseException) -> str:
    """One line naming the store and the driver's first line of complaint."""
    reason = str(getattr(exc, "strerror", None) or getattr(exc, "orig", None) or exc).strip()
    return f"cannot open the store {_shown(url)}: {(reason.splitlines() or ['unknown error'])[0]}"


def _undo(made: list[Path]) -> None:
    for item in reversed(made):
        try:
            if item.is_dir():
                shutil.rmtree(item) if item.name == "keys" else item.rmdir()
            else:
                item.unlink(missing_ok=True)
        except OSError:
            pass  # best effort: a directory the operator filled meanwhile stays


@cli.command()
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default=None, help="Bind address (default: [server] host in node.toml, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: [server] port in node.toml, 8400).")
def serve(home: str, host: str | None, port: int | None) -> None:
    """Run the node in HOME with gunicorn until stopped (Ctrl-C or SIGTERM).

    First brings the store to the newest schema (Alembic; data is kept), then starts
    [server] workers with [server] threads each. Partners, clients and keys changed with
    this CLI take effect without a restart. Logs go to stderr. Exit 1 when the store
    cannot be reached, 2 for a bad node.toml.
    """
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    from adapters.store import make_engine, migrate  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway import config  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.ops.server import serve as run  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    cfg = config.load(home)
    engine = make_engine(cfg.store.url)
    try:
        migrate(engine)  # upgrades in place; Alembic keeps the data
    except SQLAlchemyError as exc:  # a database that is down is expected: one line, exit 1
        raise StoreUnavailable(_store_problem(cfg.store.url, exc)) from None
    finally:
        engine.dispose()
    _first_federation_fetch(cfg)
    run(cfg, host, port)


def _first_federation_fetch(cfg) -> None:
    """Contract section 7: fetch the list at start (the workers' refresher takes over)."""
    if not cfg.federation.enabled:
        return
    from gateway.federation import membership as federation_trust  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.node import build  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = build(cfg)
    try:
        out = federation_trust.refresh(node)
        click.echo(f"federation list: {out.result} {out.detail}".rstrip(), err=True)
    finally:
        node.uow.engine.dispose()
        node.http.close()


@cli.group()
def partner() -> None:
    """Trust partner nodes."""


@partner.command("add")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--org-id", required=True)
@click.option("--url", required=True)
@click.option(
    "--thumbprint",
    default=None,
    help="RFC 7638 thumbprint one of its keys must have (the last line of their 'gateway init'); "
    "get it from their IT department by phone or a signed mail, not from the URL itself.",
)
@click.option(
    "--trust-on-first-use",
    "tofu",
    is_flag=True,
    help="Without --thumbprint: pin whatever keys the URL serves now, unchecked.",
)
def partner_add(home: str, org_id: str, url: str, thumbprint: str | None, tofu: bool) -> None:
    """Fetch the partner's JWKS and pin its keys.

    Without --thumbprint nothing proves the keys are the partner's: on a terminal the
    command shows their thumbprints and asks; in a script it needs --trust-on-first-use.
    """
    from adapters.store.models import Client  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from audit import events  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.repositories import audit_log  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _node(home)
    if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
        raise click.UsageError(f"--url {url!r} is not an http(s) URL")
    if org_id == node.org_id:
        raise click.UsageError(f"{org_id!r} is this node itself, not a partner")
    with node.uow() as uow:
        if uow.session.get(Client, org_id) is not None:
            raise click.UsageError(f"{org_id!r} is a local client id already")
    if thumbprint is None and not tofu:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise click.UsageError(
                "no --thumbprint: the keys at --url would be trusted unchecked; pass the "
                "partner's --thumbprint, or --trust-on-first-use to accept that"
            )
        from gateway.trust.partners import fetch_jwks  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

        seen = [k.thumbprint() for k in fetch_jwks(node.http, url)]
        click.echo(
            f"warning: no --thumbprint; {url} serves these keys, and nothing proves they are {org_id}'s:", err=True
        )
        for kid in seen:
            click.echo(f"  {kid}", err=True)
        if not click.confirm("Compare them with the partner's IT department. Trust them?", err=True):
            raise click.Abort()
        thumbprint = seen[0]  # exactly what was shown: a key swapped meanwhile is refused
    kids = node.partners.add(org_id, url, thumbprint)
    audit_log.record_admin(node, events.PARTNER_ADDED, peer_org=org_id, detail={"kids": kids})
    _federation_note(node, org_id)
    click.echo(f"partner {org_id} pinned with {len(kids)} key(s)")
    for kid in kids:
        click.echo(kid)


@partner.command("list")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
def partner_list(home: str) -> None:
    """List trusted partners and their pinned keys."""
    for org_id, url, kids in _node(home).partners.list():
        click.echo(f"{org_id}\t{url}\t{','.join(kids)}")


@partner.command("remove")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--org-id", required=True)
def partner_remove(home: str, org_id: str) -> None:
    """End the trust in a partner: its keys are unpinned, its calls refused at once."""
    from audit import events  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.repositories import audit_log  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _node(home)
    if not node.partners.remove(org_id):
        raise click.UsageError(f"{org_id!r} is not a partner of this node")
    audit_log.record_admin(node, events.PARTNER_REMOVED, peer_org=org_id)
    click.echo(f"partner {org_id} removed")
    _federation_note(node, org_id)


def _federation_note(node, org_id: str) -> None:
    """After partner add/remove: let the federation list in force decide again (issue 15)."""
    from gateway.federation import membership as federation_trust  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    federation_trust.after_partner_change(node)
    for org, why in federation_trust.status(node)["refused"]:
        if org == org_id:
            click.echo(f"warning: {org_id} is refused: {why}", err=True)
    if node.partners.is_trusted(org_id) and org_id in federation_trust.listed(node):
        click.echo(f"note: {org_id} is a member of the federation list in force and trusted through it", err=True)


@cli.group()
def client() -> None:
    """Register local API clients."""


@client.command("add")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--client-id", required=True)
@click.option("--role", required=True, type=click.Choice(["ehr", "professional", "privacy-officer", "admin"]))
def client_add(home: str, client_id: str, role: str) -> None:
    """Register a client; print its secret once, on the last line."""
    from audit import events  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.http import auth  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.repositories import audit_log  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _node(home)
    if node.partners.is_trusted(client_id):
        raise click.UsageError(f"{client_id!r} is a partner org id already")
    secret = auth.add_client(node.uow, client_id, role)
    audit_log.record_admin(node, events.CLIENT_ADDED, detail={"client_id": client_id, "role": role})
    click.echo(f"client {client_id} ({role}) registered; the secret is shown once:")
    click.echo(secret)


@client.command("remove")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--client-id", required=True)
def client_remove(home: str, client_id: str) -> None:
    """Stop a client at once: it gets no new access token (its id stays reserved).

    Access tokens it already holds run out within [security] access_token_ttl (300 s).
    """
    from audit import events  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.http import auth  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.repositories import audit_log  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _node(home)
    if not auth.remove_client(node.uow, client_id):
        raise click.UsageError(f"{client_id!r} is not an active client of this node")
    audit_log.record_admin(node, events.CLIENT_REMOVED, detail={"client_id": client_id})
    click.echo(f"client {client_id} removed")


@client.command("rotate-secret")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--client-id", required=True)
def client_rotate_secret(home: str, client_id: str) -> None:
    """A leaked secret: make a new one (the old one stops at once); print it once, last line.

    Access tokens issued before run out within [security] access_token_ttl (300 s).
    """
    from audit import events  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.http import auth  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.repositories import audit_log  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _node(home)
    secret = auth.rotate_secret(node.uow, client_id)
    if secret is None:
        raise click.UsageError(f"{client_id!r} is not an active client of this node")
    audit_log.record_admin(node, events.CLIENT_SECRET_ROTATED, detail={"client_id": client_id})
    click.echo(f"client {client_id}: new secret, shown once; the old one no longer works:")
    click.echo(secret)


@cli.group()
def keys() -> None:
    """Manage the node's signing keys."""


@keys.command("rotate")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--alg", type=click.Choice(["ES256", "EdDSA"]), default=None)
@click.option(
    "--withdraw-old",
    is_flag=True,
    help="The old keys may be compromised: take them out of the JWKS at once. Partners "
    "unpin them when they next read it; ask them to run 'partner add' again.",
)
def keys_rotate(home: str, alg: str | None, withdraw_old: bool) -> None:
    """Make a new active key; the old stays in the JWKS for its window."""
    from audit import events  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.repositories import audit_log  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _node(home)
    old = node.keys.thumbprint()
    kid = node.keys.rotate(alg, withdraw_old=withdraw_old)
    audit_log.record_admin(
        node, events.KEY_ROTATED, detail={"old_kid": old, "new_kid": kid, "old_withdrawn": withdraw_old}
    )
    click.echo(kid)


@cli.group()
def locator() -> None:
    """Finding who is involved (contract section 8): the PSI key and findable set."""


@locator.command("status")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
def locator_status(home: str) -> None:
    """Show the current epoch, how many persons are findable, and the key's age."""
    from gateway.services.locator import status  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    for name, value in status(_node(home)).items():
        click.echo(f"{name}: {value}")


@locator.command("rotate")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
def locator_rotate(home: str) -> None:
    """Replace the PSI master key now (running workers follow at their next read); audited."""
    node = _node(home)
    node.locator.epoch()  # the state row exists
    node.locator.rotate()
    click.echo(node.locator.epoch().id)


@cli.command()
@click.option("--no-serve", is_flag=True, help="Play the story and stop (for scripts).")
def demo(no_serve: bool) -> None:
    """Start a four-organisation federation (one signed member list) on loopback and play one exchange."""
    from gateway.demo import runner as demo_mod  # noqa: PLC0415 - the demo drives this CLI in-process (gateway.demo.loopback), and only this command loads it

    demo_mod.run(keep_serving=not no_serve)


@cli.group()
def audit() -> None:
    """Verify and export the tamper-evident audit log."""


@audit.command("verify")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--witnesses", is_flag=True, help="Also check the log still reaches the signed heads partners hold.")
def audit_verify(home: str, witnesses: bool) -> None:
    """Exit 0 if the log is intact; otherwise name the first broken entry (exit 1).

    With --witnesses, every trusted partner is asked ($audit-head) for the latest signed
    head of this log it has seen; a head the log no longer reaches (a cut tail with an
    older head put back) names that partner (exit 1), as does a partner that cannot be asked.
    """
    from gateway.repositories import audit_log  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _node(home)
    result = audit_log.verify(node)
    if not result.ok:
        raise Failure(f"audit log broken at entry {result.first_bad_seq}: {result.reason}")
    click.echo(f"intact: {result.checked} entries verified")
    if witnesses:
        from gateway.services import witnesses as witnessing  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

        checks = witnessing.check(node)
        for c in checks:
            click.echo(f"witness {c.partner}: {c.reason}")
        bad = [c for c in checks if not c.ok]
        if bad:
            raise Failure(
                "; ".join(
                    f"the head {c.partner} witnessed is not reached: {c.reason}"
                    if not c.reason.startswith("unavailable")
                    else f"{c.partner} could not be asked for its witnessed head: {c.reason}"
                    for c in bad
                )
            )
        click.echo(f"witnessed: the log reaches the heads of {len(checks)} partner(s)")


@audit.command("export")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["fhir", "csv"]), default="fhir", show_default=True)
@click.option("--since", default=None, help="Only events on or after this date (YYYY-MM-DD).")
def audit_export(home: str, fmt: str, since: str | None) -> None:
    """Write audit events to stdout: a FHIR Bundle of AuditEvent, or CSV."""
    from gateway.services import auditing  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    click.echo(auditing.export(_node(home), fmt, _date(since)), nl=False)


@audit.command("reconcile")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--partner", required=True, help="The partner org id to reconcile with.")
@click.option("--since", default=None, help="Only exchanges on or after this date (YYYY-MM-DD).")
def audit_reconcile(home: str, partner: str, since: str | None) -> None:
    """Compare our log with the partner's signed receipts; exit 1 on any difference."""
    from gateway.services import reconcile  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    compared, diffs = reconcile.reconcile(_node(home), partner, _date(since))
    for d in diffs:
        click.echo(f"{d.exchange_id}\t{d.problem}")
    if diffs:
        raise Failure(f"{len(diffs)} difference(s) with {partner} in {compared} exchange(s)")
    click.echo(f"reconciled: {compared} exchange(s) with {partner}, no differences")


@audit.command("flags")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--since", default=None, help="From this date (YYYY-MM-DD; default: the last 30 days).")
def audit_flags(home: str, since: str | None) -> None:
    """List partners that probe: more subject-unknown answers or refusals per day than
    [audit] probe_unknown_per_day / probe_refusals_per_day. Exit 1 when any is flagged."""
    from consent import rules  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.repositories import audit_log  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.services import probing  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _node(home)
    start = (
        dt.date.fromisoformat(_date(since))  # type: ignore[arg-type]
        if since
        else rules.day_of(int(node.clock().timestamp())) - dt.timedelta(days=30)
    )
    found = probing.find(node, audit_log.SYSTEM, start)
    a = node.config.audit
    for p in found:
        click.echo(f"{p.day.isoformat()}\t{p.partner}\tsubject-unknown {p.unknown}\trefusals {p.refusals}")
    if found:
        raise Failure(
            f"{len(found)} probing flag(s) since {start.isoformat()} (more than "
            f"{a.probe_unknown_per_day} subject-unknown or {a.probe_refusals_per_day} refusals "
            "from one partner in a day)"
        )
    click.echo(f"no probing flags since {start.isoformat()}")


@audit.command("report")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--subject-file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="A file holding the person's BSN, or - to read it from stdin (keeps it out of shell history).",
)
@click.option(
    "--subject",
    default=None,
    help="The person's BSN on the command line (lands in shell history; prefer --subject-file -).",
)
def audit_report(home: str, subject_file: object, subject: str | None) -> None:
    """Print a person's disclosure report (Dutch HTML) for an AVG access request.

    Example: ``gateway audit report /srv/gateway --subject-file - > rapport.html``, then type
    the BSN and press Enter (or pipe it in).
    """
    from consent.model import valid_bsn  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.repositories import audit_log  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.services import auditing  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.web import disclosure_report  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    if (subject_file is None) == (subject is None):
        raise click.UsageError("give the BSN with --subject-file FILE (or - for stdin), or --subject")
    if subject_file is not None:
        if sys.stdin.isatty() and getattr(subject_file, "name", "") == "<stdin>":
            click.echo("BSN: ", err=True, nl=False)
        subject = subject_file.readline(32).strip()  # type: ignore[attr-defined]
    else:
        click.echo("warning: a BSN on the command line stays in shell history; use --subject-file -", err=True)
    assert subject is not None
    if not valid_bsn(subject):
        raise click.UsageError("that is not a BSN (nine digits that pass the eleven-test)")
    click.echo(disclosure_report.render(auditing.disclosure_report(_node(home), subject, audit_log.SYSTEM)), nl=False)


@audit.command("prune")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--before", default=None, help="Prune events before this date (default: the retention period).")
def audit_prune(home: str, before: str | None) -> None:
    """Delete events past retention, leaving a signed prune checkpoint so the chain verifies."""
    from gateway.services import auditing  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    pruned, anchor = auditing.prune(_node(home), _date(before))
    click.echo(f"pruned {pruned} entries; history now starts after entry {anchor}")


def _date(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise click.UsageError(f"{value!r} is not a date (YYYY-MM-DD)") from None


@cli.command()
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--source", "source_name", default=None, help="Only this [sources.NAME] (default: all).")
@click.option(
    "--full",
    is_flag=True,
    help="Read everything, not only what changed, and withdraw the records "
    "the source no longer holds (run it nightly).",
)
def sync(home: str, source_name: str | None, full: bool) -> None:
    """Pull records of known people from the EHRs' FHIR APIs in [sources.NAME] (issue 6).

    Incremental: each run asks only for what changed since the last one, so it cannot see
    a record the EHR deleted; --full can. Records a source holds that the mapping refuses
    are listed on stderr (exit 1); the others are written.
    """
    from ehr import fhir_pull  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _node(home)
    sources = [s for s in node.config.sources if source_name in (None, s.name)]
    if not sources:
        raise click.UsageError(
            f"no source {source_name!r} in node.toml"
            if source_name
            else "no [sources.NAME] in node.toml: nothing to sync"
        )
    refused = 0
    for src in sources:
        report = fhir_pull.sync(node, src, full=full)
        for problem in report.outcome.problems:
            click.echo(f"{src.name}: {problem}", err=True)
        refused += len(report.outcome.problems)
        withdrawn = f", {report.outcome.withdrawn} withdrawn" if full else ""
        click.echo(
            f"{src.name}: {report.people} people, {report.fetched} resources in {report.pages} pages: "
            f"{report.outcome.summary()}, {len(report.outcome.problems)} refused{withdrawn}"
        )
    if refused:
        raise Failure(f"{refused} record(s) could not be taken over; see the lines above")


@cli.command("import")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--mapping",
    "mapping_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Mapping with a [batch] table (see config/mappings/).",
)
def import_file(home: str, file: str, mapping_file: str) -> None:
    """Import a CSV or JSON Lines export whole or not at all (issue 6).

    Every bad row is listed on stderr with its line number, and nothing is written (exit 2).
    Importing the same file again changes nothing.
    """
    from ehr import batch, mapping  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _node(home)
    prepared = batch.prepare(Path(file), mapping.load(mapping_file))
    bar: Any = contextlib.nullcontext(None)
    if sys.stderr.isatty() and prepared.records:
        bar = click.progressbar(length=len(prepared.records), label=f"importing {prepared.name}", file=sys.stderr)
    with bar as progress:
        outcome = batch.write(node, prepared, progress=progress.update if progress else None)
    if outcome.problems:
        for problem in outcome.problems:
            click.echo(f"{file}: {problem}", err=True)
        raise InvalidRequest(f"{file}: {len(outcome.problems)} bad row(s) of {prepared.rows}; nothing imported")
    click.echo(f"{file}: {prepared.rows} rows: {outcome.summary()}")


cli.add_command(federation.federation)
for _command in ops.COMMANDS:  # backup, restore, selftest (issue 18)
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map every expected error to one stderr line and an exit code."""
    try:
        cli.main(args=argv, prog_name="gateway", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        click.echo(f"gateway: {exc.format_message()}", err=True)
        return 2
    except click.Abort:
        click.echo("gateway: aborted", err=True)
        return 1
    except GatewayError as exc:
        click.echo(f"gateway: {english(exc)}", err=True)
        return 1 if exc.code in ("partner-unavailable", "partner-timeout", "store-unavailable") else 2
    except (Failure, OSError) as exc:
        click.echo(f"gateway: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130


def entrypoint() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
