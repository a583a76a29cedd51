"""``gateway federation …``: the operator's member list and a node's view of it (contract 1, 7).

Operator side (a home of its own, no node): ``operator-init``, ``add-member``,
``remove-member``, ``publish``. Node side: ``status`` and ``refresh``. Errors go through
``gateway.cli.main.main``: one stderr line, exit 2 for bad input, 1 for an unreachable member.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from gateway.cli.common import Failure
from gateway.cli.common import open_node as _node

if TYPE_CHECKING:  # the node is loaded when a command runs, not at CLI start-up (as gateway.cli.common)
    from gateway.node import Node


@click.group()
def federation() -> None:
    """Publish a regional member list (operator) or follow one (node)."""


@federation.command("operator-init")
@click.argument("home", type=click.Path(file_okay=False))
@click.option("--id", "federation_id", required=True, help="The federation id (Bundle.id of every list).")
@click.option("--name", required=True, help="The federation's name.")
def operator_init(home: str, federation_id: str, name: str) -> None:
    """Create an operator home; print the operator key's thumbprint on the last line."""
    from gateway.federation import operator  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    thumbprint = operator.init(home, federation_id, name)
    click.echo(f"federation: {federation_id}")
    click.echo(thumbprint)


@federation.command("add-member")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--org-id", required=True)
@click.option("--name", required=True)
@click.option("--url", required=True, help="The member node's public base URL.")
@click.option("--type", "org_type", required=True, help="organisation-type code, e.g. youth-care.")
@click.option("--ura", default="", help="URA number (eight digits), where known.")
@click.option("--contact", multiple=True, help="Phone number or e-mail for professionals (repeatable).")
@click.option("--thumbprint", default=None, help="RFC 7638 thumbprint one of its keys must have.")
def add_member(
    home: str,
    org_id: str,
    name: str,
    url: str,
    org_type: str,
    ura: str,
    contact: tuple[str, ...],
    thumbprint: str | None,
) -> None:
    """Fetch the member's JWKS and list it (again: refresh its entry, e.g. after a rotation)."""
    from adapters.http import StrictClient  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.federation import operator  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.federation.memberlist import ListedMember  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    http = StrictClient()
    try:
        member, new = operator.add_member(
            home,
            ListedMember(
                org_id=org_id, name=name, type=org_type, url=url.rstrip("/"), thumbprints=(), contact=contact, ura=ura
            ),
            http,
            thumbprint,
        )
    finally:
        http.close()
    click.echo(
        f"member {org_id} {'added' if new else 'refreshed'} with {len(member.thumbprints)} key(s)"
        " (publish to make it count)"
    )
    for kid in member.thumbprints:
        click.echo(kid)


@federation.command("remove-member")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--org-id", required=True)
def remove_member(home: str, org_id: str) -> None:
    """Take a member off the list (nodes stop trusting it when they apply the next publication)."""
    from gateway.federation import operator  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    if not operator.remove_member(home, org_id):
        raise click.UsageError(f"{org_id!r} is not a member")
    click.echo(f"member {org_id} removed (publish to make it count)")


@federation.command("publish")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Where to write the signed list.")
@click.option(
    "--valid-days",
    type=int,
    default=7,
    show_default=True,
    help="Days until valid-until; nodes fail closed for list-only members after it.",
)
def publish(home: str, out: str, valid_days: int) -> None:
    """Sign the list as it stands into FILE, one version higher than the last published."""
    from gateway.federation import operator  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    version, count = operator.publish(home, out, now=datetime.now(UTC), valid_days=valid_days)
    click.echo(f"published version {version} with {count} member(s) to {out}")


def _federated(home: str) -> Node:
    """The node at ``home``, which must take part in a federation (``[federation] list_url``)."""
    node = _node(home)
    if not node.config.federation.enabled:
        raise click.UsageError("this node has no [federation] list_url")
    return node


@federation.command("status")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
def status(home: str) -> None:
    """On a node: the list in force, and every member it refuses to trust, with why."""
    from gateway.federation import membership as federation_trust  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _federated(home)
    s = federation_trust.status(node)
    for label, key in (
        ("list", "list_url"),
        ("federation", "federation"),
        ("version", "version"),
        ("operator", "operator"),
        ("fetched at", "fetched_at"),
        ("applied at", "applied_at"),
        ("valid until", "valid_until"),
        ("members", "members"),
    ):
        click.echo(f"{label}: {s[key] if s[key] != '' else '-'}")
    if s.get("expired"):
        click.echo(f"EXPIRED: {s['expired']}")
    if s["last_error"]:
        click.echo(f"last refresh refused or failed at {s['last_error_at']}: {s['last_error']}")
    for org_id, why in s["refused"]:
        click.echo(f"refused {org_id}: {why}")


@federation.command("refresh")
@click.argument("home", type=click.Path(exists=True, file_okay=False))
def refresh(home: str) -> None:
    """On a node: fetch and apply the list now (a running node also does it every refresh_seconds)."""
    from gateway.federation import membership as federation_trust  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)
    from gateway.federation.memberlist import ListRefused  # noqa: PLC0415 - lazy: loaded when this command runs (CLI start-up)

    node = _federated(home)
    out = federation_trust.refresh(node)
    if out.result == "refused":
        raise ListRefused(f"list refused, the list in force stays: {out.detail}")
    if out.result == "failed":
        raise Failure(out.detail)
    detail = (
        f": {len(out.added)} added, {len(out.removed)} removed, {len(out.changed)} changed"
        if out.result == "applied"
        else f" ({out.detail})"
    )
    click.echo(f"{out.result}{detail}")
