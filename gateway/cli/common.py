"""What every ``gateway`` command module shares: the expected-failure error and opening a node.

Apart from ``gateway.cli.main`` so that the command modules it gathers (``gateway.cli.ops``,
``gateway.cli.federation``) do not import the group back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the node is loaded when a command runs, not at CLI start-up
    from gateway.node import Node


class Failure(Exception):
    """An expected failure that is not the user's input (exit 1)."""


def open_node(home: str) -> Node:
    """Build the node of ``home`` for one command; its store and partner connections close with it."""
    from gateway import config  # noqa: PLC0415 - lazy: loaded when a command runs (CLI start-up)
    from gateway.node import build  # noqa: PLC0415 - lazy: loaded when a command runs (CLI start-up)

    node = build(config.load(home))
    ctx = click.get_current_context()
    ctx.call_on_close(node.uow.engine.dispose)
    # a kept-alive connection to a partner would hold up that node's graceful shutdown
    ctx.call_on_close(node.http.close)
    return node
