"""Builders for the node integration tests: homes, the CLI as an operator runs it, assertions.

Kept beside the tests (like ``tests/unit/audit/audit_builders.py``) so each test reads as the
practice it checks: "an IT department initialises a node", "a partner signs an assertion".
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contract import jwt
from gateway.cli.main import main as gateway_main
from gateway.demo.loopback import RunningNode, free_port, run_cli
from tests.conftest import STORES, StoreFactory  # noqa: F401 - re-exported for module fixtures

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class Run:
    """What an operator sees after one ``gateway`` command."""

    code: int
    out: str
    err: str

    @property
    def last_line(self) -> str:
        return self.out.strip().splitlines()[-1]


def gateway(*args: str) -> Run:
    """Run ``gateway ARGS`` in-process, as the installed command does, and capture it all."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = gateway_main([str(a) for a in args])
    return Run(code, out.getvalue(), err.getvalue())


def store_factory(kind: str) -> Iterator[StoreFactory]:
    """Body of a module-scoped ``stores``-like fixture (one node set per store per module)."""
    factory = StoreFactory(kind)
    yield factory
    factory.cleanup()


def init_home(
    root: Path, stores: StoreFactory, org_id: str, *, url: str | None = None, alg: str = "ES256"
) -> tuple[Path, str]:
    """Initialise a node home with the CLI; return it and the key thumbprint it printed."""
    home = root / org_id
    args = [
        "init",
        str(home),
        "--org-id",
        org_id,
        "--name",
        org_id.title(),
        "--url",
        url or f"http://127.0.0.1:{free_port()}",
        "--alg",
        alg,
    ]
    db = stores.url()
    if db:
        args += ["--db", db]
    out = run_cli(*args)
    return home, out.strip().splitlines()[-1]


def started_node(root: Path, stores: StoreFactory, org_id: str, *, workers: int = 1) -> RunningNode:
    """Initialise and start a real node (gunicorn) on loopback."""
    node = RunningNode(org_id, org_id.title(), root / org_id, free_port(), stores.url(), workers=workers)
    node.init()
    node.start()
    return node


class Clock:
    """A clock a test moves by hand, so time windows are tested without sleeping."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @property
    def ts(self) -> int:
        return int(self.now.timestamp())


def assertion_claims(org_id: str, token_url: str, now: int, **changes: Any) -> dict[str, Any]:
    """The claims of a valid client assertion (RFC 7523 / SMART Backend Services)."""
    claims: dict[str, Any] = {
        "iss": org_id,
        "sub": org_id,
        "aud": token_url,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def sign_assertion(signer: tuple[str, str, Any], claims: dict[str, Any], typ: str = "JWT") -> str:
    """Sign ``claims`` with a node key ``(kid, alg, private key)``, as a partner node would."""
    kid, alg, key = signer
    return jwt.sign(claims, key, kid=kid, alg=alg, typ=typ)


def b64url(data: bytes | dict[str, Any]) -> str:
    if isinstance(data, dict):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """Assemble a compact JWS by hand (for headers no honest library would write)."""
    return f"{b64url(header)}.{b64url(claims)}.{b64url(signature) if signature else ''}"


def token_form(assertion: str) -> dict[str, str]:
    """The form a partner posts to ``/oauth/token`` with ``private_key_jwt``."""
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}


def reason(body: Any) -> str | None:
    """The stable reason code of an OperationOutcome (or None if it is not one)."""
    try:
        return body["issue"][0]["details"]["coding"][0]["code"]  # type: ignore[no-any-return]
    except (KeyError, IndexError, TypeError):
        return None
