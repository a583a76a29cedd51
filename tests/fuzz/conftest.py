"""Fuzz fixtures: one node app (Flask test client, each store) with a trusted partner and
bearer tokens for every role, obtained through the node's own ``/oauth/token``.

The partner's URL is a closed loopback port, so anything that would call it fails fast as
``partner-unavailable`` instead of reaching the network.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from adapters.store.models import AuditEntry, Partner, PartnerKey
from contract import jwt
from gateway.http import auth

PARTNER = "fuzz-partner"
CLOSED_URL = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused


@dataclass
class FuzzNode:
    app: Any
    client: Any
    tokens: dict[str, str]  # role -> bearer token
    partner_key: ECKey

    def headers(self, role: str, practitioner: bool = True) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.tokens[role]}", "Content-Type": "application/fhir+json"}
        if practitioner:
            h["X-Practitioner"] = "uzi:900000202"
        return h

    def audit_count(self, action: str) -> int:
        with self.app.extensions["gateway"].uow() as uow:
            return int(uow.session.scalar(select(func.count()).where(AuditEntry.action == action)) or 0)


def _trust(node: Any, key: ECKey) -> None:
    now = datetime.now(UTC)
    jwk = {**key.as_dict(private=False), "kid": key.thumbprint()}
    with node.uow() as uow:
        uow.session.add(Partner(org_id=PARTNER, url=CLOSED_URL, added_at=now, jwks_fetched_at=now))
        uow.session.flush()
        uow.session.add(PartnerKey(org_id=PARTNER, kid=key.thumbprint(), jwk=json.dumps(jwk), added_at=now))
        uow.commit()


def _partner_token(client: Any, node: Any, key: ECKey) -> str:

    now = int(time.time())
    assertion = jwt.sign(
        {
            "iss": PARTNER,
            "sub": PARTNER,
            "aud": node.config.token_url,
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
        },
        key,
        kid=key.thumbprint(),
        alg="ES256",
        typ="JWT",
    )
    resp = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        },
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["access_token"]  # type: ignore[no-any-return]


@pytest.fixture
def fuzz_node(app: Any, client: Any) -> FuzzNode:
    node = app.extensions["gateway"]
    tokens = {}
    for role in ("ehr", "professional", "privacy-officer", "admin"):
        secret = auth.add_client(node.uow, f"fuzz-{role}", role)
        resp = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(f"fuzz-{role}", secret))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        tokens[role] = resp.get_json()["access_token"]
    key = ECKey.generate_key("P-256", private=True)
    _trust(node, key)
    tokens["partner"] = _partner_token(client, node, key)
    return FuzzNode(app, client, tokens, key)
