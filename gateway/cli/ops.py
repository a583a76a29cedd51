"""Operations commands (issue 18): ``gateway backup``, ``gateway restore``, ``gateway selftest``.

``gateway.cli.main`` adds ``COMMANDS`` to the ``gateway`` group, so the CLI's one error mapping applies: bad input is one stderr line and exit 2, a failed check or
a broken restored audit exit 1.
"""

from __future__ import annotations

from pathlib import Path

import click

from contract.errors import InvalidRequest
from gateway.cli.common import Failure
from gateway.cli.common import open_node as _node


@click.command()
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="The backup file to write (refused if it exists).",
)
def backup(home: str, out: str) -> None:
    """Write a consistent snapshot of the store and the key ring, while the node runs."""
    from adapters.store import make_engine  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway import config  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.ops import backup as backups  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    target = Path(out)
    if target.exists():
        raise InvalidRequest(f"{target} exists; a backup never overwrites a file")
    cfg = config.load(home)
    engine = make_engine(cfg.store.url)
    try:
        made = backups.make(cfg, engine, target)
    finally:
        engine.dispose()
    click.echo(f"{made.rows} rows, audit head {made.audit_seq}")
    click.echo(str(made.path.resolve()))


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("home", type=click.Path(file_okay=False))
@click.option(
    "--db",
    default=None,
    help="SQLAlchemy URL of an empty store (default: SQLite in HOME, or the backup's own PostgreSQL URL).",
)
def restore(file: str, home: str, db: str | None) -> None:
    """Restore a backup into a new node home and verify the restored audit chain."""
    from gateway.ops import backup as backups  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.repositories import audit_log  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    manifest = backups.restore(Path(file), Path(home), db)
    result = audit_log.verify(_node(home))
    if not result.ok:
        raise Failure(f"restored, but the audit log is broken at entry {result.first_bad_seq}: {result.reason}")
    if result.checked < manifest["audit_head"]["seq"]:
        raise Failure(
            f"restored audit chain holds {result.checked} entries, the backup {manifest['audit_head']['seq']}"
        )
    click.echo(
        f"restored {manifest['org_id']} from {manifest['created']}: audit intact, {result.checked} entries verified"
    )


@click.command()
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--partner", "partner", default=None, help="Also check this trusted partner, end to end.")
def selftest(home: str, partner: str | None) -> None:
    """Check this node's configuration, keys, store and audit (and a partner): a pass/fail table."""
    from gateway.ops import selftest as st  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _node(home)
    checks = list(st.own_checks(node))
    if partner:
        checks += list(st.partner_checks(node, partner))
    click.echo(st.table(checks))
    failed = [c.name for c in checks if not c.ok]
    if failed:
        raise Failure(f"selftest failed: {', '.join(failed)}")


COMMANDS = (backup, restore, selftest)
