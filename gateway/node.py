"""The composition root: everything one node needs, built once from its configuration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from datetime import UTC, datetime

from adapters.http import StrictClient
from adapters.store import UnitOfWorkFactory, make_engine
from gateway.config import NodeConfig
from gateway.keys import KeyRing
from gateway.partners import PartnerDirectory


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Node:
    config: NodeConfig
    keys: KeyRing
    uow: UnitOfWorkFactory
    partners: PartnerDirectory
    http: StrictClient
    clock: Callable[[], datetime] = field(default=utcnow)
    peer: Any = None  # gateway.peer.PeerCaller, set by build(): it needs the node itself

    @property
    def org_id(self) -> str:
        return self.config.node.org_id


def build(config: NodeConfig, *, clock: Callable[[], datetime] = utcnow,
          http: StrictClient | None = None) -> Node:
    """Build the node's parts; no I/O beyond opening the key ring and the engine."""
    p = config.partners
    http = http or StrictClient(connect_timeout=p.connect_timeout, read_timeout=p.read_timeout,
                                max_bytes=p.max_response_bytes, verify_tls=p.verify_tls)
    uow = UnitOfWorkFactory(make_engine(config.store.url))
    node = Node(config=config, keys=KeyRing(config.home, config.keys.retired_key_days), uow=uow,
                partners=PartnerDirectory(uow, http, refetch_interval=p.jwks_refetch_interval, clock=clock),
                http=http, clock=clock)
    from gateway.peer import PeerCaller

    node.peer = PeerCaller(node)
    return node
