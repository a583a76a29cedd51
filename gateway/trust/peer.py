"""Calling a partner node: ``private_key_jwt`` for an access token, then its operations.

The access token is cached per partner for its life (less a margin), so an exchange costs
one round trip, not two. Every call goes through the one strict client (adapters.http).
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from contract import jwt, systems
from contract.errors import (
    InvalidRequest,
    NodeBusy,
    PartnerRefusal,
    PartnerUnavailable,
    TokenExpired,
    UnknownPartner,
)
from gateway.http import observe
from gateway.http.auth import ASSERTION_TYP
from gateway.ops import metrics
from gateway.repositories import witnesses
from gateway.repositories.ports import NodeParts

ASSERTION_TYPE = systems.JWT_BEARER_ASSERTION
#: calls a partner answers without calling us back: they need no free-thread reserve
CALLBACK_FREE = frozenset(
    {"consent-status", "consent-revoked", "exchange-receipts", "audit-head", "locator-setup", "locator-match"}
)


class PeerCaller:
    """One per node (and process): holds the partner access-token cache."""

    def __init__(self, node: NodeParts) -> None:
        self.node = node
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        # A partner answering our request may call us back ($consent-status, when we issued
        # the consent). If every thread of this process waited on partners, the callback
        # would find none free and both sides would time out. Waiting for a slot would
        # itself hold a thread, so a request over the limit is refused at once (node-busy):
        # at least one thread per process always stays free to answer partners.
        self._outbound = threading.BoundedSemaphore(max(1, node.config.server.threads - 1))

    def _url(self, org_id: str) -> str:
        url: str | None = self.node.partners.url_of(org_id)
        if url is None:
            raise InvalidRequest(f"{org_id!r} is geen vertrouwde partner van deze node.")
        return url

    def access_token(self, org_id: str, *, fresh: bool = False, timeout: tuple[float, float] | None = None) -> str:
        with self._lock:
            cached = self._tokens.get(org_id)
            if cached and not fresh and cached[1] > time.monotonic():
                return cached[0]
        url = self._url(org_id)
        token_url = url + "/oauth/token"
        now = int(self.node.clock().timestamp())
        kid, alg, key = self.node.keys.active
        me = self.node.org_id
        assertion = jwt.sign(
            {"iss": me, "sub": me, "aud": token_url, "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex},
            key,
            kid=kid,
            alg=alg,
            typ=ASSERTION_TYP,
        )
        reply = self.node.http.request(
            "POST",
            token_url,
            timeout=timeout,
            form={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.status in (400, 401) and body.get("error") == "invalid_client":
            skew = clock_skew(reply.date, self.node.clock())
            if skew is not None and abs(skew) > jwt.LEEWAY:
                # our assertion looked expired or from the future to the partner: say so
                raise TokenExpired(
                    f"De klok van deze node en die van {org_id} lopen {abs(int(skew))} seconden "
                    "uiteen (meer dan 60 s); laat de beheerder de tijd (NTP) controleren."
                )
            # The partner no longer takes us for a partner (trust removed, our key not pinned):
            # the same answer its partner API gives a token it no longer honours.
            raise UnknownPartner(f"De partner {org_id} erkent deze node niet (meer) als vertrouwde partner.")
        if reply.status != 200 or not isinstance(body.get("access_token"), str):
            error = body.get("error", f"status {reply.status}")
            raise PartnerUnavailable(f"De partner {org_id} weigerde onze aanmelding ({error}).")
        expires_in = body.get("expires_in")
        ttl = expires_in if type(expires_in) is int else 60
        token: str = body["access_token"]
        with self._lock:
            self._tokens[org_id] = (token, time.monotonic() + max(ttl - 30, 5))
        return token

    def call(
        self, org_id: str, operation: str, parameters: dict[str, Any], timeout: tuple[float, float] | None = None
    ) -> Any:
        """POST ``/fhir/$operation`` to the partner; return the reply (status, body, raw)."""
        if operation in CALLBACK_FREE:
            return self._call(org_id, operation, parameters, timeout)
        if not self._outbound.acquire(blocking=False):
            raise NodeBusy()
        try:
            return self._call(org_id, operation, parameters, timeout)
        finally:
            self._outbound.release()

    def _call(
        self, org_id: str, operation: str, parameters: dict[str, Any], timeout: tuple[float, float] | None = None
    ) -> Any:
        observe.note_partner_call(org_id)
        url = self._url(org_id) + "/fhir/$" + operation
        head = witnesses.outgoing(self.node)  # our latest signed audit head: the partner witnesses it
        for attempt in (0, 1):
            tok = self.access_token(org_id, fresh=attempt == 1, timeout=timeout)
            started = time.perf_counter()
            status: int | str = "failed"
            try:
                reply = self.node.http.request(
                    "POST",
                    url,
                    json_body=parameters,
                    timeout=timeout,
                    headers={"Authorization": f"Bearer {tok}", **head},
                )
                status = reply.status
            finally:
                metrics.partner_call(org_id, operation, status, time.perf_counter() - started)
            if reply.status == 401 and refusal_reason(reply.body) == "unauthenticated" and attempt == 0:
                continue  # our cached token died (partner restarted or rotated): fetch a new one once
            break
        if reply.headers is not None:
            witnesses.receive(self.node, org_id, reply.headers.get(witnesses.HEADER))
        return reply


def clock_skew(date_header: str, now: datetime) -> float | None:
    """Seconds the partner's clock (its HTTP Date header) is ahead of ours; None if unknown."""
    try:
        theirs = parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return None
    if theirs is None or theirs.tzinfo is None:
        return None
    return (theirs - now).total_seconds()


def refusal_reason(body: Any) -> str | None:
    try:
        return body["issue"][0]["details"]["coding"][0]["code"]  # type: ignore[no-any-return]
    except (KeyError, IndexError, TypeError):
        return None


def refusal(reply: Any, org_id: str) -> PartnerRefusal:
    """Turn a partner's error reply into a pass-through refusal (or fail closed if malformed)."""
    body = reply.body
    reason = refusal_reason(body)
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome" or not isinstance(reason, str):
        raise PartnerUnavailable(f"De partner {org_id} gaf een onbegrijpelijk antwoord (status {reply.status}).")
    return PartnerRefusal(reply.status, body, reason)
