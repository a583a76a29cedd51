"""The node's one typed configuration: ``node.toml`` plus ``GATEWAY_*`` environment overrides.

Every key is documented in README.md ("Configuration reference"). Checked at start-up so a
mistake stops the node before it serves anything; no secret has a default.
Environment variables override the file as ``GATEWAY_<SECTION>_<KEY>``, e.g.
``GATEWAY_STORE_URL`` for a PostgreSQL URL with a password.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from contract import systems
from contract.errors import GatewayError
from gateway.ops.startup_checks import check_operations

ORG_ID = re.compile(r"^[a-z0-9][a-z0-9.-]{1,62}$")
ALGORITHMS = ("ES256", "EdDSA")


class ConfigError(GatewayError):
    """The node configuration is missing, malformed or inconsistent."""

    code = "config-error"
    message_nl = "De configuratie van de node is ongeldig."


@dataclass(frozen=True)
class NodeSection:
    org_id: str
    name: str
    url: str  # public base URL; partners use url + "/oauth/token" as the assertion audience
    phone: str = ""  # who a client calls to withdraw consent or ask what was shared (receipt, AVG report)


@dataclass(frozen=True)
class StoreSection:
    url: str


@dataclass(frozen=True)
class ServerSection:
    host: str = "127.0.0.1"
    port: int = 8400
    workers: int = 2
    threads: int = 32  # issue 19: no node-busy at 32 concurrent requests on two workers
    timeout: int = 30
    # proxies whose X-Forwarded-For/-Proto are believed (comma-separated IPs); none by default
    trusted_proxies: str = ""


@dataclass(frozen=True)
class KeysSection:
    alg: str = "ES256"
    retired_key_days: int = 30  # how long a rotated-out key stays in the JWKS
    backend: str = "file"  # where new keys are made: "file" (HOME/keys) or "pkcs11" (an HSM)
    pkcs11_module: str = ""  # the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
    pkcs11_token: str = ""  # the token label

    @property
    def pkcs11_pin(self) -> str:
        """The token's user PIN: from ``GATEWAY_KEYS_PKCS11_PIN`` only, never a file key."""
        return getattr(self, "_pin", "")

    def with_pin(self, pin: str) -> KeysSection:
        object.__setattr__(self, "_pin", pin)
        return self


@dataclass(frozen=True)
class TlsSection:
    """``gateway serve`` speaking HTTPS itself (issue 18); off while certfile is empty."""

    certfile: str = ""  # PEM: the server certificate, then its intermediates
    keyfile: str = ""  # PEM private key of certfile (owner-only)
    client_ca: str = ""  # PEM bundle of the CAs whose client certificates are accepted
    client_auth: str = "none"  # none | optional | required (mutual TLS)
    min_version: str = "TLSv1.2"  # TLSv1.2 or TLSv1.3


@dataclass(frozen=True)
class MetricsSection:
    """Prometheus ``/metrics`` on its own bind, never on the partner port (issue 18)."""

    bind: str = ""  # host:port, e.g. 127.0.0.1:9400; empty: no metrics endpoint


@dataclass(frozen=True)
class LogSection:
    level: str = "info"  # debug | info | warning | error
    format: str = "json"  # json (one object per line) or text


@dataclass(frozen=True)
class SecuritySection:
    access_token_ttl: int = 300
    consent_token_ttl: int = 3600
    max_request_bytes: int = 1_000_000


@dataclass(frozen=True)
class PartnersSection:
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    max_response_bytes: int = 5_000_000
    jwks_refetch_interval: int = 60  # seconds between re-fetches of one partner's JWKS
    jwks_max_age: int = 86_400  # pinned keys older than this are re-read on their next use
    verify_tls: bool = True
    ca_bundle: str = ""  # PEM CA bundle partners' servers are checked against (default: certifi)
    client_certfile: str = ""  # PEM client certificate (chain) this node presents (mutual TLS)
    client_keyfile: str = ""  # its private key


@dataclass(frozen=True)
class FederationSection:
    """The regional federation list (contract section 7); no ``list_url``, no federation."""

    list_url: str = ""  # https://…, http:// on loopback only, or file://…
    operator_thumbprints: tuple[str, ...] = ()  # RFC 7638 thumbprints of accepted operator keys
    refresh_seconds: int = 300  # how often the list is fetched again (a conditional request)
    grace_seconds: int = 0  # how long past its valid-until a list may still be used (default none)
    max_list_bytes: int = 10_000_000  # a larger list is refused unread

    @property
    def enabled(self) -> bool:
        return bool(self.list_url)


@dataclass(frozen=True)
class AuditSection:
    retention_days: int = 3653  # ten years; NEN 7513 asks for years, the WGBO term is longer
    # probing flags (audit.probing): more than this many, per partner per Dutch day
    probe_unknown_per_day: int = 10  # subject-unknown answers
    probe_refusals_per_day: int = 25  # refusals of any kind


@dataclass(frozen=True)
class ConsentSection:
    """Who else may issue consent tokens this node discloses on (contract section 4)."""

    # org ids of consent registrars whose tokens count here although they are neither this
    # node nor the grantee (a regional consent service, say); empty: only the parties
    registrars: tuple[str, ...] = ()


@dataclass(frozen=True)
class WebSection:
    """The Dutch pages for the organisation's own people (issue 7); off unless enabled."""

    enabled: bool = False
    session_idle_minutes: int = 15  # a session unused this long is over
    session_max_hours: int = 10  # and any session ends after this long (a working day)
    overview_deadline: float = 8.0  # seconds the family overview waits for all partners together
    demo_login: bool = False  # a marked login without IdP: only for the loopback demo (see check)


@dataclass(frozen=True)
class LocatorSection:
    """Finding who is involved (contract section 8, issue 16)."""

    deadline: float = 5.0  # seconds $locate waits for all partners together
    max_items: int = 8  # blinded items one $locator-match may carry (a child and its parents)
    rate_per_minute: int = 60  # $locator-setup and $locator-match calls per partner per minute
    key_rotation_days: int = 30  # the PSI master key is replaced this often
    refresh_seconds: float = 5.0  # how often each worker checks that its setup is current
    false_positive_rate: float = 1e-9  # chance that one query of max_items finds someone not there


@dataclass(frozen=True)
class OidcSection:
    """The organisation's OpenID Connect provider (authorization code + PKCE, via authlib).

    ``client_secret`` is read from ``GATEWAY_OIDC_CLIENT_SECRET`` only: ``load`` refuses it in
    node.toml, so the secret never sits in a file that is copied, backed up or shown. It is
    deliberately not a dataclass field (no repr, no file key); ``load`` attaches it.
    """

    issuer: str = ""  # e.g. https://login.example.nl; discovery at issuer + /.well-known/openid-configuration
    client_id: str = ""
    scope: str = "openid profile"  # plus whatever scope releases the role claim
    role_claim: str = "roles"  # claim holding the user's role(s): a string or a list
    role_professional: str = "professional"  # the claim value that means professional
    role_privacy_officer: str = "privacy-officer"  # the claim value that means privacy officer
    practitioner_claim: str = "practitioner_id"  # e.g. uzi:123456, recorded as the audit actor

    @property
    def client_secret(self) -> str:
        return getattr(self, "_client_secret", "")

    def with_secret(self, secret: str) -> OidcSection:
        """Return this section carrying ``secret`` (from the environment, never from a file)."""
        object.__setattr__(self, "_client_secret", secret)
        return self


SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
SOURCE_AUTH = ("bearer", "client_credentials")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class SourceSection:
    """One EHR whose FHIR R4 API ``gateway sync`` reads (``[sources.NAME]``, issue 6).

    The secret (the bearer token, or the client secret for client credentials) comes only
    from the environment, ``GATEWAY_SOURCE_<NAME>_SECRET`` (name upper-cased, ``-`` as
    ``_``); the file never holds it and it has no default.
    """

    name: str
    base_url: str  # the FHIR base, e.g. https://epd.example/fhir
    mapping: str  # mapping file (JSON or TOML), relative to the node home or absolute
    auth: str = "client_credentials"  # or "bearer"
    token_url: str = ""  # client_credentials: the OAuth 2.0 token endpoint
    client_id: str = ""  # client_credentials: our client id at the EHR
    scope: str = ""  # client_credentials: optional scope parameter
    page_size: int = 100  # _count per search page
    identifier_system: str = ""  # link back to the source; default urn:gateway:source:<name>
    secret: str | None = field(default=None, repr=False)

    @property
    def env_prefix(self) -> str:
        return "GATEWAY_SOURCE_" + self.name.upper().replace("-", "_") + "_"

    @property
    def record_system(self) -> str:
        return self.identifier_system or f"{systems.SOURCE_URN}{self.name}"


@dataclass(frozen=True)
class NodeConfig:
    home: Path
    node: NodeSection
    store: StoreSection
    server: ServerSection = field(default_factory=ServerSection)
    keys: KeysSection = field(default_factory=KeysSection)
    security: SecuritySection = field(default_factory=SecuritySection)
    partners: PartnersSection = field(default_factory=PartnersSection)
    audit: AuditSection = field(default_factory=AuditSection)
    web: WebSection = field(default_factory=WebSection)
    consent: ConsentSection = field(default_factory=ConsentSection)
    oidc: OidcSection = field(default_factory=OidcSection)
    federation: FederationSection = field(default_factory=FederationSection)
    locator: LocatorSection = field(default_factory=LocatorSection)
    sources: tuple[SourceSection, ...] = ()  # [sources.NAME] tables (issue 6), see SourceSection
    tls: TlsSection = field(default_factory=TlsSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)
    log: LogSection = field(default_factory=LogSection)

    @property
    def token_url(self) -> str:
        return self.node.url.rstrip("/") + "/oauth/token"


_SECTIONS = {
    "node": NodeSection,
    "store": StoreSection,
    "server": ServerSection,
    "keys": KeysSection,
    "security": SecuritySection,
    "partners": PartnersSection,
    "audit": AuditSection,
    "web": WebSection,
    "oidc": OidcSection,
    "consent": ConsentSection,
    "federation": FederationSection,
    "locator": LocatorSection,
    "tls": TlsSection,
    "metrics": MetricsSection,
    "log": LogSection,
}


_INT = re.compile(r"-?[0-9]{1,18}")
_FLOAT = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,9})?")


def _coerce(value: Any, typ: Any, where: str, *, from_env: bool) -> Any:
    """Give ``value`` the field's type; a file value must already have it (TOML is typed).

    Environment values are strings and are parsed strictly: ASCII digits only (Python's
    ``int`` would also take full-width or Arabic-Indic digits), finite numbers, and
    ``true``/``false``-like words for booleans.
    """
    bad = ConfigError(f"{where}: invalid value {value!r}")
    if typ in (tuple[str, ...], "tuple[str, ...]"):  # a TOML list, or comma-separated in the environment
        if from_env and isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise bad
    if typ in (int, "int"):
        if from_env and isinstance(value, str) and _INT.fullmatch(value):
            return int(value)
        if type(value) is int:
            return value
        raise bad
    if typ in (float, "float"):
        if from_env and isinstance(value, str) and _FLOAT.fullmatch(value):
            return float(value)
        if type(value) in (int, float) and math.isfinite(value):
            return float(value)
        raise bad
    if typ in (bool, "bool"):
        if isinstance(value, bool):
            return value
        if from_env and str(value).lower() in ("1", "true", "yes"):
            return True
        if from_env and str(value).lower() in ("0", "false", "no"):
            return False
        raise bad
    if not isinstance(value, str):
        raise bad
    return value


def load(home: str | Path, env: dict[str, str] | None = None) -> NodeConfig:
    """Read ``home/node.toml`` and the environment; raise ConfigError on any problem."""
    home = Path(home).resolve()
    path = home / "node.toml"
    if not path.is_file():
        raise ConfigError(f"no node here: {path} does not exist (run 'gateway init' first)")
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    env = dict(os.environ if env is None else env)
    unknown = set(raw) - set(_SECTIONS) - {"sources"}
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}")
    built: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{name}] must be a table")
        section = dict(table)
        if name == "oidc" and "client_secret" in section:
            raise ConfigError(
                f"{path}: [oidc] client_secret belongs in the environment "
                "(GATEWAY_OIDC_CLIENT_SECRET), never in node.toml"
            )
        if name == "keys" and "pkcs11_pin" in section:
            raise ConfigError(
                f"{path}: [keys] pkcs11_pin belongs in the environment (GATEWAY_KEYS_PKCS11_PIN), never in node.toml"
            )
        names = {f.name: f for f in fields(cls)}
        bad = set(section) - set(names)
        if bad:
            raise ConfigError(f"{path}: unknown key(s) in [{name}]: {sorted(bad)}")
        for key, f in names.items():
            env_key = f"GATEWAY_{name.upper()}_{key.upper()}"
            if env_key in env:
                section[key] = _coerce(env[env_key], f.type, env_key, from_env=True)
            elif key in section:
                section[key] = _coerce(section[key], f.type, f"[{name}] {key}", from_env=False)
        try:
            built[name] = cls(**section)
        except TypeError:
            missing = [k for k, f in names.items() if k not in section and f.default is f.default_factory]
            raise ConfigError(f"{path}: [{name}] needs {', '.join(missing)}") from None
    built["oidc"] = built["oidc"].with_secret(env.get("GATEWAY_OIDC_CLIENT_SECRET", ""))
    built["keys"] = built["keys"].with_pin(env.get("GATEWAY_KEYS_PKCS11_PIN", ""))
    cfg = NodeConfig(home=home, sources=_sources(raw.get("sources", {}), path, env), **built)
    check(cfg)
    return cfg


def _sources(raw: Any, path: Path, env: dict[str, str]) -> tuple[SourceSection, ...]:
    """Read the ``[sources.NAME]`` tables; overrides and the secret come from the environment."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [sources] must hold tables [sources.NAME]")
    types = {f.name: f.type for f in fields(SourceSection)}
    names = types.keys() - {"name", "secret"}
    out = []
    for name, table in raw.items():
        if not SOURCE_NAME.fullmatch(name):
            raise ConfigError(f"{path}: source name {name!r}: use 1-40 chars a-z 0-9 -")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [sources.{name}] must be a table")
        bad = set(table) - names
        if bad:
            hint = " (secrets come from the environment only)" if bad & {"secret", "client_secret", "token"} else ""
            raise ConfigError(f"{path}: unknown key(s) in [sources.{name}]: {sorted(bad)}{hint}")
        section: dict[str, Any] = {"name": name}
        prefix = "GATEWAY_SOURCE_" + name.upper().replace("-", "_") + "_"
        for key in names:
            if prefix + key.upper() in env:
                section[key] = _coerce(env[prefix + key.upper()], types[key], prefix + key.upper(), from_env=True)
            elif key in table:
                section[key] = _coerce(table[key], types[key], f"[sources.{name}] {key}", from_env=False)
        missing = [k for k in ("base_url", "mapping") if k not in section]
        if missing:
            raise ConfigError(f"{path}: [sources.{name}] needs {', '.join(missing)}")
        out.append(SourceSection(**section, secret=env.get(prefix + "SECRET") or None))
    return tuple(out)


def _url_ok(url: str) -> bool:
    """An https URL, or http on loopback only: health data never crosses a network in clear."""
    m = re.fullmatch(r"(https?)://([^/\s:]+|\[[^\]\s]+\])(:[0-9]{1,5})?(/[^\s]*)?", url)
    return m is not None and (m.group(1) == "https" or m.group(2) in _LOOPBACK)


def check_source(src: SourceSection) -> None:
    """Refuse a source whose settings cannot work (called by ``check`` for every source)."""
    where = f"[sources.{src.name}]"
    if not _url_ok(src.base_url):
        raise ConfigError(f"{where} base_url {src.base_url!r}: use https (http only on loopback)")
    if src.auth not in SOURCE_AUTH:
        raise ConfigError(f"{where} auth must be one of {SOURCE_AUTH}")
    if src.auth == "client_credentials":
        if not _url_ok(src.token_url):
            raise ConfigError(f"{where} token_url {src.token_url!r}: client_credentials needs an https token URL")
        if not src.client_id:
            raise ConfigError(f"{where} client_credentials needs client_id")
    if not 1 <= src.page_size <= 1000:
        raise ConfigError(f"{where} page_size must be 1-1000")
    if not src.mapping:
        raise ConfigError(f"{where} mapping names a mapping file")


def check(cfg: NodeConfig) -> None:
    """Refuse an inconsistent configuration at start-up, not at the first request."""
    if not ORG_ID.fullmatch(cfg.node.org_id):
        raise ConfigError(f"[node] org_id {cfg.node.org_id!r}: use 2-63 chars a-z 0-9 . -")
    if not re.fullmatch(r"https?://[^/\s]+(/[^\s]*)?", cfg.node.url):
        raise ConfigError(f"[node] url {cfg.node.url!r} is not an http(s) URL")
    if cfg.keys.alg not in ALGORITHMS:
        raise ConfigError(f"[keys] alg must be one of {ALGORITHMS}")
    if not cfg.store.url.startswith(("sqlite:///", "postgresql+psycopg://")):
        raise ConfigError("[store] url must be sqlite:///… or postgresql+psycopg://…")
    try:
        make_url(cfg.store.url)
    except (ArgumentError, ValueError):  # e.g. a port that is not a number
        raise ConfigError("[store] url is not a valid SQLAlchemy URL") from None
    for name, value in (
        ("server.workers", cfg.server.workers),
        ("server.threads", cfg.server.threads),
        ("security.access_token_ttl", cfg.security.access_token_ttl),
    ):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1")
    if not 1 <= cfg.server.port <= 65535:
        raise ConfigError(f"server.port {cfg.server.port} is not a TCP port")
    for name, number in (
        ("partners.connect_timeout", cfg.partners.connect_timeout),
        ("partners.read_timeout", cfg.partners.read_timeout),
        ("partners.max_response_bytes", cfg.partners.max_response_bytes),
        ("partners.jwks_max_age", cfg.partners.jwks_max_age),
        ("security.max_request_bytes", cfg.security.max_request_bytes),
        ("server.timeout", cfg.server.timeout),
    ):
        if number <= 0:
            raise ConfigError(f"{name} must be positive")
    for name, limit in (
        ("audit.probe_unknown_per_day", cfg.audit.probe_unknown_per_day),
        ("audit.probe_refusals_per_day", cfg.audit.probe_refusals_per_day),
    ):
        if limit < 0:
            raise ConfigError(f"{name} must be 0 or more")
    if cfg.security.access_token_ttl > 3600:
        raise ConfigError("security.access_token_ttl: access tokens are short-lived (at most 3600 s)")
    for src in cfg.sources:
        check_source(src)
    for registrar in cfg.consent.registrars:
        if not ORG_ID.fullmatch(registrar):
            raise ConfigError(f"[consent] registrars: {registrar!r} is not an org id (2-63 chars a-z 0-9 . -)")
    _check_web(cfg)
    _check_federation(cfg.federation)
    _check_locator(cfg.locator)

    check_operations(cfg, ConfigError)


_THUMBPRINT = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url of a SHA-256 digest (RFC 7638)


def _check_federation(f: FederationSection) -> None:
    """A federation needs a list URL we may fetch and at least one operator key to trust."""
    if not f.list_url:
        if f.operator_thumbprints:
            raise ConfigError("[federation] operator_thumbprints without list_url: set both, or neither")
        return
    if not (f.list_url.startswith("file:///") or _url_ok(f.list_url)):
        raise ConfigError(
            f"[federation] list_url {f.list_url!r}: use https://, file:///… (or http:// on loopback only)"
        )
    if not f.operator_thumbprints:
        raise ConfigError("[federation] operator_thumbprints: name at least one operator key thumbprint")
    for tp in f.operator_thumbprints:
        if not _THUMBPRINT.fullmatch(tp):
            raise ConfigError(f"[federation] operator_thumbprints: {tp!r} is not an RFC 7638 thumbprint")
    if not 10 <= f.refresh_seconds <= 86_400:
        raise ConfigError("[federation] refresh_seconds must be 10 to 86400")
    if not 0 <= f.grace_seconds <= 30 * 86_400:
        raise ConfigError("[federation] grace_seconds must be 0 to 2592000 (30 days)")
    if not 1_000 <= f.max_list_bytes <= 100_000_000:
        raise ConfigError("[federation] max_list_bytes must be 1000 to 100000000")


def _check_locator(loc: LocatorSection) -> None:
    if not 0 < loc.deadline <= 60:
        raise ConfigError("locator.deadline must be more than 0 and at most 60 seconds")
    if not 1 <= loc.max_items <= 64:
        raise ConfigError("locator.max_items must be 1 to 64")
    if not 1 <= loc.rate_per_minute <= 100_000:
        raise ConfigError("locator.rate_per_minute must be 1 to 100000")
    if not 1 <= loc.key_rotation_days <= 365:
        raise ConfigError("locator.key_rotation_days must be 1 to 365")
    if not 0.5 <= loc.refresh_seconds <= 3600:
        raise ConfigError("locator.refresh_seconds must be 0.5 to 3600")
    if not 0 < loc.false_positive_rate <= 1e-3:
        raise ConfigError("locator.false_positive_rate must be more than 0 and at most 0.001")


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


def _check_web(cfg: NodeConfig) -> None:
    """The pages need an IdP, a sane session policy, and a demo login only on the loopback demo."""
    w, o = cfg.web, cfg.oidc
    if not 1 <= w.session_idle_minutes <= 60:
        raise ConfigError("web.session_idle_minutes must be 1 to 60")
    if not 1 <= w.session_max_hours <= 24:
        raise ConfigError("web.session_max_hours must be 1 to 24")
    if not 0 < w.overview_deadline <= 60:
        raise ConfigError("web.overview_deadline must be more than 0 and at most 60 seconds")
    if w.demo_login:
        # the demo login trusts whoever clicks: only where nobody else can reach the node
        url_host = re.sub(r"^https?://", "", cfg.node.url).split("/")[0].rsplit(":", 1)[0]
        if not (w.enabled and url_host in _LOOPBACK_HOSTS and cfg.server.host in _LOOPBACK_HOSTS):
            raise ConfigError(
                "web.demo_login is only for the loopback demo: node.url and server.host "
                "must be 127.0.0.1/localhost and [web] enabled"
            )
    if w.enabled and not w.demo_login:
        if not re.fullmatch(r"https?://[^/\s]+(/[^\s]*)?", o.issuer):
            raise ConfigError("[oidc] issuer must be the IdP's http(s) URL when [web] is enabled")
        if o.issuer.startswith("http://") and not cfg.node.url.startswith("http://127.0.0.1"):
            raise ConfigError("[oidc] issuer must be https:// (plain http only for a loopback test node)")
        if not o.client_id:
            raise ConfigError("[oidc] client_id is required when [web] is enabled")
        # the secret is checked when the pages start (gateway.web), not here: CLI commands
        # such as `gateway audit verify` load this config too and must not need it
    for name in ("role_claim", "role_professional", "role_privacy_officer", "practitioner_claim"):
        if not getattr(o, name):
            raise ConfigError(f"[oidc] {name} must not be empty")


def with_store(cfg: NodeConfig, url: str) -> NodeConfig:
    """Return a copy that uses another store URL (tests, tools)."""
    return replace(cfg, store=StoreSection(url=url))


def render_toml(org_id: str, name: str, url: str, store_url: str, alg: str, port: int) -> str:
    """Write a fresh, commented node.toml (see config/*.toml for every key)."""

    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return f"""# Gateway node configuration. Every key: README.md, "Configuration reference".
# Environment variables override keys as GATEWAY_<SECTION>_<KEY> (e.g. GATEWAY_STORE_URL).

[node]
org_id = {q(org_id)}   # this organisation's id in the federation
name = {q(name)}
url = {q(url)}         # public base URL; partners authenticate against url + /oauth/token

[store]
url = {q(store_url)}

[server]
host = "127.0.0.1"
port = {port}
workers = 2
threads = 32

[keys]
alg = {q(alg)}           # ES256 (default) or EdDSA
"""
