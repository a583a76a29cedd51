"""What anyone may read from a node (contract section 2), and how every error looks.

A partner, an EHR vendor or a monitoring system reads the keys, the capabilities, the
CodeSystems and the health of a node without a token. Every error on the API, routing
errors and crashes included, is a FHIR OperationOutcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.codesystem import CodeSystem
from fhir.resources.R4B.operationoutcome import OperationOutcome
from joserfc import jws
from joserfc.jwk import KeySet
from node_builders import STORES, StoreFactory, init_home, reason, store_factory
from sqlalchemy import text
from test_node_cli import rfc7638

from adapters.store import make_engine
from contract.errors import StoreUnavailable
from gateway import config
from gateway.app import create_app
from gateway.keys import KeyRing

FHIR_JSON = "application/fhir+json"
CONTRACT_REFUSALS = {
    "unknown-partner",
    "bad-signature",
    "token-expired",
    "replay",
    "wrong-audience",
    "consent-revoked",
    "purpose-mismatch",
    "category-not-consented",
    "not-shareable",
    "subject-unknown",
    "consent-status-unavailable",
    "invalid-request",
    "grantee-mismatch",
    "subject-mismatch",
    "partner-unavailable",
    "partner-timeout",
    "bad-partner-signature",
    "store-unavailable",
}


@pytest.fixture(scope="module", params=STORES)
def stores_once(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    yield from store_factory(request.param)


@pytest.fixture(scope="module")
def public_home(tmp_path_factory: pytest.TempPathFactory, stores_once: StoreFactory) -> Path:
    home, _ = init_home(tmp_path_factory.mktemp("public"), stores_once, "ggz-noord", url="https://ggz-noord.example")
    return home


@pytest.fixture(scope="module")
def public(public_home: Path) -> Iterator[Any]:
    """One node's app for the module, with a test-only route that crashes."""
    app = create_app(config.load(public_home))

    @app.get("/test-only/crash")
    def crash() -> None:
        raise RuntimeError("secret internal detail: /srv/gateway/node.db")

    yield app.test_client()
    app.extensions["gateway"].uow.engine.dispose()


def assert_outcome(reply: Any, status: int) -> dict[str, Any]:
    assert reply.status_code == status
    assert reply.mimetype == FHIR_JSON
    body = reply.get_json()
    OperationOutcome.model_validate(body)
    return body  # type: ignore[no-any-return]


# --- keys ------------------------------------------------------------------------------


def test_a_partner_reads_only_public_keys_named_by_their_thumbprint(public: Any, public_home: Path) -> None:
    reply = public.get("/.well-known/jwks.json")

    assert reply.status_code == 200
    assert reply.mimetype == "application/jwk-set+json"
    [key] = reply.get_json()["keys"]
    assert set(key) <= {"kty", "crv", "x", "y", "kid", "alg", "use"}
    assert "d" not in key
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert key["kid"] == rfc7638(key) == KeyRing(public_home).thumbprint()


def test_an_ed25519_node_publishes_an_okp_key(make_home: Any) -> None:
    app = create_app(config.load(make_home("jeugdteam-west", alg="EdDSA")))
    try:
        [key] = app.test_client().get("/.well-known/jwks.json").get_json()["keys"]
    finally:
        app.extensions["gateway"].uow.engine.dispose()

    assert "d" not in key
    assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert key["kid"] == rfc7638(key)


def test_what_the_node_signs_verifies_with_its_published_keys(public: Any, public_home: Path) -> None:
    # any JOSE library, given only the JWKS, verifies the node's signatures
    keys = KeySet.import_key_set(public.get("/.well-known/jwks.json").get_json())
    kid, alg, private = KeyRing(public_home).active
    signed = jws.serialize_compact({"alg": alg, "kid": kid}, b"checkpoint", private)

    assert jws.deserialize_compact(signed, keys, algorithms=[alg]).payload == b"checkpoint"


# --- capabilities and CodeSystems ----------------------------------------------------------


def test_the_metadata_is_a_valid_capability_statement_listing_the_contract_operations(public: Any) -> None:
    reply = public.get("/fhir/metadata")

    assert reply.status_code == 200 and reply.mimetype == FHIR_JSON
    statement = CapabilityStatement.model_validate(reply.get_json())
    assert statement.fhirVersion == "4.0.1"
    [rest] = statement.rest
    system_ops = {op.name for op in rest.operation}
    assert {
        "request-summary",
        "behaviour-summary",
        "consent-status",
        "safety-disclosure",
        "receive-disclosure",
    } <= system_ops
    consent = next(r for r in rest.resource if r.type == "Consent")
    assert {op.name for op in consent.operation} >= {"issue-token", "revoke"}
    types = {r.type for r in rest.resource}
    assert {
        "Patient",
        "RelatedPerson",
        "Observation",
        "CarePlan",
        "CareTeam",
        "Consent",
        "AuditEvent",
        "CodeSystem",
    } <= types
    assert statement.implementation.url == "https://ggz-noord.example/fhir"


def test_the_codesystems_are_a_searchset_of_valid_codesystems(public: Any) -> None:
    reply = public.get("/fhir/CodeSystem")

    assert reply.status_code == 200 and reply.mimetype == FHIR_JSON
    body = reply.get_json()
    bundle = Bundle.model_validate(body)
    assert bundle.type == "searchset"
    assert bundle.total == len(bundle.entry) >= 4
    systems = {}
    for entry in body["entry"]:
        codesystem = CodeSystem.model_validate(entry["resource"])
        assert entry["fullUrl"] == codesystem.url
        systems[codesystem.url.rsplit("/", 1)[-1]] = {c["code"] for c in entry["resource"]["concept"]}
    assert {"signals", "safety-plan", "care-team", "parenting", "care-status"} <= systems["summary-category"]
    assert {"joint-safety-planning", "care-coordination", "referral", "assessment", "crisis-response"} <= systems[
        "purpose"
    ]
    assert "shareable" in systems["disclosure"]
    assert systems["refusal-reason"] >= CONTRACT_REFUSALS


# --- health ------------------------------------------------------------------------------------


def test_a_monitor_sees_the_node_alive_and_ready(public: Any) -> None:
    assert public.get("/healthz").status_code == 200
    ready = public.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "ready"


def test_a_node_whose_store_is_unreachable_is_not_ready(app: Any) -> None:
    node = app.extensions["gateway"]
    node.uow.engine.dispose()
    url = (
        "sqlite:////nonexistent-dir/for/sure/node.db"
        if node.uow.engine.dialect.name == "sqlite"
        else "postgresql+psycopg://nobody@127.0.0.1:1/nowhere"
    )
    node.uow.engine = make_engine(url)

    reply = app.test_client().get("/readyz")

    body = assert_outcome(reply, 503)
    assert reason(body) == StoreUnavailable.code
    assert app.test_client().get("/healthz").status_code == 200  # alive, so not restarted in a loop


def test_a_node_whose_schema_lost_the_audit_log_is_not_ready(app: Any) -> None:
    with app.extensions["gateway"].uow.engine.begin() as conn:
        conn.execute(text("DROP TABLE audit_head"))

    assert_outcome(app.test_client().get("/readyz"), 503)


# --- every error is an OperationOutcome --------------------------------------------------------


def test_an_unknown_address_is_an_operation_outcome(public: Any) -> None:
    body = assert_outcome(public.get("/fhir/Nonsense/123"), 404)

    assert body["issue"][0]["code"] == "not-found"


def test_a_wrong_method_is_an_operation_outcome_naming_the_allowed_ones(public: Any) -> None:
    reply = public.post("/fhir/metadata")

    assert_outcome(reply, 405)
    assert "GET" in reply.headers["Allow"]


def test_a_crash_is_an_operation_outcome_that_reveals_nothing_inside(public: Any) -> None:
    reply = public.get("/test-only/crash")

    body = assert_outcome(reply, 500)
    assert body["issue"][0]["code"] == "exception"
    assert "secret internal detail" not in reply.get_data(as_text=True)
    assert "Traceback" not in reply.get_data(as_text=True)


def test_an_api_call_without_a_token_is_an_operation_outcome_not_an_html_page(public: Any) -> None:
    reply = public.post("/fhir/Patient", json={"resourceType": "Patient"})

    assert_outcome(reply, 401)
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_public_endpoints_need_no_token(public: Any) -> None:
    for path in ("/.well-known/jwks.json", "/fhir/metadata", "/fhir/CodeSystem", "/healthz", "/readyz"):
        assert public.get(path).status_code == 200, path
