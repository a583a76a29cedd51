"""``gateway selftest DIR [--partner ORG]``: a go-live checklist the node runs on itself.

Own checks: the configuration loads; the active key signs and the signature verifies
against the node's own published JWKS (on an HSM that exercises the token); the store
answers and its schema is the newest revision; the audit chain verifies; the TLS
certificate (``[tls]``) and the partner client's certificate load and are not expired.
With ``--partner`` (a trusted partner): its CapabilityStatement, the clock skew against
its HTTP ``Date``, its JWKS against the keys pinned here, an access token from its token
endpoint (``private_key_jwt``), and one harmless signed round trip: ``$exchange-receipts``
from now on, whose signed answer must verify with the partner's pinned keys. That reads
nothing of any client and is audited on both sides as an audit read.

Every check yields pass or fail with a one-line reason; nothing stops the table early.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from alembic.script import ScriptDirectory
from cryptography import x509
from joserfc.jwk import KeySet, KeySetSerialization

from adapters.store import alembic_config, revision_of
from contract import jwt
from gateway.node import Node
from gateway.ops import tls
from gateway.ops.startup_checks import resolve
from gateway.repositories import audit_log
from gateway.services import reconcile
from gateway.trust.partners import fetch_jwks
from gateway.trust.peer import clock_skew

#: the most clock skew a token survives (contract: 60 s leeway)
MAX_SKEW = jwt.LEEWAY


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _run(name: str, fn: Callable[[], str]) -> Check:
    try:
        return Check(name, True, fn())
    except Exception as exc:  # noqa: BLE001 - every failure is one row of the table
        detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        reason = getattr(exc, "reason", None)
        if isinstance(reason, str):  # a partner's refusal: its reason code
            detail = f"{reason}: {detail}"
        return Check(name, False, detail.splitlines()[0][:200])


def own_checks(node: Node) -> Iterator[Check]:
    yield Check("config", True, f"node.toml of {node.org_id} loads and passes its checks")
    yield _run("keys", lambda: _keys(node))
    yield _run("store", lambda: _store(node))
    yield _run("audit", lambda: _audit(node))
    if node.config.tls.certfile:
        yield _run("tls-server", lambda: _server_cert(node))
    if node.config.partners.client_certfile:
        yield _run("tls-client", lambda: _client_cert(node))


def _keys(node: Node) -> str:

    kid, alg, key = node.keys.active
    probe = jwt.sign({"probe": uuid.uuid4().hex}, key, kid=kid, alg=alg, typ="selftest+jwt")
    jwt.decode_strict(probe, KeySet.import_key_set(cast(KeySetSerialization, node.keys.jwks())), typ="selftest+jwt")
    where = next(e.store for e in node.keys.entries if e.kid == kid)
    return f"active key {kid[:12]}… ({alg}, {where}) signs; the public JWKS verifies it"


def _store(node: Node) -> str:
    current = revision_of(node.uow.engine)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if current != head:
        raise RuntimeError(f"schema at {current}, this version expects {head}: run gateway serve to migrate")
    return f"{node.uow.engine.dialect.name} answers, schema at {current}"


def _audit(node: Node) -> str:
    result = audit_log.verify(node)
    if not result.ok:
        raise RuntimeError(f"broken at entry {result.first_bad_seq}: {result.reason}")
    return f"{result.checked} entries verified"


def _expiry(path: Any) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    left = cert.not_valid_after_utc - datetime.now(UTC)
    if left.total_seconds() <= 0:
        raise RuntimeError(f"certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    return f"valid until {cert.not_valid_after_utc:%Y-%m-%d} ({left.days} days)"


def _server_cert(node: Node) -> str:
    tls.server_context(node.config)  # key matches certificate, CA bundle parses
    t = node.config.tls
    return f"{_expiry(resolve(node.config, t.certfile))}, client_auth {t.client_auth}, {t.min_version}+"


def _client_cert(node: Node) -> str:
    tls.partner_context(node.config)
    return _expiry(resolve(node.config, node.config.partners.client_certfile))


def partner_checks(node: Node, org_id: str) -> Iterator[Check]:
    url = node.partners.url_of(org_id)
    if url is None:
        yield Check("partner", False, f"{org_id} is not a trusted partner of this node (gateway partner add)")
        return
    seen: dict[str, Any] = {}
    yield _run("partner-metadata", lambda: _metadata(node, url, seen))
    yield _run("clock-skew", lambda: _skew(node, seen))
    yield _run("partner-jwks", lambda: _jwks(node, org_id, url))
    yield _run("partner-token", lambda: _token(node, org_id))
    yield _run("round-trip", lambda: _round_trip(node, org_id))


def _metadata(node: Node, url: str, seen: dict[str, Any]) -> str:
    reply = node.http.request("GET", url + "/fhir/metadata")
    seen["date"] = reply.date
    body = reply.body if isinstance(reply.body, dict) else {}
    if reply.status != 200 or body.get("resourceType") != "CapabilityStatement":
        raise RuntimeError(f"no CapabilityStatement (HTTP {reply.status})")
    if not str(body.get("fhirVersion", "")).startswith("4."):
        raise RuntimeError(f"fhirVersion {body.get('fhirVersion')!r}, expected R4 (4.x)")
    ops = {o.get("name") for r in body.get("rest", []) for o in r.get("operation", []) if isinstance(o, dict)}
    return f"CapabilityStatement, FHIR {body['fhirVersion']}, {len(ops)} operations"


def _skew(node: Node, seen: dict[str, Any]) -> str:
    if "date" not in seen:
        raise RuntimeError("no answer from the partner to read its clock from")
    skew = clock_skew(seen["date"], node.clock())
    if skew is None:
        raise RuntimeError("the partner sent no usable Date header")
    if abs(skew) > MAX_SKEW:
        raise RuntimeError(f"clocks differ by {abs(skew):.0f} s (more than {MAX_SKEW} s): check NTP on both")
    return f"{skew:+.0f} s (within {MAX_SKEW} s)"


def _jwks(node: Node, org_id: str, url: str) -> str:
    published = {k.thumbprint() for k in fetch_jwks(node.http, url)}
    pinned = set(node.partners.pinned(org_id))  # the directory's fresh read
    if not pinned & published:
        raise RuntimeError("none of the keys pinned here is published any more: re-run partner add")
    return f"{len(published)} published, {len(pinned & published)} of {len(pinned)} pinned still published"


def _token(node: Node, org_id: str) -> str:
    token = node.peer.access_token(org_id, fresh=True)
    header = jwt.peek_header(token)
    return f"access token from {org_id}/oauth/token (typ {header.get('typ')}, private_key_jwt)"


def _round_trip(node: Node, org_id: str) -> str:
    since = datetime.now(UTC).date().isoformat()
    compared, _diffs = reconcile.reconcile(node, org_id, since)
    return f"$exchange-receipts since today: signed answer verified with the pinned keys ({compared} exchanges)"


def table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check'.ljust(width)}  result  detail"]
    lines += [f"{c.name.ljust(width)}  {'pass' if c.ok else 'FAIL'}    {c.detail}" for c in checks]
    return "\n".join(lines)
