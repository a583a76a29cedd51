"""Start-up checks for the operations settings of issue 18: TLS, keys in an HSM, metrics, logs.

Kept beside ``gateway.config`` (which calls ``check_operations`` from its ``check``) so
that the configuration loader stays one small table of sections. Every rule raises the
loader's ``ConfigError``: a node never starts on TLS files it cannot read, a metrics
bind on its partner port, or an HSM it cannot name.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from pathlib import Path
from typing import Any

CLIENT_AUTH = ("none", "optional", "required")
TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")
KEY_BACKENDS = ("file", "pkcs11")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")
_BIND = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$")


def resolve(cfg: Any, path: str) -> Path:
    """A file named in the configuration: absolute, or relative to the node home."""
    p = Path(path)
    return p if p.is_absolute() else Path(cfg.home) / p


def split_bind(bind: str) -> tuple[str, int]:
    """``host:port`` -> (host, port); raises ValueError on anything else."""
    m = _BIND.fullmatch(bind)
    if not m or not 1 <= int(m.group(2)) <= 65535:
        raise ValueError(bind)
    return m.group(1).strip("[]"), int(m.group(2))


def trusted_proxies(cfg: Any) -> frozenset[str]:
    """The proxy addresses whose forwarded headers the node believes (``server.trusted_proxies``)."""
    return frozenset(p.strip() for p in cfg.server.trusted_proxies.split(",") if p.strip())


def check_operations(cfg: Any, error: type[Exception]) -> None:
    """Refuse TLS, key, metrics and log settings that cannot work."""
    _check_tls(cfg, error)
    _check_partner_tls(cfg, error)
    _check_keys(cfg, error)
    if cfg.metrics.bind:
        try:
            _host, port = split_bind(cfg.metrics.bind)
        except ValueError:
            raise error(f"metrics.bind {cfg.metrics.bind!r}: use host:port, e.g. 127.0.0.1:9400") from None
        if port == cfg.server.port:
            raise error("metrics.bind must not use the partner port (server.port): metrics get their own bind")
    if cfg.log.level not in LOG_LEVELS:
        raise error(f"log.level must be one of {LOG_LEVELS}")
    if cfg.log.format not in LOG_FORMATS:
        raise error(f"log.format must be one of {LOG_FORMATS}")
    for proxy in trusted_proxies(cfg):
        try:
            ipaddress.ip_address(proxy)
        except ValueError:
            raise error(f"server.trusted_proxies: {proxy!r} is not an IP address") from None


def _readable(cfg: Any, name: str, value: str, error: type[Exception]) -> None:
    path = resolve(cfg, value)
    try:
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024)
    except OSError as exc:
        raise error(f"{name} {value!r}: cannot read it ({exc.strerror})") from None
    if b"-----BEGIN " not in head:
        raise error(f"{name} {value!r} is not a PEM file")


def _pair(cfg: Any, prefix: str, certfile: str, keyfile: str, error: type[Exception]) -> None:
    """The certificate and the key must belong together, or every handshake would fail later."""
    try:
        ssl.create_default_context().load_cert_chain(str(resolve(cfg, certfile)), str(resolve(cfg, keyfile)))
    except ssl.SSLError as exc:
        what = "tls.certfile and tls.keyfile" if prefix == "tls" else "partners.client_certfile and client_keyfile"
        raise error(f"{what} do not belong together or cannot be read ({exc.reason or exc})") from None


def _check_tls(cfg: Any, error: type[Exception]) -> None:
    t = cfg.tls
    if t.client_auth not in CLIENT_AUTH:
        raise error(f"tls.client_auth must be one of {CLIENT_AUTH}")
    if t.min_version not in TLS_VERSIONS:
        raise error(f"tls.min_version must be one of {TLS_VERSIONS} (older versions are refused)")
    if bool(t.certfile) != bool(t.keyfile):
        raise error("tls.certfile and tls.keyfile go together")
    if not t.certfile:
        if t.client_auth != "none" or t.client_ca:
            raise error("tls.client_auth and tls.client_ca need tls.certfile and tls.keyfile")
        return
    _readable(cfg, "tls.certfile", t.certfile, error)
    _readable(cfg, "tls.keyfile", t.keyfile, error)
    if resolve(cfg, t.keyfile).stat().st_mode & 0o077:
        raise error(f"tls.keyfile {t.keyfile!r} is readable by others; chmod 600 it")
    _pair(cfg, "tls", t.certfile, t.keyfile, error)
    if t.client_auth != "none":
        if not t.client_ca:
            raise error("tls.client_auth needs tls.client_ca (the CAs whose client certificates count)")
        _readable(cfg, "tls.client_ca", t.client_ca, error)


def _check_partner_tls(cfg: Any, error: type[Exception]) -> None:
    p = cfg.partners
    if p.ca_bundle:
        _readable(cfg, "partners.ca_bundle", p.ca_bundle, error)
    if bool(p.client_certfile) != bool(p.client_keyfile):
        raise error("partners.client_certfile and partners.client_keyfile go together")
    if p.client_certfile:
        _readable(cfg, "partners.client_certfile", p.client_certfile, error)
        _readable(cfg, "partners.client_keyfile", p.client_keyfile, error)
        if resolve(cfg, p.client_keyfile).stat().st_mode & 0o077:
            raise error(f"partners.client_keyfile {p.client_keyfile!r} is readable by others; chmod 600 it")
        _pair(cfg, "partners.client_", p.client_certfile, p.client_keyfile, error)


def _check_keys(cfg: Any, error: type[Exception]) -> None:
    k = cfg.keys
    if k.backend not in KEY_BACKENDS:
        raise error(f"keys.backend must be one of {KEY_BACKENDS}")
    if k.backend == "pkcs11":
        if not k.pkcs11_module or not k.pkcs11_token:
            raise error("keys.backend pkcs11 needs keys.pkcs11_module and keys.pkcs11_token")
        if not Path(k.pkcs11_module).is_file():
            raise error(f"keys.pkcs11_module {k.pkcs11_module!r} does not exist")
        if k.alg != "ES256":
            raise error('keys.backend pkcs11 makes ES256 keys only (keys.alg = "ES256")')
