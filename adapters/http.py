"""The one strict outbound HTTP client (every call to a partner node goes through it).

Timeouts on connect and read, a response size cap, TLS verification on, no redirects
followed (a redirect could carry a request to a host we never pinned). Transport failures
become domain errors that fail closed: ``PartnerUnavailable`` (502) or ``PartnerTimeout``
(504).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypedDict, Unpack
from urllib.parse import urlencode

import certifi
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from contract import ijson
from contract.errors import PartnerTimeout, PartnerUnavailable

#: connections kept open per partner host (one per server thread is plenty)
POOL_SIZE = 16


class ResponseTooLarge(PartnerUnavailable):
    """The answer was over the size cap (still partner-unavailable to every caller)."""


class ResponseNotJson(PartnerUnavailable):
    """The answer's body was not strict JSON (still partner-unavailable to every caller)."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # parsed strictly; None when empty
    raw: bytes
    date: str = ""  # the partner's HTTP Date header, to tell a clock problem from a refusal
    headers: Any = None  # all response headers (case-insensitive), e.g. the partner's X-Audit-Head
    etag: str = ""  # for conditional requests (the federation list)
    last_modified: str = ""


class RequestOptions(TypedDict, total=False):
    """What one call may add to the method and URL (``StrictClient.raw_request``)."""

    json_body: Any
    form: dict[str, str] | None
    headers: dict[str, str] | None
    timeout: tuple[float, float] | None
    max_bytes: int | None


class StrictClient:
    """urllib3 with the rules above; one instance (and connection pool) per node.

    urllib3 directly, not ``requests`` on top of it: a partner call is on the hot path of
    every exchange, and requests' per-call machinery (hooks, cookie jar, environment
    merging, adapters) cost about a millisecond of CPU per call for features we refuse
    anyway (proxies from the environment, redirects, cookies).
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        max_bytes: int = 5_000_000,
        verify_tls: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.max_bytes = max_bytes
        #: extra headers for every call (the correlation id, gateway.http.observe), set per request
        self.context_headers: Callable[[], dict[str, str]] = dict
        tls: dict[str, Any]
        if ssl_context is not None:  # gateway.ops.tls.partner_context: own CA bundle, client certificate
            tls = {"cert_reqs": "CERT_REQUIRED", "ssl_context": ssl_context}
        elif verify_tls:
            tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
        else:
            tls = {"cert_reqs": "CERT_NONE"}
        # no proxy from the environment redirects our traffic: urllib3 reads none
        self.pool = urllib3.PoolManager(num_pools=64, maxsize=POOL_SIZE, retries=False, **tls)

    def close(self) -> None:
        self.pool.clear()

    def request(self, method: str, url: str, **options: Unpack[RequestOptions]) -> Reply:
        """Send one request; return the status and the strictly parsed JSON body.

        ``max_bytes`` lowers the size cap for this call (a JWKS needs far less than a summary).
        """
        reply = self.raw_request(method, url, **options)
        if reply.raw:
            return replace(reply, body=ijson.loads(reply.raw, error=ResponseNotJson))
        return reply

    def raw_request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
        max_bytes: int | None = None,
    ) -> Reply:
        """Send one request; return the status and the raw body, unparsed (``body`` is None)."""
        hdrs = {"Accept": "application/fhir+json, application/json"}
        hdrs.update(self.context_headers())
        hdrs.update(headers or {})
        data: bytes | None = None
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False).encode()
            hdrs.setdefault("Content-Type", "application/fhir+json")
        elif form is not None:
            data = urlencode(form).encode("ascii")
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        connect, read = timeout or self.timeout
        try:
            resp = self.pool.request(
                method,
                url,
                body=data,
                headers=hdrs,
                redirect=False,
                retries=False,
                preload_content=False,
                timeout=urllib3.Timeout(connect=connect, read=read),
            )
            try:
                status = resp.status
                date = resp.headers.get("Date", "")
                response_headers = resp.headers
                etag, modified = resp.headers.get("ETag", ""), resp.headers.get("Last-Modified", "")
                if 300 <= status < 400 and status != 304:  # 304: a conditional request's "unchanged"
                    raise PartnerUnavailable(f"{url} verwees door; doorverwijzingen worden niet gevolgd.")
                raw = self._read_capped(resp, min(max_bytes or self.max_bytes, self.max_bytes))
            except BaseException:
                resp.close()  # drop the connection: unread bytes must never reach the next call
                raise
            resp.release_conn()
        except NewConnectionError as exc:  # refused or unresolvable (urllib3 files it under timeouts)
            raise PartnerUnavailable(f"Geen verbinding met {url}.") from exc
        except Urllib3Timeout as exc:
            raise PartnerTimeout(f"Geen antwoord binnen de tijdslimiet van {url}.") from exc
        except (HTTPError, OSError, ValueError) as exc:
            raise PartnerUnavailable(f"Geen verbinding met {url}.") from exc
        return Reply(
            status=status,
            body=None,
            raw=raw,
            date=date,
            headers=response_headers,
            etag=etag[:255],
            last_modified=modified[:64],
        )

    def _read_capped(self, resp: Any, cap: int) -> bytes:
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge("Het antwoord van de partner is te groot.")
        chunks, size = [], 0
        deadline = time.monotonic() + sum(self.timeout)
        for chunk in resp.stream(65536):
            if time.monotonic() > deadline:  # a partner dripping bytes must not hold us
                raise PartnerTimeout("De partner antwoordde te traag.")
            size += len(chunk)
            if size > cap:
                raise ResponseTooLarge("Het antwoord van de partner is te groot.")
            chunks.append(chunk)
        return b"".join(chunks)
