"""TLS for the node: the server side of ``gateway serve`` and the partner client's context.

Server (gunicorn's ssl options): the certificate chain and key from ``[tls]``, TLS 1.2 or
newer only (``tls.min_version``), and with ``tls.client_auth`` ``required`` a handshake
without a client certificate issued under ``tls.client_ca`` fails (mutual TLS, as the
Dutch norm asks with PKIoverheid or UZI server certificates).

Client (``adapters.http.StrictClient``): partners' servers are checked against
``partners.ca_bundle`` (the PKIoverheid private root is not in certifi) or certifi, with
hostname checks, TLS 1.2 or newer, and the node presents ``partners.client_certfile``
when a partner asks for a client certificate.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import certifi

from gateway.ops.startup_checks import resolve

_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def server_options(cfg: Any) -> dict[str, Any]:
    """Gunicorn settings for ``[tls]``; empty when the node speaks plain HTTP (behind a proxy)."""
    t = cfg.tls
    if not t.certfile:
        return {}
    minimum = _VERSIONS[t.min_version]

    def ssl_context(conf: Any, default_factory: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        context = default_factory()  # chain, key, ca_certs and cert_reqs from the options below
        context.minimum_version = minimum
        return context

    options: dict[str, Any] = {
        "certfile": str(resolve(cfg, t.certfile)),
        "keyfile": str(resolve(cfg, t.keyfile)),
        "cert_reqs": _CERT_REQS[t.client_auth],
        "ssl_context": ssl_context,
    }
    if t.client_ca:
        options["ca_certs"] = str(resolve(cfg, t.client_ca))
    return options


def server_context(cfg: Any) -> ssl.SSLContext:
    """The same server context gunicorn builds (selftest and tests use it)."""
    t = cfg.tls
    context = ssl.create_default_context(
        ssl.Purpose.CLIENT_AUTH, cafile=str(resolve(cfg, t.client_ca)) if t.client_ca else None
    )
    context.load_cert_chain(str(resolve(cfg, t.certfile)), str(resolve(cfg, t.keyfile)))
    context.verify_mode = _CERT_REQS[t.client_auth]
    context.minimum_version = _VERSIONS[t.min_version]
    return context


def client_context(
    *, ca_bundle: str | None = None, certfile: str | None = None, keyfile: str | None = None
) -> ssl.SSLContext:
    """A verifying client context: the CA bundle (default certifi), hostname checks, TLS 1.2+."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_bundle or certifi.where())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if certfile:
        context.load_cert_chain(certfile, keyfile)
    return context


def partner_context(cfg: Any) -> ssl.SSLContext | None:
    """The partner client's context from ``[partners]``; None when verification is off."""
    p = cfg.partners
    if not p.verify_tls:
        return None
    return client_context(
        ca_bundle=str(resolve(cfg, p.ca_bundle)) if p.ca_bundle else None,
        certfile=str(resolve(cfg, p.client_certfile)) if p.client_certfile else None,
        keyfile=str(resolve(cfg, p.client_keyfile)) if p.client_keyfile else None,
    )
