"""Forwarded headers are believed only from a configured proxy (``server.trusted_proxies``).

Behind nginx the peer address is the proxy's, and the client's is in ``X-Forwarded-For``.
Anyone can send that header, so the node takes it only when the connection comes from an
address in ``server.trusted_proxies``: then the proxy's own (last) entry is the client
address the audit and the logs record. From anywhere else every forwarding header is
dropped before the app sees it, so no view can be fooled by one. gunicorn applies the
same list to ``X-Forwarded-Proto`` (its ``forwarded_allow_ips``, which ``gateway serve``
sets to this list instead of gunicorn's default of loopback).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

FORWARDING = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_FORWARDED",
    "HTTP_X_REAL_IP",
)


class ForwardedHeaders:
    """WSGI middleware: honour ``X-Forwarded-For`` from trusted proxies only, drop it otherwise."""

    def __init__(self, app: Callable[..., Iterable[bytes]], trusted: frozenset[str]) -> None:
        self.app = app
        self.trusted = trusted

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        if environ.get("REMOTE_ADDR") in self.trusted and forwarded:
            client = forwarded.split(",")[-1].strip()
            try:
                environ["REMOTE_ADDR"] = str(ipaddress.ip_address(client))
            except ValueError:
                pass  # the proxy sent nonsense: keep the proxy's own address
        for key in FORWARDING:
            environ.pop(key, None)
        return self.app(environ, start_response)
