"""The one strict outbound HTTP client (every call to a partner node goes through it).

Timeouts on connect and read, a response size cap, TLS verification on, no redirects
followed (a redirect could carry a request to a host we never pinned). Transport failures
become domain errors that fail closed: ``PartnerUnavailable`` (502) or ``PartnerTimeout``
(504).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from consent import ijson
from consent.errors import PartnerTimeout, PartnerUnavailable


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # parsed strictly; None when empty
    raw: bytes
    date: str = ""  # the partner's HTTP Date header, to tell a clock problem from a refusal


class StrictClient:
    """``requests`` with the rules above; one instance (and connection pool) per node."""

    def __init__(self, *, connect_timeout: float = 3.0, read_timeout: float = 10.0,
                 max_bytes: int = 5_000_000, verify_tls: bool = True) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.max_bytes = max_bytes
        self.session = requests.Session()
        self.session.verify = verify_tls
        self.session.trust_env = False  # no proxy from the environment redirects our traffic

    def request(self, method: str, url: str, *, json_body: Any = None, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, timeout: tuple[float, float] | None = None) -> Reply:
        """Send one request; return the status and the strictly parsed JSON body."""
        hdrs = {"Accept": "application/fhir+json, application/json"}
        hdrs.update(headers or {})
        data: bytes | dict[str, str] | None = form
        if json_body is not None:
            import json as _json
            data = _json.dumps(json_body, ensure_ascii=False).encode()
            hdrs.setdefault("Content-Type", "application/fhir+json")
        try:
            with self.session.request(method, url, data=data, headers=hdrs, stream=True,
                                      timeout=timeout or self.timeout, allow_redirects=False) as resp:
                raw = self._read_capped(resp)
                status = resp.status_code
                date = resp.headers.get("Date", "")
        except requests.Timeout as exc:
            raise PartnerTimeout(f"Geen antwoord binnen de tijdslimiet van {url}.") from exc
        except requests.RequestException as exc:
            raise PartnerUnavailable(f"Geen verbinding met {url}.") from exc
        if 300 <= status < 400:
            raise PartnerUnavailable(f"{url} verwees door; doorverwijzingen worden niet gevolgd.")
        body = None
        if raw:
            body = ijson.loads(raw, error=PartnerUnavailable)
        return Reply(status=status, body=body, raw=raw, date=date)

    def _read_capped(self, resp: requests.Response) -> bytes:
        declared = resp.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise PartnerUnavailable("Het antwoord van de partner is te groot.")
        chunks, size = [], 0
        deadline = time.monotonic() + sum(self.timeout)
        for chunk in resp.iter_content(65536):
            if time.monotonic() > deadline:  # a partner dripping bytes must not hold us
                raise PartnerTimeout("De partner antwoordde te traag.")
            size += len(chunk)
            if size > self.max_bytes:
                raise PartnerUnavailable("Het antwoord van de partner is te groot.")
            chunks.append(chunk)
        return b"".join(chunks)
