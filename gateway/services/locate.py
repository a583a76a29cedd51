"""``$locate``: which organisations are involved with a child and its parents (contract section 8).

The asking node blinds the subjects' BSNs with a fresh key per search (``adapters.psi``),
pads the request to each partner's ``max-items`` with random items (so a partner learns
not even how many people are sought), and asks every trusted partner in parallel under one
deadline. Each partner's setup is cached here per epoch; a ``locator-epoch-changed``
answer drops it and asks once more with a fresh one. The search is audited here, one entry
per subject, naming the professional, the purpose and the organisations found; nothing of
the answer is stored.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from concurrent.futures import ALL_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from adapters import psi
from audit import events
from audit.events import AuditRecord
from consent.model import valid_bsn
from contract.errors import GatewayError, InvalidRequest, NodeBusy, PartnerTimeout, PartnerUnavailable
from gateway.federation import directory
from gateway.fhir import parameters
from gateway.node import Node
from gateway.repositories import audit_log
from profiles import catalog

MAX_SUBJECTS = 8
ORG_TYPE_SYSTEM = catalog.CODESYSTEM_BASE + "organisation-type"


@dataclass(frozen=True)
class CachedSetup:
    epoch: str
    setup: bytes
    max_items: int


class SetupCache:
    """Each partner's setup, per epoch, in this process (a node-wide attribute)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._setups: dict[str, CachedSetup] = {}

    def get(self, org: str) -> CachedSetup | None:
        with self._lock:
            return self._setups.get(org)

    def put(self, org: str, setup: CachedSetup) -> None:
        with self._lock:
            self._setups[org] = setup

    def drop(self, org: str) -> None:
        with self._lock:
            self._setups.pop(org, None)


_CACHES: dict[int, SetupCache] = {}
_CACHES_LOCK = threading.Lock()


def cache_of(node: Node) -> SetupCache:
    with _CACHES_LOCK:
        return _CACHES.setdefault(id(node), SetupCache())


@dataclass
class Outcome:
    org: str
    found: list[str] = field(default_factory=list)
    reason: str = ""  # a reason code when the partner did not answer usefully


@dataclass(frozen=True)
class Request:
    """A search: 1 to 8 BSNs (a child and its parents) and a known purpose.

    Raises ``InvalidRequest`` otherwise.
    """

    subjects: tuple[str, ...]
    purpose: str

    def __post_init__(self) -> None:
        if not self.subjects or len(self.subjects) > MAX_SUBJECTS:
            raise InvalidRequest(f"Zoek naar hoogstens {MAX_SUBJECTS} personen tegelijk (een kind en zijn ouders).")
        if not all(valid_bsn(s) for s in self.subjects):
            raise InvalidRequest("Een BSN is geen geldig burgerservicenummer.")
        if self.purpose not in catalog.codes(catalog.PURPOSE_SYSTEM):
            raise InvalidRequest(f"Onbekend doel {self.purpose!r}.")


def _reason(body: Any) -> str:
    try:
        return str(body["issue"][0]["details"]["coding"][0]["code"])
    except (KeyError, IndexError, TypeError):
        return "partner-unavailable"


def _value(body: Any, name: str, kind: str) -> Any:
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise PartnerUnavailable("De partner gaf geen Parameters terug.")
    for p in body.get("parameter") or []:
        if isinstance(p, dict) and p.get("name") == name:
            value = p.get(kind)
            if value is None or (kind == "valueInteger" and type(value) is not int):
                break
            return value
    raise PartnerUnavailable(f"Het antwoord van de partner mist {name!r}.")


def _b64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise PartnerUnavailable("Het antwoord van de partner is geen base64.")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise PartnerUnavailable("Het antwoord van de partner is geen base64.") from None


class _Asker:
    """One partner, asked within what is left of the deadline."""

    def __init__(self, node: Node, org: str, items: tuple[str, ...], deadline: float) -> None:
        self.node, self.org, self.items, self.deadline = node, org, items, deadline
        self.cache = cache_of(node)

    def _timeout(self) -> tuple[float, float]:
        left = max(0.05, self.deadline - time.monotonic())
        return (min(self.node.config.partners.connect_timeout, left), left)

    def _setup(self) -> CachedSetup:
        for attempt in (0, 1):
            reply = self.node.peer.call(
                self.org, "locator-setup", {"resourceType": "Parameters"}, timeout=self._timeout()
            )
            if (
                reply.status == 503
                and _reason(reply.body) == NodeBusy.code
                and attempt == 0
                and self.deadline - time.monotonic() > 1.0
            ):
                time.sleep(0.5)  # the partner is building its setup: one more try within the deadline
                continue
            if reply.status != 200:
                raise _Refused(_reason(reply.body))
            data = _b64(_value(reply.body, "setup", "valueBase64Binary"))
            psi.check_setup(data)
            epoch = _value(reply.body, "epoch", "valueString")
            max_items = _value(reply.body, "max-items", "valueInteger")
            if not isinstance(epoch, str) or not 1 <= len(epoch) <= 64 or not 1 <= max_items <= 64:
                raise PartnerUnavailable("De partner gaf een ongeldige setup.")
            cached = CachedSetup(epoch=epoch, setup=data, max_items=max_items)
            self.cache.put(self.org, cached)
            return cached
        raise _Refused(NodeBusy.code)

    def _match(self, setup: CachedSetup, chunk: list[str]) -> list[str] | None:
        """The chunk's items found, or None when the epoch moved on."""
        padded = chunk + [f"pad:{secrets.token_hex(8)}" for _ in range(setup.max_items - len(chunk))]
        order = list(range(len(padded)))
        secrets.SystemRandom().shuffle(order)  # the real items sit nowhere in particular
        query = psi.Query([padded[i] for i in order])
        reply = self.node.peer.call(
            self.org,
            "locator-match",
            parameters.build(
                epoch=("valueString", setup.epoch),
                request=("valueBase64Binary", base64.b64encode(query.request).decode()),
            ),
            timeout=self._timeout(),
        )
        if reply.status == 409 and _reason(reply.body) == "locator-epoch-changed":
            return None
        if reply.status != 200:
            raise _Refused(_reason(reply.body))
        found = query.matches(setup.setup, _b64(_value(reply.body, "response", "valueBase64Binary")))
        return [f for f in found if f in chunk]

    def run(self) -> Outcome:
        try:
            found: list[str] = []
            setup = self.cache.get(self.org) or self._setup()
            items = list(self.items)
            while items:
                chunk, rest = items[: setup.max_items], items[setup.max_items :]
                got = self._match(setup, chunk)
                if got is None:  # stale: one fresh setup, then the same chunk again
                    self.cache.drop(self.org)
                    setup = self._setup()
                    got = self._match(setup, chunk)
                    if got is None:
                        raise _Refused("locator-epoch-changed")
                found += got
                items = rest
            return Outcome(self.org, found=found)
        except _Refused as exc:
            return Outcome(self.org, reason=exc.reason)
        except GatewayError as exc:
            return Outcome(self.org, reason=exc.code)


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: of the deadline, what is kept for the audit and the answer after the partners' time is up
RESERVE = 0.25


def ask_all(node: Node, subjects: tuple[str, ...]) -> tuple[list[Outcome], list[directory.DirectoryEntry]]:
    """Ask every trusted partner at once; wait one deadline; late partners are unavailable.

    The deadline runs from here; the partners get it less ``RESERVE`` (at most half of it),
    so that the audit and the answer fit inside it too.
    """
    deadline_s = node.config.locator.deadline
    deadline = time.monotonic() + deadline_s - min(RESERVE, deadline_s / 2)
    partners = [e for e in directory.entries(node) if e.org_id != node.org_id]
    if not partners:
        return [], partners
    pool = ThreadPoolExecutor(max_workers=min(32, len(partners)), thread_name_prefix="locate")
    futures = {pool.submit(_Asker(node, e.org_id, subjects, deadline).run): e.org_id for e in partners}
    done, _late = wait(futures, timeout=max(0.0, deadline - time.monotonic()), return_when=ALL_COMPLETED)
    pool.shutdown(wait=False, cancel_futures=True)  # a late answer is never shown
    outcomes = []
    for fut, org in futures.items():
        if fut in done and fut.exception() is None:
            outcomes.append(fut.result())
        elif fut in done:
            outcomes.append(Outcome(org, reason=PartnerUnavailable.code))
        else:
            outcomes.append(Outcome(org, reason=PartnerTimeout.code))
    return outcomes, partners


@dataclass(frozen=True)
class Found:
    subject: str
    entry: directory.DirectoryEntry


@dataclass(frozen=True)
class Result:
    found: list[Found]
    unavailable: list[tuple[directory.DirectoryEntry, str]]


def search(node: Node, req: Request, actor: audit_log.Actor) -> Result:
    """Run the search and audit it (one entry per subject) before anything is shown."""
    outcomes, partners = ask_all(node, req.subjects)
    by_org = {e.org_id: e for e in partners}
    found = [Found(s, by_org[o.org]) for o in outcomes for s in o.found if o.org in by_org]
    unavailable = [(by_org[o.org], o.reason) for o in outcomes if o.reason]
    with node.uow() as uow:
        for subject in req.subjects:
            orgs = sorted({f.entry.org_id for f in found if f.subject == subject})
            audit_log.append(
                uow.session,
                node,
                AuditRecord(
                    action=events.LOCATE_SEARCHED,
                    outcome=events.SUCCESS,
                    purpose=req.purpose,
                    count=len(orgs),
                    **audit_log.fields(actor, subject=subject),
                    detail={
                        "found": orgs,
                        "asked": len(partners),
                        "unavailable": sorted(e.org_id for e, _ in unavailable),
                    },
                ),
            )
        uow.commit()
    found.sort(key=lambda f: (req.subjects.index(f.subject), f.entry.name))
    return Result(found=found, unavailable=sorted(unavailable, key=lambda u: u[0].org_id))


def contact_point(value: str) -> dict[str, str]:
    if "@" in value:
        return {"system": "email", "value": value}
    if value.startswith(("https://", "http://")):
        return {"system": "url", "value": value}
    return {"system": "phone", "value": value}
