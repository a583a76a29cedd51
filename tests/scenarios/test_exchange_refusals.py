"""Every refusal in contract section 4, produced on real nodes, with its status and reason code.

Most refusals travel the way a professional meets them: Jeugdteam West's EHR calls
``$request-summary``, GGZ Noord refuses, the refusal comes back as GGZ Noord's own
OperationOutcome, and both logs record it under one exchange id. Where only a misbehaving
partner can cause the refusal (a replay, a local client at the partner API, an issuer down
while a token is shown), the test itself is the partner: it authenticates with
``private_key_jwt`` using that node's own key and posts the Parameters. Failures only a
requester sees (a partner down, hanging or signing badly) use Wijkteam Oost and a
FakePartner (conftest).
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from joserfc.jwk import ECKey

from audit import events
from consent import token as consent_token
from contract import jwt
from contract.errors import REFUSAL_CODES, UnknownPartner
from gateway.demo import data as d
from gateway.demo.loopback import run_cli
from gateway.keys import public_jwk

pytestmark = pytest.mark.scenario

JSP = "joint-safety-planning"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_every_contract_refusal_code_is_produced_here() -> None:
    """A guard on this module: each code of the contract's list is asserted by some test below."""
    source = Path(__file__).read_text("utf-8")
    asserted = set(re.findall(r'refused\([^;]*?, \d{3}, "([a-z-]+)"\)', source, flags=re.S))
    assert asserted >= set(REFUSAL_CODES), sorted(set(REFUSAL_CODES) - asserted)


# --- 401: who is asking, and with what ----------------------------------------------------------


def test_unknown_partner_a_local_clients_token_at_the_partner_api(fed) -> None:
    """An EHR of GGZ Noord holds a valid access token, but it is not a partner node."""
    ehr = fed.ggz.session("ggz-epd")
    resp = requests.post(
        fed.ggz.url + "/fhir/$behaviour-summary",
        json=fed.holder_params(fed.consent_token()),
        headers=ehr.headers(),
        timeout=10,
    )
    fed.refused(resp, 401, "unknown-partner")
    [audited] = fed.audit(fed.ggz, action=events.DISCLOSURE_REFUSED)[:1]
    assert audited["reason_code"] == "unknown-partner" and audited["actor_id"] == "client:ggz-epd"


def test_unknown_partner_after_the_partnership_ends_while_a_token_is_cached(fed) -> None:
    """GGZ Noord drops Wijkteam Oost; tokens Oost obtained before are worthless from then on."""
    direct = fed.as_partner(fed.oost)
    fed.ask("x.y.z", via=fed.oost)  # Oost's node now caches an access token for GGZ Noord
    fed.forget_partner(fed.ggz, fed.oost.org_id)
    try:
        fed.refused(direct.summary("x.y.z"), 401, "unknown-partner")
        fed.refused(fed.ask("x.y.z", via=fed.oost), 401, "unknown-partner")
        fed.assert_refusal_audited("unknown-partner", requester=fed.oost)
        refusals = fed.audit(fed.ggz, action=events.DISCLOSURE_REFUSED)[:2]
        assert {(r["reason_code"], r["peer_org"]) for r in refusals} == {("unknown-partner", "wijkteam-oost")}
        # Without a cached token the partner refuses at /oauth/token; the requester says the same.
        with pytest.raises(UnknownPartner):
            fed.node(fed.oost).peer.call("ggz-noord", "behaviour-summary", fed.holder_params(None))
        resp = fed.token_request(fed.ggz, fed.assertion(fed.oost, fed.ggz))
        assert resp.status_code in (400, 401) and resp.json()["error"] == "invalid_client"
    finally:
        fed.ggz.trust(fed.oost)


def _altered(tok: str) -> str:
    header, payload, sig = tok.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["categories"] = sorted({*claims["categories"], "parenting"})
    return ".".join((header, b64url(json.dumps(claims).encode()), sig))


def _forged(fed, tok: str) -> str:
    """Signed with a key of our own under the issuer's kid: the claims are perfect."""
    grant = fed.grant(jwt.peek_claims(tok)["consent"])
    kid = jwt.peek_header(tok)["kid"]
    return consent_token.issue(
        grant,
        grantee="jeugdteam-west",
        objections=(),
        key=ECKey.generate_key("P-256", private=True),
        kid=kid,
        alg="ES256",
        now=int(time.time()),
    )


def _unsigned(tok: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
    return ".".join((b64url(json.dumps(dict(header, alg="none")).encode()), tok.split(".")[1], ""))


def _an_assertion(fed, tok: str) -> str:
    """A client assertion of Jeugdteam West (typ JWT): a real signature, the wrong kind of token."""
    claims = jwt.peek_claims(tok)
    return fed.assertion(
        fed.jeugd,
        fed.ggz,
        **{k: claims[k] for k in ("sub", "grantee", "purpose", "categories", "consent", "nbf")},
        aud=["ggz-noord"],
    )


def _unknown_issuer(fed, tok: str) -> str:
    grant = fed.grant(jwt.peek_claims(tok)["consent"])
    key = ECKey.generate_key("P-256", private=True)

    return consent_token.issue(
        replace(grant, issuer="onbekende-org"),
        grantee="jeugdteam-west",
        objections=(),
        key=key,
        kid=key.thumbprint(),
        alg="ES256",
        now=int(time.time()),
    )


@pytest.mark.parametrize("forgery", ["altered", "forged", "alg-none", "client-assertion", "unknown-issuer"])
def test_bad_signature_on_the_consent_token(fed, forgery: str) -> None:
    tok = fed.consent_token(categories=("signals",))
    bad = {
        "altered": lambda: _altered(tok),
        "forged": lambda: _forged(fed, tok),
        "alg-none": lambda: _unsigned(tok),
        "client-assertion": lambda: _an_assertion(fed, tok),
        "unknown-issuer": lambda: _unknown_issuer(fed, tok),
    }[forgery]()
    fed.refused(fed.ask(bad, categories=("signals",)), 401, "bad-signature")
    fed.assert_refusal_audited("bad-signature", holder=fed.ggz)


def test_bad_signature_when_the_issuers_jwks_now_holds_a_key_off_its_curve(fed, fake_partner) -> None:
    """Issue 13 item 4: a partner signs with a new kid and publishes a broken key for it. The
    holder (Wijkteam Oost) re-reads the JWKS, pins nothing, and refuses: never a 500."""
    fake = fake_partner("corrupt")
    jwk = dict(public_jwk(ECKey.generate_key("P-256", private=True)))
    y = bytearray(base64.urlsafe_b64decode(jwk["y"] + "=="))
    y[7] ^= 0x01
    fake.jwks = {"keys": [public_jwk(fake.key), {**jwk, "y": b64url(bytes(y)), "kid": "rotated"}]}
    fed.execute(fed.oost, "UPDATE partners SET jwks_fetched_at = NULL")  # past the re-fetch rate limit
    now = int(time.time())
    assertion = jwt.sign(
        {
            "iss": fake.org_id,
            "sub": fake.org_id,
            "aud": fed.oost.url + "/oauth/token",
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
        },
        fake.key,
        kid=fake.key.thumbprint(),
        alg="ES256",
        typ="JWT",
    )
    access = fed.token_request(fed.oost, assertion)
    assert access.status_code == 200, access.text
    grant = replace(
        fed.grant(fed.consent()),
        issuer=fake.org_id,
        holders=frozenset({"wijkteam-oost"}),
        recipients=frozenset({fake.org_id}),
    )
    tok = consent_token.issue(
        grant,
        grantee=fake.org_id,
        objections=(),
        key=ECKey.generate_key("P-256", private=True),
        kid="rotated",
        alg="ES256",
        now=now,
    )
    resp = requests.post(
        fed.oost.url + "/fhir/$behaviour-summary",
        json=fed.holder_params(tok),
        timeout=30,
        headers={"Authorization": f"Bearer {access.json()['access_token']}", "Content-Type": "application/fhir+json"},
    )
    fed.refused(resp, 401, "bad-signature")
    assert "Traceback" not in (fed.oost.home / "serve.log").read_text(errors="replace")


@pytest.mark.parametrize("shift", [-7200, 3600], ids=["expired", "not-yet-valid"])
def test_token_expired(fed, shift: int) -> None:
    """Signed by the issuer's own key, with the issuer's own code, at another time."""
    grant = fed.grant(fed.consent())
    kid, alg, key = fed.node(fed.jeugd).keys.active
    tok = consent_token.issue(
        grant,
        grantee="jeugdteam-west",
        objections=(),
        key=key,
        kid=kid,
        alg=alg,
        now=int(time.time()) + shift,
        lifetime=3600 if shift < 0 else 600,
    )
    fed.refused(fed.ask(tok), 401, "token-expired")
    fed.assert_refusal_audited("token-expired", holder=fed.ggz)


def test_replay_of_an_exchange_id(fed) -> None:
    """A partner (here the test, with Jeugdteam West's key) sends the same exchange twice."""
    partner = fed.as_partner(fed.jeugd)
    tok, exchange_id = fed.consent_token(), uuid.uuid4().hex
    first = partner.summary(tok, exchange_id=exchange_id)
    assert first.status_code == 200, first.text
    fed.refused(partner.summary(tok, exchange_id=exchange_id), 401, "replay")
    sent = fed.audit(fed.ggz, action=events.DISCLOSURE_SENT, exchange_id=exchange_id)
    [refusal] = fed.audit(fed.ggz, action=events.DISCLOSURE_REFUSED, exchange_id=exchange_id)
    assert len(sent) == 1 and refusal["reason_code"] == "replay"


def test_consent_tokens_and_access_tokens_never_cross(fed) -> None:
    """A consent token is no access token (RFC 8725 section 3.11)."""
    tok = fed.consent_token()
    resp = requests.post(
        fed.ggz.url + "/fhir/$behaviour-summary",
        json=fed.holder_params(tok),
        timeout=10,
        headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/fhir+json"},
    )
    fed.refused(resp, 401, "unauthenticated")


# --- 403: the token does not cover this request --------------------------------------------------


def test_wrong_audience(fed) -> None:
    """The mother consented to Wijkteam Oost as holder, not GGZ Noord."""
    tok = fed.consent_token(holders=("wijkteam-oost",))
    fed.refused(fed.ask(tok), 403, "wrong-audience")
    fed.assert_refusal_audited("wrong-audience", holder=fed.ggz)


def test_consent_revoked(fed) -> None:
    cid = fed.consent()
    tok = fed.token(cid)
    assert fed.ask(tok).status_code == 200
    assert fed.jeugd.session("jeugd-epd").post(f"/fhir/Consent/{cid}/$revoke").status_code == 200
    fed.refused(fed.ask(tok), 403, "consent-revoked")
    fed.assert_refusal_audited("consent-revoked", holder=fed.ggz)
    # the issuer's privacy officer reads why it answered inactive; GGZ Noord heard only that

    asked = fed.audit(fed.jeugd, action=events.CONSENT_STATUS_QUERIED)
    answers = [(q["detail"]["status"], q["detail"].get("why_not_nl")) for q in asked if q["consent_id"] == cid]
    assert answers[0] == ("inactive", "De toestemming is ingetrokken.")
    assert answers[-1] == ("active", None)


def test_purpose_mismatch(fed) -> None:
    tok = fed.consent_token(categories=("signals",))
    fed.refused(fed.ask(tok, purpose="crisis-response", categories=("signals",)), 403, "purpose-mismatch")
    fed.assert_refusal_audited("purpose-mismatch", holder=fed.ggz)


def test_category_not_consented(fed) -> None:
    """Signals and care team were consented; parenting was asked as well."""
    tok = fed.consent_token(categories=("signals", "care-team"))
    resp = fed.ask(tok, categories=("signals", "parenting"))
    fed.refused(resp, 403, "category-not-consented")
    assert "Brengt de kinderen" not in resp.text
    fed.assert_refusal_audited("category-not-consented", holder=fed.ggz)


def test_not_shareable_for_the_purpose_whatever_the_consent_says(fed) -> None:
    """profiles/matrix.json: a referral sees care team and care status, never signals.

    Our own registry already refuses to record such a consent, so the token comes from an
    issuer that is less strict (another implementation, an older version): signed with
    Jeugdteam West's key over a real, active referral consent widened with 'signals'. The
    holder applies the matrix itself, whatever the issuer allowed.
    """
    cid = fed.consent(purpose="referral", categories=("care-team",))
    grant = replace(fed.grant(cid), categories=frozenset({"care-team", "signals"}))
    kid, alg, key = fed.node(fed.jeugd).keys.active
    tok = consent_token.issue(
        grant, grantee="jeugdteam-west", objections=(), key=key, kid=kid, alg=alg, now=int(time.time())
    )
    fed.refused(fed.ask(tok, purpose="referral", categories=("signals",)), 403, "not-shareable")
    fed.assert_refusal_audited("not-shareable", holder=fed.ggz)
    assert fed.ask(tok, purpose="referral", categories=("care-team",)).status_code == 200


def test_grantee_mismatch_a_third_trusted_node_shows_a_token_granted_to_another(fed) -> None:
    tok = fed.consent_token()  # granted to Jeugdteam West
    fed.refused(fed.ask(tok, via=fed.oost), 403, "grantee-mismatch")
    fed.assert_refusal_audited("grantee-mismatch", requester=fed.oost, holder=fed.ggz)


def _issued_for_a_third(fed) -> str:
    """Jeugdteam West signs, with its real key, a token granting Wijkteam Oost GGZ Noord's data:
    an exchange Jeugdteam West is no party to (it can no longer record such a consent)."""
    grant = replace(fed.grant(fed.consent()), recipients=frozenset({"wijkteam-oost"}))
    kid, alg, key = fed.node(fed.jeugd).keys.active
    return consent_token.issue(
        grant, grantee="wijkteam-oost", objections=(), key=key, kid=kid, alg=alg, now=int(time.time())
    )


def test_issuer_not_party_a_node_cannot_hand_out_disclosures_between_two_others(fed) -> None:
    """Issue 13 item 2: the token verifies, names its grantee and GGZ Noord; its issuer is neither."""
    tok = _issued_for_a_third(fed)
    resp = fed.ask(tok, via=fed.oost)
    fed.refused(resp, 403, "issuer-not-party")
    assert "Slaapt slecht" not in resp.text
    fed.assert_refusal_audited("issuer-not-party", requester=fed.oost, holder=fed.ggz)


def test_a_consent_registrar_the_holder_names_may_issue_for_others(fed) -> None:
    """GGZ Noord's IT names Jeugdteam West as a consent registrar: the same kind of token counts."""
    tok = _issued_for_a_third(fed)
    fed.ggz.stop()
    fed.ggz.start(env={"GATEWAY_CONSENT_REGISTRARS": "jeugdteam-west"})
    try:
        resp = fed.ask(tok, via=fed.oost)
        assert resp.status_code == 200, resp.text
        assert "Slaapt slecht" in resp.text
    finally:
        fed.ggz.stop()
        fed.ggz.start()
    fed.refused(fed.ask(_issued_for_a_third(fed), via=fed.oost), 403, "issuer-not-party")


def test_subject_mismatch(fed) -> None:
    """A token for the mother does not open the child's (or anyone else's) file."""
    tok = fed.consent_token()
    fed.refused(fed.ask(tok, subject=d.bsn(2)), 403, "subject-mismatch")
    fed.assert_refusal_audited("subject-mismatch", holder=fed.ggz)


def test_consent_status_does_not_tell_which_consent_ids_exist(fed) -> None:
    """Issue 13 item 7: GGZ Noord asks Jeugdteam West about a real consent that does not name
    it (Wijkteam Oost holds), and about an id that never existed: the same status and body."""
    other = fed.consent(holders=("wijkteam-oost",))
    ggz = fed.as_partner(fed.ggz, fed.jeugd)

    def ask(consent_id: str) -> requests.Response:
        return ggz.post(
            "consent-status",
            {"resourceType": "Parameters", "parameter": [{"name": "consent", "valueString": consent_id}]},
        )

    real, random = ask(other), ask(uuid.uuid4().hex)
    fed.refused(real, 404, "not-found")
    assert (real.status_code, real.content) == (random.status_code, random.content)
    named = ask(fed.consent())
    assert named.status_code == 200 and named.json()["parameter"][0]["valueCode"] == "active"
    probes = [q for q in fed.audit(fed.jeugd, action=events.CONSENT_STATUS_QUERIED) if q["peer_org"] == "ggz-noord"][
        1:3
    ]
    assert {(q["outcome"], q["reason_code"]) for q in probes} == {(events.REFUSED, "not-found")}


# --- 404: not known here, said without saying more --------------------------------------------


def test_subject_unknown_reveals_nothing_about_being_in_care(fed) -> None:
    """Two adults known at the youth team only: identical answers, no BSN, no hint."""
    bodies = []
    for seed in (31, 32):
        bsn = d.bsn(seed)
        pid = fed.register(fed.jeugd, "jeugd-epd", bsn)
        resp = fed.ask(fed.consent_token(patient=pid), subject=bsn)
        fed.refused(resp, 404, "subject-unknown")
        assert bsn not in resp.text
        bodies.append(resp.content)
        fed.assert_refusal_audited("subject-unknown", holder=fed.ggz)
    assert bodies[0] == bodies[1]


def test_without_a_token_a_known_and_an_unknown_person_get_the_same_answer(fed) -> None:
    """A partner probing without consent cannot learn whether someone is in care at GGZ Noord."""
    partner = fed.as_partner(fed.jeugd)
    known = partner.summary(None, subject=d.bsn(1))
    unknown = partner.summary(None, subject=d.bsn(33))
    assert known.status_code == unknown.status_code == 400
    assert known.content == unknown.content
    assert fed.reason(known) == "invalid-request"


# --- 503: the holder cannot check, or cannot keep evidence ----------------------------------------


def test_consent_status_unavailable_when_the_issuer_is_down(fed) -> None:
    """Jeugdteam West issued the token and is down: GGZ Noord refuses, it never guesses."""
    tok = fed.consent_token()
    partner = fed.as_partner(fed.jeugd)
    fed.jeugd.stop()
    try:
        resp = partner.summary(tok)
    finally:
        fed.jeugd.start()
    fed.refused(resp, 503, "consent-status-unavailable")
    [audited] = fed.audit(fed.ggz, action=events.DISCLOSURE_REFUSED)[:1]
    assert audited["reason_code"] == "consent-status-unavailable"
    assert partner.summary(tok).status_code == 200  # back up: the same token works again


def test_store_unavailable_nothing_is_disclosed_without_evidence(fed) -> None:
    """The audit table disappears under a running holder (an operator's mistake, a broken
    migration; renamed from outside, on SQLite and PostgreSQL alike). The holder keeps no
    evidence, so it discloses nothing, and its half-done work is rolled back with it: the
    same exchange id is accepted once the table is back, and the chain still verifies."""
    tok = fed.consent_token()
    partner = fed.as_partner(fed.jeugd)
    exchange_id = uuid.uuid4().hex
    fed.execute(fed.ggz, "ALTER TABLE audit_entries RENAME TO audit_entries_away")
    try:
        fed.refused(partner.summary(tok, exchange_id=exchange_id), 503, "store-unavailable")
        resp = fed.ask(tok)
        # Through the requester: with a cached access token the holder answers 503; a worker
        # that must log in first is refused at /oauth/token (a login it cannot audit is no
        # login), which the requester reports as partner-unavailable. Nothing leaves either way.
        code = resp.json()["issue"][0]["details"]["coding"][0]["code"]
        assert (resp.status_code, code) in ((503, "store-unavailable"), (502, "partner-unavailable")), resp.text
        assert "Slaapt slecht" not in resp.text
        fed.assert_refusal_audited(code)
    finally:
        fed.execute(fed.ggz, "ALTER TABLE audit_entries_away RENAME TO audit_entries")
    assert fed.audit(fed.ggz, exchange_id=exchange_id) == []
    assert partner.summary(tok, exchange_id=exchange_id).status_code == 200
    assert "intact" in run_cli("audit", "verify", str(fed.ggz.home)).lower()


# --- 400: malformed requests ------------------------------------------------------------------


def test_invalid_request_at_the_requester(fed) -> None:
    """A BSN failing the eleven-test never leaves the requesting node."""
    fed.refused(fed.ask(fed.consent_token(), subject="123456789"), 400, "invalid-request")
    fed.refused(fed.ask(fed.consent_token(), note="x" * 1500), 400, "invalid-request")


def _missing_exchange_id(params: dict) -> dict:
    return dict(params, parameter=[p for p in params["parameter"] if p["name"] != "exchange-id"])


def _set(name: str, **value: object):
    def edit(params: dict) -> dict:
        return dict(params, parameter=[dict(p, **value) if p["name"] == name else p for p in params["parameter"]])

    return edit


BROKEN = {
    "unknown-parameter": lambda p: dict(p, parameter=[*p["parameter"], {"name": "diagnose", "valueString": "x"}]),
    "missing-exchange-id": _missing_exchange_id,
    "duplicate-subject": lambda p: dict(p, parameter=[*p["parameter"], p["parameter"][0]]),
    "bad-bsn": _set(
        "subject", valueIdentifier={"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "１２３４５６７８２"}
    ),
    "non-ascii-exchange-id": _set("exchange-id", valueString="ab٣cd"),
    "float-in-meta": lambda p: dict(p, meta={"versionId": 1.5}),
    "huge-int-in-meta": lambda p: dict(p, meta={"versionId": 2**60}),
    "credential-in-practitioner": _set("practitioner", valueIdentifier={"value": "Bearer abc"}),
    "token-in-note": lambda p: dict(
        p,
        parameter=[
            *p["parameter"],
            {"name": "consent-note", "valueString": "zie eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig"},
        ],
    ),
    "long-note": lambda p: dict(p, parameter=[*p["parameter"], {"name": "consent-note", "valueString": "x" * 1500}]),
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_invalid_request_at_the_holder_is_refused_and_audited(fed, broken: str) -> None:
    partner = fed.as_partner(fed.jeugd)
    params = BROKEN[broken](fed.holder_params(fed.consent_token()))
    before = fed.audit(fed.ggz)[0]["seq"]
    fed.refused(partner.post("behaviour-summary", params), 400, "invalid-request")
    [audited] = [r for r in fed.audit(fed.ggz) if r["seq"] > before]
    assert audited["action"] == events.DISCLOSURE_REFUSED and audited["reason_code"] == "invalid-request"
    assert audited["peer_org"] == "jeugdteam-west"


@pytest.mark.parametrize(
    "body",
    [b'{"resourceType": "Parameters", "parameter": [', b'{"resourceType": "Parameters", "resourceType": "Parameters"}'],
    ids=["cut-off", "duplicate-key"],
)
def test_a_body_that_does_not_parse_is_refused_and_audited_at_the_holder(fed, body: bytes) -> None:
    """Even a request that is not JSON, or not I-JSON, leaves its refusal in the holder's log."""
    partner = fed.as_partner(fed.jeugd)
    before = fed.audit(fed.ggz)[0]["seq"]
    resp = requests.post(
        f"{fed.ggz.url}/fhir/$behaviour-summary",
        data=body,
        timeout=30,
        headers={"Authorization": f"Bearer {partner.token}", "Content-Type": "application/fhir+json"},
    )
    fed.refused(resp, 400, "invalid-request")
    [audited] = [r for r in fed.audit(fed.ggz) if r["seq"] > before]
    assert (audited["action"], audited["reason_code"]) == (events.DISCLOSURE_REFUSED, "invalid-request")
    assert (audited["peer_org"], audited["actor_id"], audited["request_hash"]) == (
        "jeugdteam-west",
        "org:jeugdteam-west",
        "",
    )


# --- 502/504: the requester's view of a partner that fails it -----------------------------------


def test_partner_unavailable_when_its_server_is_stopped(fed, fake_partner) -> None:
    partner = fake_partner("stopped")
    partner.stop()
    fed.refused(fed.ask("x.y.z", partner=partner.org_id, via=fed.oost), 502, "partner-unavailable")
    fed.assert_refusal_audited("partner-unavailable", requester=fed.oost)


@pytest.mark.parametrize("mode", ["hang-token", "hang-summary"])
def test_partner_timeout_when_it_accepts_but_never_answers(fed, fake_partner, mode: str) -> None:
    partner = fake_partner(mode)
    fed.refused(fed.ask("x.y.z", partner=partner.org_id, via=fed.oost), 504, "partner-timeout")
    fed.assert_refusal_audited("partner-timeout", requester=fed.oost)


@pytest.mark.parametrize("mode", ["corrupt", "foreign-key", "rebound", "unsigned", "diagnosis", "bad-display"])
def test_bad_partner_signature(fed, fake_partner, mode: str) -> None:
    """Nothing the requester cannot verify (signature, pinned key, binding, profile) is returned."""
    partner = fake_partner(mode)
    resp = fed.ask("x.y.z", partner=partner.org_id, via=fed.oost, categories=("signals",))
    fed.refused(resp, 502, "bad-partner-signature")
    assert partner.requests, "the fake partner was asked"
    assert "F33.1" not in resp.text and "depressie" not in resp.text
    failed = fed.assert_refusal_audited("bad-partner-signature", requester=fed.oost)
    assert (
        failed["exchange_id"]
        == [p for p in partner.requests[-1]["parameter"] if p["name"] == "exchange-id"][0]["valueString"]
    )


# --- /oauth/token, briefly (another suite covers it in depth) --------------------------------------


def _assertions(fed) -> dict[str, str]:
    good = fed.assertion(fed.jeugd, fed.ggz)
    header, payload, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    kid = fed.node(fed.jeugd).keys.active[0]
    return {
        "forged": fed.assertion(fed.jeugd, fed.ggz, key=ECKey.generate_key("P-256", private=True), kid=kid),
        "altered": ".".join((header, b64url(json.dumps(dict(claims, sub="ggz-noord")).encode()), sig)),
        "expired": fed.assertion(fed.jeugd, fed.ggz, iat=int(time.time()) - 900, exp=int(time.time()) - 600),
        "other-audience": fed.assertion(fed.jeugd, fed.ggz, aud=fed.jeugd.url + "/oauth/token"),
        "too-long": fed.assertion(fed.jeugd, fed.ggz, exp=int(time.time()) + 3600),
        # issue 13 item 5: the leeway is for skew, not for lifetime
        "360-s-ahead": fed.assertion(fed.jeugd, fed.ggz, exp=int(time.time()) + 360),
        "a-day-old": fed.assertion(fed.jeugd, fed.ggz, iat=int(time.time()) - 86_400),
        "lives-350-s": fed.assertion(fed.jeugd, fed.ggz, iat=int(time.time()) - 100, exp=int(time.time()) + 250),
    }


def test_client_assertions_refused_at_the_token_endpoint(fed) -> None:
    for name, assertion in _assertions(fed).items():
        resp = fed.token_request(fed.ggz, assertion)
        assert resp.status_code in (400, 401), (name, resp.text)
        assert resp.json()["error"] == "invalid_client", (name, resp.text)
    once = fed.assertion(fed.jeugd, fed.ggz)
    assert fed.token_request(fed.ggz, once).status_code == 200
    replayed = fed.token_request(fed.ggz, once)
    assert replayed.status_code in (400, 401) and replayed.json()["error"] == "invalid_client"
    # issue 13 item 6: a client_id naming another client than the assertion (RFC 7521 section 4.2)
    other = requests.post(
        fed.ggz.url + "/oauth/token",
        timeout=10,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": fed.assertion(fed.jeugd, fed.ggz),
            "client_id": "wijkteam-oost",
        },
    )
    assert other.status_code in (400, 401) and other.json()["error"] == "invalid_client", other.text
    consent = fed.token_request(fed.ggz, fed.consent_token())
    assert consent.status_code in (400, 401) and consent.json()["error"] == "invalid_client"
