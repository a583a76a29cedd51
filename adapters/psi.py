"""ECDH private set intersection over OpenMined's ``openmined-psi`` (contract section 8).

The answering node (the PSI *server*) holds its findable persons' BSNs; it publishes them
once per epoch as a setup message, a Golomb-compressed set (GCS) of ``H(bsn)^k`` under its
own key ``k``, and answers blinded queries by raising each element to ``k``. The asking
node (the *client*) blinds its BSNs with a fresh key per search, ``H(bsn)^c``, removes ``c``
from the answer and looks the result up in the setup. The server sees only points on
P-256 it cannot link to a BSN, in the order sent, and never learns whether any matched.

This module is the one place that touches the library. Everything that comes from a
partner is parsed and checked here before the C++ core sees it; anything malformed is
``InvalidRequest``, never a crash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import private_set_intersection.python as psi
from google.protobuf.message import DecodeError

from contract.errors import InvalidRequest, PartnerUnavailable

#: a compressed P-256 point: 0x02 or 0x03, then 32 bytes of x
POINT_BYTES = 33
#: the order of P-256's base point: a PSI key is a scalar in [1, order)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
#: false-positive probability of one whole query of ``max_items`` items against a setup
DEFAULT_FPR = 1e-9


@dataclass(frozen=True)
class Epoch:
    """One locator epoch: its public id, and the PSI key only this node holds."""

    id: str
    key: bytes
    generation: int
    master_id: str


def derive_key(master: bytes, label: str) -> bytes:
    """A PSI key (a P-256 scalar in [1, order)) derived from ``master`` for one epoch ``label``.

    Every worker of a node derives the same key for the same epoch without sharing state;
    a new epoch is a new, unrelated key, so an old setup is useless against new answers.
    """
    for counter in range(64):
        candidate = hmac.new(master, f"psi-key|{label}|{counter}".encode(), hashlib.sha256).digest()
        if 1 <= int.from_bytes(candidate, "big") < P256_ORDER:  # else one in 2^32: try the next
            return candidate
    raise AssertionError("no PSI key derivable")  # pragma: no cover - 2^-2048


def new_master() -> bytes:
    return secrets.token_bytes(32)


@dataclass(frozen=True)
class Setup:
    """A built setup message: its bytes, for the items it was built for."""

    data: bytes
    items: int
    max_items: int


class Server:
    """The answering side under one epoch key."""

    def __init__(self, key: bytes) -> None:
        self._server = psi.server.CreateFromKey(key, True)

    def setup(self, bsns: list[str], max_items: int, fpr: float = DEFAULT_FPR) -> Setup:
        """Build the setup message (GCS): seconds for 100,000 persons, so never on a request."""
        msg = self._server.CreateSetupMessage(fpr, max_items, bsns, psi.DataStructure.GCS)
        return Setup(data=msg.SerializeToString(), items=len(bsns), max_items=max_items)

    def process(self, request: bytes, max_items: int) -> tuple[bytes, int]:
        """Answer a blinded request; return (response bytes, number of items)."""
        req = parse_request(request, max_items)
        try:
            return self._server.ProcessRequest(req).SerializeToString(), len(req.encrypted_elements)
        except RuntimeError as exc:  # a point not on the curve, and the like
            raise InvalidRequest("Het PSI-verzoek bevat een ongeldig element.") from exc


def parse_request(data: bytes, max_items: int) -> psi.Request:
    """Parse and check a partner's PSI request before the C++ core sees it."""
    req = psi.Request()
    try:
        req.ParseFromString(data)
    except DecodeError:
        raise InvalidRequest("Het PSI-verzoek is geen geldig bericht.") from None
    if req.SerializeToString() != data:
        raise InvalidRequest("Het PSI-verzoek bevat onbekende of dubbele velden.")
    if not req.reveal_intersection:
        raise InvalidRequest("Het PSI-verzoek moet reveal_intersection gebruiken.")
    n = len(req.encrypted_elements)
    if not 1 <= n <= max_items:
        raise InvalidRequest(f"Het PSI-verzoek heeft 1 tot {max_items} elementen (kreeg {n}).")
    if any(len(e) != POINT_BYTES or e[0] not in (2, 3) for e in req.encrypted_elements):
        raise InvalidRequest("Het PSI-verzoek bevat een element dat geen punt op P-256 is.")
    return req


class Query:
    """One search on the asking side: a fresh client key, never reused across searches,
    so the answering node cannot link two searches for the same person."""

    def __init__(self, items: list[str]) -> None:
        self.items = items
        self._client = psi.client.CreateWithNewKey(True)
        self.request = self._client.CreateRequest(items).SerializeToString()

    def matches(self, setup: bytes, response: bytes) -> list[str]:
        """The items found in the partner's set (``PartnerUnavailable`` on nonsense)."""
        msg, resp = psi.ServerSetup(), psi.Response()
        try:
            msg.ParseFromString(setup)
            resp.ParseFromString(response)
        except DecodeError:
            raise PartnerUnavailable("De partner gaf een onleesbaar PSI-antwoord.") from None
        if len(resp.encrypted_elements) != len(self.items):
            raise PartnerUnavailable("Het PSI-antwoord van de partner past niet bij de vraag.")
        try:
            found = self._client.GetIntersection(msg, resp)
        except RuntimeError:
            raise PartnerUnavailable("De partner gaf een onleesbaar PSI-antwoord.") from None
        return [self.items[i] for i in sorted(set(found)) if 0 <= i < len(self.items)]


def check_setup(data: bytes) -> None:
    """Refuse a partner's setup message that does not parse (``PartnerUnavailable``)."""
    msg = psi.ServerSetup()
    try:
        msg.ParseFromString(data)
    except DecodeError:
        raise PartnerUnavailable("De partner gaf een onleesbaar PSI-setupbericht.") from None
    if msg.WhichOneof("data_structure") is None:
        raise PartnerUnavailable("Het PSI-setupbericht van de partner is leeg.")
