"""The answering side of finding who is involved (contract section 8).

A node keeps the BSNs of its *findable* persons (an active, honoured consent with purpose
``findable``, category ``involvement``, this node as holder) as a PSI set under a key of
its own, and serves two partner operations:

- ``$locator-setup``: the set, as a setup message, with its ``epoch`` and ``max-items``;
- ``$locator-match``: answer a blinded request under that epoch's key.

**Epochs.** An epoch is (master key, generation, day). ``generation`` grows in the same
transaction that records or revokes a findable consent; the day covers consents that start
or end at midnight. Each epoch has its own PSI key, derived from the master key, so a
partner's old setup is useless once the epoch moved on: a person who revoked is not found
with a setup cached before. Every worker derives the same epoch from one row, so they
agree without talking to each other. The master key is replaced every
``locator.key_rotation_days``.

**Off the request path.** Building a setup costs seconds for 100,000 persons. Each worker
keeps the setup of the current epoch and rebuilds it in a background thread when the
epoch changes; a ``$locator-setup`` arriving meanwhile is ``node-busy`` with Retry-After.

**Audit.** Every call is audited (who, when, how many items), refusals included; this node
never sees a BSN of the search, so none is logged. Calls are rate-limited per partner in
one row shared by all workers (``node-busy``, 503, Retry-After).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from adapters import psi
from adapters.psi import Epoch
from adapters.store import Duplicate
from adapters.store.models import LocatorState
from audit import events
from audit.events import AuditRecord
from consent import rules
from contract.errors import GatewayError, InvalidRequest, LocatorEpochChanged, NodeBusy
from gateway.fhir import parameters
from gateway.repositories.locator import STATE_ID, LocatorStore
from gateway.repositories.ports import StoreSession
from gateway.repositories.unit import Unit
from gateway.services.registry import grant_of

if TYPE_CHECKING:  # the composition root imports the use cases
    from gateway.node import Node

log = logging.getLogger(__name__)

FINDABLE = "findable"
INVOLVEMENT = "involvement"
RATE_WINDOW = 60  # seconds
#: the base64 of a request of ``max_items`` points, with room for protobuf framing
MAX_REQUEST_B64 = 4096


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def epoch_of(state: LocatorState, day: Any) -> Epoch:
    return _epoch(state.master_key, state.master_id, state.generation, day.isoformat())


@functools.lru_cache(maxsize=8)
def _epoch(master_key: str, master_id: str, generation: int, day: str) -> Epoch:
    master = base64.b64decode(master_key)
    label = f"{master_id}|{generation}|{day}"
    public = hmac.new(master, f"epoch|{label}".encode(), hashlib.sha256).digest()
    return Epoch(id=_b64url(public)[:22], key=psi.derive_key(master, label), generation=generation, master_id=master_id)


_SERVERS = threading.local()


def server_of(ep: Epoch) -> psi.Server:
    """The PSI server of one epoch, one per thread: building one costs milliseconds, and the
    C++ cipher keeps a big-number context that two threads must not share."""
    cached = getattr(_SERVERS, "by_epoch", None)
    if cached is None or cached[0] != ep.id:
        cached = _SERVERS.by_epoch = (ep.id, psi.Server(ep.key))
    return cached[1]


def _new_state(now: Any) -> LocatorState:
    return LocatorState(
        id=STATE_ID,
        master_id=uuid.uuid4().hex,
        master_key=base64.b64encode(psi.new_master()).decode(),
        master_created_at=now,
        generation=0,
    )


def bump(session: StoreSession, node: Node) -> None:
    """Move the epoch on, in the caller's transaction (a findable consent recorded or revoked)."""
    _store(session).bump(lambda: _new_state(node.clock()))


def _store(source: Any) -> Any:
    """The locator's repository of a unit of work, or on a session handed in."""
    return source.locator if hasattr(source, "locator") else LocatorStore(source)


def findable_set(source: Any, node: Node, day: Any) -> list[str]:
    """BSNs of the persons findable here today (active, honoured, this node as holder);
    ``source`` is a unit of work (or a session)."""
    out = set()
    for row, person in _store(source).findable_consents(FINDABLE):
        grant = grant_of(row, person, node.org_id)
        if node.org_id in grant.holders and INVOLVEMENT in grant.categories and rules.honoured(grant, day):
            out.add(person.bsn)
    return sorted(out)


class Locator:
    """One per node and process: the current epoch's setup, built off the request path."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._lock = threading.Lock()
        self._built: tuple[Epoch, psi.Setup] | None = None
        self._building: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None

    @property
    def cfg(self) -> Any:
        return self.node.config.locator

    def _day(self) -> Any:
        return rules.day_of(int(self.node.clock().timestamp()))

    def epoch(self) -> Epoch:
        """The current epoch, from one row (created on first use)."""
        with self.node.uow(read_only=True) as uow:
            state = uow.locator.state()
            if state is not None:
                return epoch_of(state, self._day())
        with self.node.uow() as uow:
            if uow.locator.state() is None:
                uow.locator.add_state(_new_state(self.node.clock()))
                try:
                    uow.commit()
                except Duplicate:
                    pass  # another worker made it
        return self.epoch()

    # --- building ------------------------------------------------------------------------

    def refresh(self) -> Epoch:
        """Rotate the master key when due, and build the current epoch's setup if not built."""
        self._rotate_if_due()
        day = self._day()
        self.epoch()  # make sure the row exists
        with self.node.uow(read_only=True) as uow:
            # the state first, then the set: the set is at least as new as the generation read
            state = uow.locator.made_state()
            ep = epoch_of(state, day)
            with self._lock:
                if self._built is not None and self._built[0].id == ep.id:
                    return ep
            bsns = findable_set(uow, self.node, day)
        started = time.perf_counter()
        setup = server_of(ep).setup(bsns, self.cfg.max_items, self.cfg.false_positive_rate)
        log.info(
            "locator setup built: %d persons, %d bytes, %.2f s",
            len(bsns),
            len(setup.data),
            time.perf_counter() - started,
        )
        with self._lock:
            self._built = (ep, setup)
        return ep

    def _rotate_if_due(self) -> None:
        now = self.node.clock()
        with self.node.uow(read_only=True) as uow:
            state = uow.locator.state()
            if state is None or now - _aware(state.master_created_at) < timedelta(days=self.cfg.key_rotation_days):
                return
            old = state.master_id
        self.rotate(expected=old)

    def rotate(self, expected: str | None = None) -> bool:
        """Replace the master key (every worker follows at its next read); audited."""
        fresh = _new_state(self.node.clock())
        with self.node.uow() as uow:
            state = uow.locator.state()
            if state is None or (expected is not None and state.master_id != expected):
                return False  # another worker rotated first
            state.master_id, state.master_key = fresh.master_id, fresh.master_key
            state.master_created_at, state.generation = fresh.master_created_at, state.generation + 1
            uow.audit.append(
                self.node,
                AuditRecord(
                    action=events.LOCATOR_KEY_ROTATED,
                    outcome=events.SUCCESS,
                    actor_id="system:locator",
                    actor_role="system",
                    detail={"master_id": fresh.master_id},
                ),
            )
            uow.commit()
        return True

    def kick(self) -> None:
        """Start a background build unless one runs."""
        with self._lock:
            if self._building is not None and self._building.is_alive():
                return
            self._building = threading.Thread(target=self._safe_refresh, name="locator-build", daemon=True)
            self._building.start()

    def _safe_refresh(self) -> None:
        try:
            self.refresh()
        except Exception:  # a failed build is retried at the next kick; the log says why
            log.exception("locator setup build failed")

    def start(self) -> None:
        """Keep the setup current in the background (each gunicorn worker)."""
        if self._loop is not None:
            return

        def loop() -> None:
            self._safe_refresh()  # at once at start; then every refresh_seconds, failed or not
            while not self._stop.wait(self.cfg.refresh_seconds):
                self._safe_refresh()

        self._loop = threading.Thread(target=loop, name="locator-refresh", daemon=True)
        self._loop.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background loop and wait (up to ``timeout`` seconds each) for it and for
        a build in progress: a worker that exits mid-build would tear the PSI library's
        native state down under a running thread (``terminate called`` in the server log)."""
        self._stop.set()
        with self._lock:
            threads = [t for t in (self._loop, self._building) if t is not None]
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    def current(self) -> tuple[Epoch, psi.Setup]:
        """The setup of the current epoch, or ``node-busy`` while it is being built."""
        ep = self.epoch()
        with self._lock:
            built = self._built
        if built is not None and built[0].id == ep.id:
            return built
        self.kick()
        raise NodeBusy(
            "De zoekgegevens van deze organisatie worden opnieuw opgebouwd; probeer het zo opnieuw.", retry_after=2
        )


def status(node: Node) -> dict[str, Any]:
    """What an operator sees with ``gateway locator status``: no BSN, only counts and ages."""
    ep = node.locator.epoch()
    day = rules.day_of(int(node.clock().timestamp()))
    with node.uow(read_only=True) as uow:
        state = uow.locator.made_state()
        count = len(findable_set(uow, node, day))
        age = node.clock() - _aware(state.master_created_at)
    return {
        "epoch": ep.id,
        "generation": ep.generation,
        "findable": count,
        "key_age_days": round(age.total_seconds() / 86400, 1),
        "key_rotation_days": node.config.locator.key_rotation_days,
    }


def _aware(moment: Any) -> Any:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- the two partner operations ---------------------------------------------------------------


def _record(
    caller: str,
    outcome: str,
    *,
    count: int = 0,
    reason: str = "",
    action: str = events.LOCATOR_MATCH_ANSWERED,
    request_hash: str = "",
    response_hash: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    return AuditRecord(
        action=action,
        outcome=outcome,
        actor_id=f"org:{caller}",
        actor_role="partner",
        on_behalf_of=f"org:{caller}",
        peer_org=caller,
        count=count,
        reason_code=reason,
        request_hash=request_hash,
        response_hash=response_hash,
        detail=detail or {},
    )


def _take_rate(uow: Unit, node: Node, caller: str) -> int:
    """Count this call in the partner's window; return seconds to wait when over the rate, else 0."""
    now = int(node.clock().timestamp())
    window = now - now % RATE_WINDOW
    count = uow.locator.count_call(caller, window)
    limit = node.config.locator.rate_per_minute
    return 0 if count <= limit else max(1, window + RATE_WINDOW - now)


def _refuse(node: Node, caller: str, exc: GatewayError, action: str, **extra: Any) -> None:
    """Audit a refusal in its own transaction, then let it go out.

    A refused call counts against the partner's rate too: a flood of malformed or stale
    requests becomes ``node-busy`` like any other flood.
    """
    with node.uow() as uow:
        wait = _take_rate(uow, node, caller)
        if wait:
            busy = NodeBusy(
                f"Te veel zoekvragen van {caller}; probeer het over {wait} seconden opnieuw.", retry_after=wait
            )
            uow.audit.append(node, _record(caller, events.REFUSED, reason=busy.code, action=action, **extra))
            uow.commit()
            raise busy from exc
        uow.audit.append(node, _record(caller, events.REFUSED, reason=exc.code, action=action, **extra))
        uow.commit()


def _commit_success(node: Node, caller: str, record: AuditRecord) -> None:
    """Rate check and audit in one transaction: over the rate is a refusal, audited as such."""
    with node.uow() as uow:
        wait = _take_rate(uow, node, caller)
        if wait:
            exc = NodeBusy(
                f"Te veel zoekvragen van {caller}; probeer het over {wait} seconden opnieuw.", retry_after=wait
            )
            refusal = _record(
                caller,
                events.REFUSED,
                reason=exc.code,
                action=record.action,
                count=record.count,
                request_hash=record.request_hash,
            )
            uow.audit.append(node, refusal)
            uow.commit()
            raise exc
        uow.audit.append(node, record)
        uow.commit()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serve_setup(node: Node, caller: str) -> dict[str, Any]:
    """Answer ``$locator-setup``: the current setup, its epoch and max-items."""
    try:
        ep, setup = node.locator.current()
    except NodeBusy as exc:
        _refuse(node, caller, exc, events.LOCATOR_SETUP_SERVED)
        raise
    encoded = base64.b64encode(setup.data).decode()
    _commit_success(
        node,
        caller,
        _record(
            caller,
            events.SUCCESS,
            action=events.LOCATOR_SETUP_SERVED,
            response_hash=_sha(setup.data),
            detail={"epoch": ep.id},
        ),
    )
    return parameters.build(
        setup=("valueBase64Binary", encoded), epoch=("valueString", ep.id), max_items=("valueInteger", setup.max_items)
    )


@dataclass(frozen=True)
class MatchAsk:
    """A ``$locator-match`` as read (contract section 8): who asks (authenticated), the epoch
    it was blinded under, and the blinded request (decoded from base64, at most
    ``MAX_REQUEST_B64`` characters of it). Built by ``read_match``, which audits what it refuses."""

    caller: str
    epoch: str
    request: bytes


def read_match(node: Node, load: Callable[[], dict[str, Any]], caller: str) -> MatchAsk:
    """Read a ``$locator-match`` from trusted partner ``caller``; ``load`` parses the body.

    What does not parse is refused (``InvalidRequest``), audited and counted against the
    partner's rate like every refusal here.
    """
    try:
        values = parameters.read(
            load(),
            {
                "epoch": parameters.Spec("valueString", required=True, max_len=64),
                "request": parameters.Spec("valueBase64Binary", required=True, max_len=MAX_REQUEST_B64),
            },
        )
        return MatchAsk(caller=caller, epoch=values["epoch"], request=_b64decode(values["request"]))
    except GatewayError as exc:
        _refuse(node, caller, exc, events.LOCATOR_MATCH_ANSWERED)
        raise


def answer_match(node: Node, ask: MatchAsk) -> dict[str, Any]:
    """Answer ``$locator-match`` under the current epoch's key, or refuse (audited)."""
    max_items = node.config.locator.max_items
    caller, raw = ask.caller, ask.request
    rhash = _sha(raw)
    try:
        ep = node.locator.epoch()
        if not hmac.compare_digest(ask.epoch.encode(), ep.id.encode()):
            raise LocatorEpochChanged()
        response, count = server_of(ep).process(raw, max_items)
    except (InvalidRequest, LocatorEpochChanged) as exc:
        _refuse(node, caller, exc, events.LOCATOR_MATCH_ANSWERED, request_hash=rhash)
        raise
    _commit_success(
        node,
        caller,
        _record(
            caller,
            events.SUCCESS,
            count=count,
            request_hash=rhash,
            response_hash=_sha(response),
            detail={"epoch": ep.id},
        ),
    )
    return parameters.build(response=("valueBase64Binary", base64.b64encode(response).decode()))


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("Parameter 'request' is geen geldige base64.") from None
