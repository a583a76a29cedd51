"""The composition root: everything one node needs, built once from its configuration."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.orm import Session

from adapters import psi
from adapters.http import StrictClient
from adapters.store import make_engine
from audit import events
from gateway.config import NodeConfig
from gateway.hsm import token_of
from gateway.http import observe
from gateway.keys import KeyRing
from gateway.ops import tls
from gateway.repositories import audit_log
from gateway.repositories.unit import Units
from gateway.repositories.witness_book import WitnessBook
from gateway.repositories.witnesses import watch_commits
from gateway.trust.partners import PartnerDirectory
from gateway.trust.peer import PeerCaller


class Locating(Protocol):
    """What the node asks of its PSI setup keeper (``gateway.services.locator.Locator``, which
    imports this module: hence a protocol here, not the class)."""

    def start(self) -> None: ...

    def epoch(self) -> psi.Epoch: ...

    def current(self) -> tuple[psi.Epoch, psi.Setup]: ...

    def rotate(self, expected: str | None = None) -> bool: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Node:
    config: NodeConfig
    keys: KeyRing
    uow: Units
    partners: PartnerDirectory
    http: StrictClient
    clock: Callable[[], datetime] = field(default=utcnow)
    peer: PeerCaller = field(init=False, repr=False, compare=False)  # set by build(): it needs the node itself
    witness: WitnessBook = field(default_factory=WitnessBook)  # partners' audit heads waiting to be kept
    locator: Locating = field(init=False, repr=False, compare=False)  # set by build() (contract section 8)

    @property
    def org_id(self) -> str:
        return self.config.node.org_id


#: the node itself, when it re-reads a partner's JWKS on its own
NODE_ACTOR_ID = "system:gateway"


def _audit_partner_keys(node: Node, session: Session, org_id: str, added: list[str], removed: list[str]) -> None:
    """Audit a change of a partner's pinned keys in the unit of work that made it."""
    audit_log.append(
        session,
        node,
        events.AuditRecord(
            action=events.PARTNER_KEYS_UPDATED,
            outcome=events.SUCCESS,
            actor_id=NODE_ACTOR_ID,
            actor_role="system",
            peer_org=org_id,
            detail={"added": added, "removed": removed},
        ),
    )


def build(config: NodeConfig, *, clock: Callable[[], datetime] = utcnow, http: StrictClient | None = None) -> Node:
    """Build the node's parts; no I/O beyond opening the key ring and the engine."""
    p = config.partners

    http = http or StrictClient(
        connect_timeout=p.connect_timeout,
        read_timeout=p.read_timeout,
        max_bytes=p.max_response_bytes,
        verify_tls=p.verify_tls,
        ssl_context=tls.partner_context(config),
    )
    http.context_headers = observe.outbound_headers
    uow = Units(make_engine(config.store.url))

    ring = KeyRing(
        config.home, config.keys.retired_key_days, hsm=token_of(config), new_keys_on_hsm=config.keys.backend == "pkcs11"
    )
    node = Node(
        config=config,
        keys=ring,
        uow=uow,
        partners=PartnerDirectory(
            uow, http, refetch_interval=p.jwks_refetch_interval, max_age=p.jwks_max_age, clock=clock
        ),
        http=http,
        clock=clock,
    )
    node.partners.on_keys_changed = functools.partial(_audit_partner_keys, node)

    node.peer = PeerCaller(node)

    watch_commits(node, uow.sessions)

    # the one use-case module the root wires: it types against Node, so at load time it would be a cycle
    from gateway.services.locator import Locator  # noqa: PLC0415 - breaks node ↔ services.locator

    node.locator = Locator(node)
    return node
