"""The ``Idempotency-Key`` header on the local API's writes (issue 20.1).

An EHR that retries a write after a timeout must not create a second consent, revoke
twice or push a second safety disclosure. It sends ``Idempotency-Key: <1-255 visible
ASCII>`` (draft-ietf-httpapi-idempotency-key-header); the node claims the key for that
client in ``once_keys`` before the view runs (``gateway.services.onetime``):

- first use: the operation runs; its answer (2xx or 4xx) is kept for a day;
- the same key and the same request again: the kept answer, with ``Idempotent-Replayed:
  true``, and nothing is done;
- the same key while the first request still runs: 409 ``conflict``;
- the same key for a different request (method, path, query, body, ``X-Practitioner``):
  422 ``idempotency-key-reused``;
- a 5xx answer is not kept: the key may be tried again.

Where an answer may not be kept (a partner's summary: bodies are never stored), a repeat
gets 409 ``conflict`` naming the earlier exchange instead of a second exchange.
Without the header an operation runs as before.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from flask import Response, request

from contract.errors import Conflict, GatewayError, IdempotencyKeyReused, InvalidRequest, PartnerRefusal
from gateway.current import node_of
from gateway.http import auth, outcomes
from gateway.services import onetime

HEADER = "Idempotency-Key"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
NOT_KEPT = "not-kept:"  # ``location`` of an answer whose body may not be stored


def _fingerprint() -> str:
    h = hashlib.sha256()
    for part in (
        request.method,
        request.path,
        request.query_string.decode("latin-1"),
        request.headers.get("X-Practitioner", "").strip(),
    ):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    h.update(request.get_data(cache=True))
    return h.hexdigest()


def idempotent(keep_body: bool = True) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Make a write view honour ``Idempotency-Key``; ``keep_body=False`` for answers that
    may not be stored (a repeat then gets 409 with the earlier answer's exchange id)."""

    def wrap(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def run(*args: Any, **kwargs: Any) -> Response:
            key = request.headers.get(HEADER)
            if key is None:
                return view(*args, **kwargs)
            if not _KEY.fullmatch(key):
                raise InvalidRequest(f"{HEADER} is 1 tot 255 zichtbare ASCII-tekens.")
            node = node_of()
            who = auth.verify_access_token(node, request.headers.get("Authorization"))
            scope = f"api:{who.client_id}"[:160]
            fingerprint = _fingerprint()
            earlier = onetime.claim(node, scope, key, fingerprint)
            if earlier is not None:
                return _repeat(earlier, fingerprint)
            try:
                resp = view(*args, **kwargs)
            except GatewayError as exc:
                status = exc.status if isinstance(exc, PartnerRefusal) else outcomes.status_of(exc.code)
                if status >= 500:
                    onetime.release(node, scope, key)
                else:
                    onetime.finish(node, scope, key, status, body=_outcome_json(exc))
                raise
            except BaseException:
                onetime.release(node, scope, key)
                raise
            if resp.status_code >= 500:
                onetime.release(node, scope, key)
            elif keep_body:
                onetime.finish(
                    node, scope, key, resp.status_code, resp.headers.get("Location", ""), resp.get_data(as_text=True)
                )
            else:
                onetime.finish(node, scope, key, resp.status_code, location=NOT_KEPT + _exchange_id(resp))
            return resp

        return run

    return wrap


def _outcome_json(exc: GatewayError) -> str:
    if hasattr(exc, "body") and isinstance(exc.body, dict):  # a partner's own OperationOutcome
        return json.dumps(exc.body, ensure_ascii=False)
    return json.dumps(outcomes.outcome(exc.code, exc.detail), ensure_ascii=False)


def _exchange_id(resp: Response) -> str:
    try:
        body = json.loads(resp.get_data(as_text=True))
    except ValueError:
        return ""
    ident = body.get("identifier") if isinstance(body, dict) else None
    return str(ident.get("value", "")) if isinstance(ident, dict) else ""


def _repeat(earlier: onetime.Earlier, fingerprint: str) -> Response:
    if earlier.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    if earlier.status == onetime.RUNNING:
        raise Conflict("Een verzoek met deze Idempotency-Key wordt nog verwerkt. Probeer het zo opnieuw.")
    if earlier.location.startswith(NOT_KEPT):
        xid = earlier.location.removeprefix(NOT_KEPT)
        raise Conflict(
            "Dit verzoek is al beantwoord"
            + (f" (exchange-id {xid})" if xid else "")
            + "; het antwoord wordt hier niet bewaard. Vraag opnieuw met een nieuwe Idempotency-Key."
        )
    resp = Response(earlier.body, status=earlier.status, mimetype="application/fhir+json")
    if earlier.location:
        resp.headers["Location"] = earlier.location
    resp.headers["Idempotent-Replayed"] = "true"
    return resp
