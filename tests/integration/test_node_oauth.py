"""Who may get an access token at ``/oauth/token``, and what the token lets them do.

Local clients (an EHR, a privacy officer's tool) use ``client_secret_basic``. Partner nodes
use ``private_key_jwt`` (RFC 7523 as profiled by SMART Backend Services; SECURITY.md,
"Client assertions"). GGZ Noord (A) is served in-process with a hand-moved clock;
Jeugdteam West (B) runs for real, so A fetches B's keys over HTTP as it would in practice.
Token errors are RFC 6749 section 5.2 JSON; every other error is an OperationOutcome.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet
from node_builders import (
    STORES,
    Clock,
    StoreFactory,
    assertion_claims,
    b64url,
    forge,
    gateway,
    init_home,
    reason,
    sign_assertion,
    started_node,
    store_factory,
    token_form,
)

from adapters.store import make_engine
from contract import jwt as tokens
from gateway import config
from gateway.app import create_app
from gateway.demo.loopback import RunningNode, run_cli
from gateway.keys import KeyRing
from gateway.node import build

A_URL = "https://ggz-noord.example"
TOKEN_URL = A_URL + "/oauth/token"
B_ORG = "jeugdteam-west"


@pytest.fixture(scope="module", params=STORES)
def stores_once(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    yield from store_factory(request.param)


@pytest.fixture(scope="module")
def partner_b(tmp_path_factory: pytest.TempPathFactory, stores_once: StoreFactory) -> Iterator[RunningNode]:
    node = started_node(tmp_path_factory.mktemp("oauth-b"), stores_once, B_ORG)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def home_a(tmp_path_factory: pytest.TempPathFactory, stores_once: StoreFactory, partner_b: RunningNode) -> Path:
    """GGZ Noord, set up by its IT department: B pinned by thumbprint, two local clients."""
    home, _ = init_home(tmp_path_factory.mktemp("oauth-a"), stores_once, "ggz-noord", url=A_URL)
    run_cli(
        "partner",
        "add",
        str(home),
        "--org-id",
        B_ORG,
        "--url",
        partner_b.url,
        "--thumbprint",
        KeyRing(partner_b.home).thumbprint(),
    )
    return home


@pytest.fixture(scope="module")
def secrets(home_a: Path) -> dict[str, str]:
    return {
        cid: gateway("client", "add", home_a, "--client-id", cid, "--role", role).last_line
        for cid, role in (("ggz-epd", "ehr"), ("privacy-noord", "privacy-officer"))
    }


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def node_a(home_a: Path, clock: Clock, secrets: dict[str, str]) -> Iterator[Any]:
    cfg = config.load(home_a)
    app = create_app(cfg, node=build(cfg, clock=clock))
    yield app
    app.extensions["gateway"].uow.engine.dispose()
    app.extensions["gateway"].http.close()


@pytest.fixture
def a(node_a: Any) -> Any:
    return node_a.test_client()


def b_signs(partner_b: RunningNode, clock: Clock, typ: str = "JWT", **changes: Any) -> str:
    """An assertion as Jeugdteam West signs it, with ``changes`` to its claims."""
    claims = assertion_claims(B_ORG, TOKEN_URL, clock.ts, **changes)
    return sign_assertion(KeyRing(partner_b.home).active, claims, typ)


def token_for(a: Any, client_id: str, secret: str) -> str:
    reply = a.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()["access_token"]  # type: ignore[no-any-return]


def assert_oauth_error(reply: Any, error: str = "invalid_client") -> None:
    """RFC 6749 section 5.2: a JSON object with ``error``, never an OperationOutcome."""
    assert reply.status_code in (400, 401), reply.get_data(as_text=True)
    assert reply.mimetype == "application/json", reply.get_data(as_text=True)
    body = reply.get_json()
    assert body["error"] == error, body
    assert "resourceType" not in body and "access_token" not in body
    assert reply.headers["Cache-Control"] == "no-store"


def assert_refused_assertion(a: Any, assertion: str) -> None:
    assert_oauth_error(a.post("/oauth/token", data=token_form(assertion)))


def search_patients(a: Any, token: str) -> Any:
    return a.get(
        "/fhir/Patient",
        query_string={"identifier": "http://fhir.nl/fhir/NamingSystem/bsn|999999990"},
        headers={"Authorization": f"Bearer {token}", "X-Practitioner": "uzi:900000101"},
    )


# --- local clients: client_secret_basic ------------------------------------------------------


def test_an_ehr_gets_a_short_lived_bearer_access_token(a: Any, secrets: dict[str, str], clock: Clock) -> None:
    reply = a.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("ggz-epd", secrets["ggz-epd"]))

    assert reply.status_code == 200
    assert reply.headers["Cache-Control"] == "no-store"
    body = reply.get_json()
    assert body["token_type"] == "Bearer"
    assert type(body["expires_in"]) is int and 0 < body["expires_in"] <= 3600
    jwks = KeySet.import_key_set(a.get("/.well-known/jwks.json").get_json())
    token = jwt.decode(body["access_token"], jwks, algorithms=["ES256"])
    assert token.header["typ"] == "at+jwt"
    assert token.claims["sub"] == "ggz-epd" and token.claims["role"] == "ehr"
    assert token.claims["iss"] == "ggz-noord"
    assert token.claims["exp"] - token.claims["iat"] == body["expires_in"]


def test_the_token_lets_the_ehr_use_the_local_api(a: Any, secrets: dict[str, str]) -> None:
    reply = search_patients(a, token_for(a, "ggz-epd", secrets["ggz-epd"]))

    assert reply.status_code == 200
    assert reply.get_json()["resourceType"] == "Bundle"


def test_an_unknown_client_is_refused(a: Any) -> None:
    reply = a.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("stranger-epd", "guess"))

    assert_oauth_error(reply)
    assert reply.status_code == 401


def test_a_wrong_secret_is_refused(a: Any, secrets: dict[str, str]) -> None:
    wrong = secrets["ggz-epd"][:-1] + ("A" if secrets["ggz-epd"][-1] != "A" else "B")

    reply = a.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("ggz-epd", wrong))

    assert_oauth_error(reply)
    assert reply.status_code == 401


def test_another_clients_secret_is_refused(a: Any, secrets: dict[str, str]) -> None:
    reply = a.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("ggz-epd", secrets["privacy-noord"])
    )

    assert_oauth_error(reply)


def test_a_secret_in_the_form_body_is_not_accepted(a: Any, secrets: dict[str, str]) -> None:
    # only client_secret_basic: secrets in form bodies end up in proxy and framework logs
    reply = a.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "ggz-epd", "client_secret": secrets["ggz-epd"]},
    )

    assert_oauth_error(reply)


def test_no_credentials_at_all_is_refused(a: Any) -> None:
    assert_oauth_error(a.post("/oauth/token", data={"grant_type": "client_credentials"}))


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "unsupported_grant_type"),
        ({"grant_type": "password", "username": "x", "password": "y"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
    ],
)
def test_other_grants_are_refused_in_oauth_terms(
    a: Any, secrets: dict[str, str], form: dict[str, str], error: str
) -> None:
    reply = a.post("/oauth/token", data=form, auth=("ggz-epd", secrets["ggz-epd"]))

    assert_oauth_error(reply, error)


# --- bearer tokens at the API --------------------------------------------------------------------


def test_the_local_api_without_a_token_answers_401_as_operation_outcome(a: Any) -> None:
    reply = search_patients(a, "")
    reply_no_header = a.get("/fhir/Patient", headers={"X-Practitioner": "uzi:900000101"})

    for r in (reply, reply_no_header):
        assert r.status_code == 401 and r.mimetype == "application/fhir+json"
        assert reason(r.get_json()) == "unauthenticated"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_privacy_officer_cannot_register_patients(a: Any, secrets: dict[str, str]) -> None:
    token = token_for(a, "privacy-noord", secrets["privacy-noord"])

    reply = a.post(
        "/fhir/Patient",
        json={"resourceType": "Patient"},
        headers={"Authorization": f"Bearer {token}", "X-Practitioner": "uzi:900000101"},
    )

    assert reply.status_code == 403 and reply.mimetype == "application/fhir+json"
    assert reason(reply.get_json()) == "forbidden"


def test_an_ehr_cannot_read_the_audit_log(a: Any, secrets: dict[str, str]) -> None:
    token = token_for(a, "ggz-epd", secrets["ggz-epd"])

    reply = a.get("/fhir/AuditEvent", headers={"Authorization": f"Bearer {token}"})

    assert reply.status_code == 403
    assert reason(reply.get_json()) == "forbidden"


def a_signs(home_a: Path, clock: Clock, typ: str) -> str:
    """Claims shaped exactly like our access token, signed by A's own key, with ``typ``."""
    now = clock.ts
    claims = {
        "iss": "ggz-noord",
        "sub": "ggz-epd",
        "aud": "ggz-noord",
        "role": "ehr",
        "client_id": "ggz-epd",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "t-" + typ,
    }
    return sign_assertion(KeyRing(home_a).active, claims, typ)


@pytest.mark.parametrize("typ", ["consent+jwt", "JWT", "jwt", "at+JWT", "JOSE"])
def test_a_token_of_another_type_is_not_an_access_token(a: Any, home_a: Path, clock: Clock, typ: str) -> None:
    # same key, same claims: only typ differs (RFC 8725 section 3.11)
    reply = search_patients(a, a_signs(home_a, clock, typ))

    assert reply.status_code == 401
    assert reason(reply.get_json()) == "unauthenticated"


def test_the_same_claims_typed_at_jwt_are_accepted(a: Any, home_a: Path, clock: Clock) -> None:
    assert search_patients(a, a_signs(home_a, clock, "at+jwt")).status_code == 200


def test_a_partners_client_assertion_is_not_a_bearer_token(a: Any, partner_b: RunningNode, clock: Clock) -> None:
    reply = search_patients(a, b_signs(partner_b, clock))

    assert reply.status_code == 401


def test_an_access_token_from_the_partner_node_is_not_valid_here(a: Any, partner_b: RunningNode) -> None:
    secret = partner_b.add_client("jeugd-epd", "ehr")  # takes effect on the running node at once
    issued = requests.post(
        partner_b.url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("jeugd-epd", secret),
        timeout=10,
    )
    assert issued.status_code == 200

    reply = search_patients(a, issued.json()["access_token"])

    assert reply.status_code == 401


def test_an_expired_access_token_is_refused(a: Any, secrets: dict[str, str], clock: Clock) -> None:
    token = token_for(a, "ggz-epd", secrets["ggz-epd"])
    ttl = a.application.extensions["gateway"].config.security.access_token_ttl

    clock.advance(ttl + tokens.LEEWAY + 1)

    reply = search_patients(a, token)
    assert reply.status_code == 401
    assert reason(reply.get_json()) == "unauthenticated"


def test_an_access_token_with_a_changed_role_is_refused(a: Any, secrets: dict[str, str]) -> None:
    token = token_for(a, "ggz-epd", secrets["ggz-epd"])
    header, _, signature = token.split(".")
    claims = tokens.peek_claims(token)
    claims["role"] = "privacy-officer"

    reply = a.get("/fhir/AuditEvent", headers={"Authorization": f"Bearer {header}.{b64url(claims)}.{signature}"})

    assert reply.status_code == 401


# --- partner nodes: private_key_jwt ----------------------------------------------------------------


def test_a_partner_with_a_fresh_assertion_gets_a_partner_token(a: Any, partner_b: RunningNode, clock: Clock) -> None:
    reply = a.post("/oauth/token", data=token_form(b_signs(partner_b, clock)))

    assert reply.status_code == 200, reply.get_json()
    claims = tokens.peek_claims(reply.get_json()["access_token"])
    assert claims["sub"] == B_ORG and claims["role"] == "partner"


def test_a_partner_token_does_not_open_the_local_api(a: Any, partner_b: RunningNode, clock: Clock) -> None:
    token = a.post("/oauth/token", data=token_form(b_signs(partner_b, clock))).get_json()["access_token"]

    reply = a.post(
        "/fhir/Patient",
        json={"resourceType": "Patient"},
        headers={"Authorization": f"Bearer {token}", "X-Practitioner": "uzi:900000101"},
    )

    assert reply.status_code == 403


def test_a_local_clients_token_does_not_open_the_partner_api(a: Any, secrets: dict[str, str]) -> None:
    token = token_for(a, "ggz-epd", secrets["ggz-epd"])

    reply = a.post(
        "/fhir/$consent-status",
        headers={"Authorization": f"Bearer {token}"},
        json={"resourceType": "Parameters", "parameter": [{"name": "consent", "valueString": "x"}]},
    )

    assert reply.status_code == 401
    assert reason(reply.get_json()) == "unknown-partner"


def test_a_replayed_assertion_is_refused_also_after_a_restart(
    a: Any, home_a: Path, partner_b: RunningNode, clock: Clock
) -> None:
    assertion = b_signs(partner_b, clock)
    assert a.post("/oauth/token", data=token_form(assertion)).status_code == 200

    assert_refused_assertion(a, assertion)

    cfg = config.load(home_a)  # the node restarts: nothing in memory remembers the jti
    restarted = create_app(cfg, node=build(cfg, clock=clock))
    try:
        assert_refused_assertion(restarted.test_client(), assertion)
    finally:
        restarted.extensions["gateway"].uow.engine.dispose()


def test_an_expired_assertion_is_refused(a: Any, partner_b: RunningNode, clock: Clock) -> None:
    now = clock.ts
    assert_refused_assertion(a, b_signs(partner_b, clock, iat=now - 200, exp=now - tokens.LEEWAY - 1))


def test_an_assertion_not_yet_valid_is_refused(a: Any, partner_b: RunningNode, clock: Clock) -> None:
    now = clock.ts
    assert_refused_assertion(a, b_signs(partner_b, clock, iat=now + 200, exp=now + 250))
    assert_refused_assertion(a, b_signs(partner_b, clock, nbf=now + 200, exp=now + 250))


def test_an_assertion_valid_for_five_minutes_is_accepted(a: Any, partner_b: RunningNode, clock: Clock) -> None:
    reply = a.post("/oauth/token", data=token_form(b_signs(partner_b, clock, exp=clock.ts + 300)))

    assert reply.status_code == 200


@pytest.mark.parametrize("ahead", [301, 300 + tokens.LEEWAY, 3600, 2**31])
def test_an_assertion_valid_for_more_than_five_minutes_is_refused(
    a: Any, partner_b: RunningNode, clock: Clock, ahead: int
) -> None:
    # issue 13 item 5: the leeway is for clock skew, not for lifetime (360 s ahead passed)
    assert_refused_assertion(a, b_signs(partner_b, clock, exp=clock.ts + ahead))


@pytest.mark.parametrize(
    "iat, exp",
    [
        (-86_400, 60),  # issued a day ago, still "valid" for a minute
        (-301, 30),  # older than the lifetime
        (-100, 250),  # exp - iat = 350 s
        (50, 340),  # a clock 50 s ahead: 290 s of life, but exp 340 s ahead of ours
        (None, 60),  # no iat at all
    ],
    ids=["a-day-old", "older-than-lifetime", "lives-350s", "exp-340s-ahead", "no-iat"],
)
def test_an_assertion_living_longer_than_five_minutes_is_refused(
    a: Any, partner_b: RunningNode, clock: Clock, iat: int | None, exp: int
) -> None:
    now = clock.ts
    assert_refused_assertion(a, b_signs(partner_b, clock, iat=None if iat is None else now + iat, exp=now + exp))


@pytest.mark.parametrize(
    "iat, exp", [(30, 90), (-200, 60), (-240, 60)], ids=["clock-30s-ahead", "issued-200s-ago", "issued-240s-ago"]
)
def test_an_assertion_within_its_five_minutes_is_accepted_with_clock_skew(
    a: Any, partner_b: RunningNode, clock: Clock, iat: int, exp: int
) -> None:
    now = clock.ts
    reply = a.post("/oauth/token", data=token_form(b_signs(partner_b, clock, iat=now + iat, exp=now + exp)))
    assert reply.status_code == 200, reply.get_json()


@pytest.mark.parametrize("client_id", ["ggz-epd", "zorg-elders", "ggz-noord", "", "JEUGDTEAM-WEST"])
def test_a_client_id_naming_another_client_than_the_assertion_is_refused(
    a: Any, partner_b: RunningNode, clock: Clock, client_id: str
) -> None:
    """Issue 13 item 6, RFC 7521 section 4.2; and the refused request does not use up the jti."""
    assertion = b_signs(partner_b, clock)
    assert_oauth_error(a.post("/oauth/token", data={**token_form(assertion), "client_id": client_id}))
    reply = a.post("/oauth/token", data={**token_form(assertion), "client_id": B_ORG})
    assert reply.status_code == 200, reply.get_json()


@pytest.mark.parametrize(
    "aud",
    [
        TOKEN_URL + "/",
        A_URL,
        A_URL + "/",
        "http://ggz-noord.example/oauth/token",
        TOKEN_URL.upper(),
        "ggz-noord",
        [TOKEN_URL, "https://elsewhere.example/oauth/token"],
        [],
        "",
    ],
)
def test_an_assertion_for_another_audience_is_refused(a: Any, partner_b: RunningNode, clock: Clock, aud: Any) -> None:
    assert_refused_assertion(a, b_signs(partner_b, clock, aud=aud))


def test_an_assertion_for_the_partners_own_token_url_is_refused(a: Any, partner_b: RunningNode, clock: Clock) -> None:
    assert_refused_assertion(a, b_signs(partner_b, clock, aud=partner_b.url + "/oauth/token"))


def test_an_audience_list_holding_exactly_the_token_url_is_accepted(
    a: Any, partner_b: RunningNode, clock: Clock
) -> None:
    assert a.post("/oauth/token", data=token_form(b_signs(partner_b, clock, aud=[TOKEN_URL]))).status_code == 200


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "ggz-noord"},
        {"iss": "zorg-elders"},
        {"iss": None},
        {"sub": None},
        {"sub": "ggz-epd"},
        {"sub": 42},
    ],
)
def test_iss_and_sub_must_both_be_the_partner(
    a: Any, partner_b: RunningNode, clock: Clock, changes: dict[str, Any]
) -> None:
    assert_refused_assertion(a, b_signs(partner_b, clock, **changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"jti": None},
        {"jti": ""},
        {"jti": 7},
        {"jti": "x" * 256},
        {"exp": None},
        {"exp": True},
        {"exp": 1e12},
        {"iat": "now"},
    ],
)
def test_an_assertion_missing_or_mangling_a_required_claim_is_refused(
    a: Any, partner_b: RunningNode, clock: Clock, changes: dict[str, Any]
) -> None:
    assert_refused_assertion(a, b_signs(partner_b, clock, **changes))


def test_an_assertion_signed_with_an_unpinned_key_is_refused(
    a: Any, home_a: Path, partner_b: RunningNode, clock: Clock
) -> None:
    # an attacker's key: B's published JWKS does not hold it either, so a re-fetch finds nothing
    stranger = ECKey.generate_key("P-256", private=True)
    clock.advance(config.load(home_a).partners.jwks_refetch_interval + 1)  # a re-fetch is due

    assert_refused_assertion(
        a, sign_assertion((stranger.thumbprint(), "ES256", stranger), assertion_claims(B_ORG, TOKEN_URL, clock.ts))
    )

    [(_, _, kids)] = [p for p in a.application.extensions["gateway"].partners.list() if p[0] == B_ORG]
    assert stranger.thumbprint() not in kids


def test_an_assertion_signed_with_our_own_key_in_the_partners_name_is_refused(
    a: Any, home_a: Path, clock: Clock
) -> None:
    assert_refused_assertion(a, sign_assertion(KeyRing(home_a).active, assertion_claims(B_ORG, TOKEN_URL, clock.ts)))


def test_an_unknown_organisation_is_refused(a: Any, clock: Clock) -> None:
    stranger = ECKey.generate_key("P-256", private=True)
    claims = assertion_claims("zorg-elders", TOKEN_URL, clock.ts)

    assert_refused_assertion(a, sign_assertion((stranger.thumbprint(), "ES256", stranger), claims))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_an_unsigned_assertion_is_refused(a: Any, partner_b: RunningNode, clock: Clock, alg: str) -> None:
    kid = KeyRing(partner_b.home).thumbprint()
    claims = assertion_claims(B_ORG, TOKEN_URL, clock.ts)

    assert_refused_assertion(a, forge({"alg": alg, "typ": "JWT", "kid": kid}, claims))
    assert_refused_assertion(a, forge({"alg": alg, "typ": "JWT", "kid": kid}, claims) + "AA")


def test_an_hmac_assertion_keyed_with_the_partners_public_key_is_refused(
    a: Any, partner_b: RunningNode, clock: Clock
) -> None:
    # the classic algorithm confusion: HS256 with the verifier's public key as the secret
    jwks = a.application.extensions["gateway"].partners.keys_for(B_ORG)
    [public] = list(jwks)
    kid = public.kid
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    claims = assertion_claims(B_ORG, TOKEN_URL, clock.ts)
    signing_input = f"{b64url(header)}.{b64url(claims)}".encode()
    for secret in (
        public.as_pem(private=False),
        json.dumps(public.as_dict(private=False)).encode(),
        public.as_bytes(private=False),
    ):
        mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
        assert_refused_assertion(a, f"{signing_input.decode()}.{b64url(mac)}")


@pytest.mark.parametrize("typ", ["consent+jwt", "at+jwt", None])
def test_an_assertion_of_another_token_type_is_refused(
    a: Any, partner_b: RunningNode, clock: Clock, typ: str | None
) -> None:
    kid, alg, key = KeyRing(partner_b.home).active
    header: dict[str, Any] = {"alg": alg, "kid": kid}
    if typ:
        header["typ"] = typ
    claims = assertion_claims(B_ORG, TOKEN_URL, clock.ts)

    assert_refused_assertion(a, jws.serialize_compact(header, json.dumps(claims).encode(), key))


@pytest.mark.parametrize(
    "extra",
    [
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"x5c": ["MIIBszCCAVmgAwIBAgIU"]},
        "jwk",
    ],
)
def test_an_assertion_naming_its_own_key_source_is_refused(
    a: Any, partner_b: RunningNode, clock: Clock, extra: Any
) -> None:
    # even correctly signed by B: keys come from the pinned JWKS only, never from a header
    kid, alg, key = KeyRing(partner_b.home).active
    if extra == "jwk":
        extra = {"jwk": key.as_dict(private=False)}
    header = {"alg": alg, "kid": kid, "typ": "JWT", **extra}
    claims = assertion_claims(B_ORG, TOKEN_URL, clock.ts)

    assert_refused_assertion(a, jws.serialize_compact(header, json.dumps(claims).encode(), key))


@pytest.mark.parametrize("assertion", ["", "not-a-jwt", "a.b.c", "e30.e30.", "." * 3, "x" * 20000])
def test_garbage_assertions_are_refused_calmly(a: Any, assertion: str) -> None:
    reply = a.post("/oauth/token", data=token_form(assertion))

    assert reply.status_code in (400, 401)
    assert "error" in reply.get_json()


def test_an_oversized_token_request_is_refused_in_oauth_terms(a: Any) -> None:
    limit = a.application.extensions["gateway"].config.security.max_request_bytes

    reply = a.post("/oauth/token", data={"grant_type": "client_credentials", "client_assertion": "x" * limit})

    assert reply.status_code == 413
    assert reply.get_json()["error"] == "invalid_request"


def test_a_token_request_while_the_store_is_down_is_refused_in_oauth_terms(app: Any) -> None:
    node = app.extensions["gateway"]
    node.uow.engine.dispose()
    node.uow.rebind(
        make_engine(
            "postgresql+psycopg://nobody@127.0.0.1:1/nowhere"
            if node.uow.engine.dialect.name == "postgresql"
            else "sqlite:////nonexistent-dir/for/sure/node.db"
        )
    )

    reply = app.test_client().post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("ggz-epd", "whatever")
    )

    assert reply.status_code == 503
    assert reply.mimetype == "application/json"
    assert reply.get_json()["error"] == "temporarily_unavailable"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer "])
def test_the_bearer_scheme_is_case_insensitive(a: Any, secrets: dict[str, str], scheme: str) -> None:
    # RFC 7235 section 2.1; some EHR HTTP stacks send it lower-case
    token = token_for(a, "ggz-epd", secrets["ggz-epd"])

    reply = a.get(
        "/fhir/Patient",
        query_string={"identifier": "http://fhir.nl/fhir/NamingSystem/bsn|999999990"},
        headers={"Authorization": f"{scheme} {token}", "X-Practitioner": "uzi:900000101"},
    )

    assert reply.status_code == 200


@pytest.mark.parametrize("header", ["Basic Z2d6LWVwZDp4", "Bearer", "Bearer ", "Token abc", "abc"])
def test_other_authorization_schemes_are_unauthenticated(a: Any, header: str) -> None:
    reply = a.get(
        "/fhir/Patient",
        query_string={"identifier": "http://fhir.nl/fhir/NamingSystem/bsn|999999990"},
        headers={"Authorization": header, "X-Practitioner": "uzi:900000101"},
    )

    assert reply.status_code == 401
    assert reason(reply.get_json()) == "unauthenticated"
