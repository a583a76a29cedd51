"""A summary between two real nodes, its signature checked by an independent implementation.

Issue 4, "Done when": the Bundle.signature verifies without our JOSE code (raw
``cryptography`` over the RFC 8785 form made by the ``rfc8785`` package itself, with the key
from the holder's published JWKS); the Bundle carries the exchange id and request hash
(profiles/README.md) and validates as FHIR R4; a diagnosis code and an unmarked note in
the source never reach the summary; both logs record the exchange with the same hashes.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from typing import Any

import pytest
import requests
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fhir.resources.R4B.bundle import Bundle

from audit import events
from gateway.demo import data as d

pytestmark = pytest.mark.scenario

EXCHANGE_ID_SYSTEM = "https://jggz-gateway.nl/fhir/NamingSystem/exchange-id"
REQUEST_HASH_URL = "https://jggz-gateway.nl/fhir/StructureDefinition/request-sha256"
CATEGORY_SYSTEM = "https://jggz-gateway.nl/fhir/CodeSystem/summary-category"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_independently(bundle: dict[str, Any], jwks: dict[str, Any]) -> dict[str, Any]:
    """RFC 7515 appendix F over RFC 8785, by hand; raise InvalidSignature if it does not hold."""
    signature = bundle["signature"]
    assert signature["sigFormat"] == "application/jose"
    header_b64, payload_b64, sig_b64 = base64.b64decode(signature["data"], validate=True).decode("ascii").split(".")
    assert payload_b64 == "", "the payload must be detached"
    header = json.loads(unb64url(header_b64))
    assert header["alg"] == "ES256"
    [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256" and "d" not in jwk
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(unb64url(jwk["x"]), "big"), int.from_bytes(unb64url(jwk["y"]), "big"), ec.SECP256R1()
    ).public_key()
    unsigned = {k: v for k, v in bundle.items() if k != "signature"}
    signing_input = f"{header_b64}.{b64url(rfc8785.dumps(unsigned))}".encode("ascii")
    raw = unb64url(sig_b64)
    assert len(raw) == 64, "ES256 signatures are raw r||s (RFC 7518 section 3.4)"
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    return header


def test_two_nodes_exchange_a_summary_that_verifies_without_our_code(fed) -> None:
    token = fed.consent_token()
    resp = fed.ask(token)
    assert resp.status_code == 200, resp.text
    bundle = resp.json()

    jwks = requests.get(fed.ggz.url + "/.well-known/jwks.json", timeout=10).json()
    header = verify_independently(bundle, jwks)
    assert bundle["signature"]["who"]["identifier"]["value"] == "ggz-noord"

    # Tampering anywhere outside the signature breaks it, for the independent check too.
    tampered = copy.deepcopy(bundle)
    tampered["entry"][0]["resource"]["status"] = "amended"
    with pytest.raises(InvalidSignature):
        verify_independently(tampered, jwks)

    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    exchange_id = bundle["identifier"]["value"]
    assert bundle["identifier"]["system"] == EXCHANGE_ID_SYSTEM and bundle["id"] == exchange_id
    [ext] = bundle["meta"]["extension"]
    assert ext["url"] == REQUEST_HASH_URL and re.fullmatch(r"[0-9a-f]{64}", ext["valueString"])
    assert all(p.endswith("|1.0.0") for p in bundle["meta"]["profile"])

    # Both logs know this exchange under one id, with the same request and response hashes.
    response_hash = hashlib.sha256(rfc8785.dumps(bundle)).hexdigest()
    [sent] = fed.audit(fed.ggz, action=events.DISCLOSURE_SENT, exchange_id=exchange_id)
    [received] = fed.audit(fed.jeugd, action=events.SUMMARY_RECEIVED, exchange_id=exchange_id)
    assert sent["request_hash"] == received["request_hash"] == ext["valueString"]
    assert sent["response_hash"] == received["response_hash"] == response_hash
    assert sent["peer_org"] == "jeugdteam-west" and received["peer_org"] == "ggz-noord"
    assert sent["actor_id"] == "uzi:900000202" and sent["purpose"] == "joint-safety-planning"
    assert sent["subject"] == received["subject"] == d.bsn(1)
    assert sent["consent_id"].startswith("jeugdteam-west/")
    assert header["kid"] == jwks["keys"][0]["kid"]


def test_diagnosis_code_and_unmarked_note_never_leave(fed) -> None:
    """The ggz file holds an Observation in 'signals' with ICD-10 F33.1, SNOMED 268621008 and an
    unmarked note on sertraline (gateway.demo.data.diagnosis); the summary holds none of it."""
    g = fed.ggz.session("ggz-epd", "uzi:900000101")
    note = d.observation(
        fed.ids["mother_ggz"],
        "safety-plan",
        "Onvermeld: gesprek over medicatie",
        shareable=False,
        source_id="unmarked-1",
    )
    plan = d.safety_plan(fed.ids["mother_ggz"], source_id="plan-unmarked")
    plan.pop("meta")
    plan["description"] = "Niet gemarkeerd: crisisplan na opname"
    for record in (note, plan):
        assert g.post(f"/fhir/{record['resourceType']}", record).status_code in (200, 201)

    resp = fed.ask(fed.consent_token())
    assert resp.status_code == 200, resp.text
    bundle = resp.json()
    text = json.dumps(bundle, ensure_ascii=False)
    assert "Slaapt slecht" in text  # the shareable signal does go out
    for secret in (
        "F33.1",
        "268621008",
        "sertraline",
        "Recidiverende",
        "icd-10",
        "snomed",
        "medicatie",
        "crisisplan na opname",
        "Onvermeld",
    ):
        assert secret not in text, secret
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert kinds <= {"Observation", "CarePlan", "CareTeam"}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Observation":
            assert {c["system"] for c in resource["code"].get("coding", [])} <= {CATEGORY_SYSTEM}
        assert "note" not in resource or all("sertraline" not in n["text"] for n in resource["note"])
    # The diagnosis record is in 'signals', but only as a bare, text-less observation.
    signals = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert len(signals) == 2 and sum("valueString" in s for s in signals) == 1


def test_a_diagnosis_in_a_name_or_phone_field_never_reaches_the_requesting_ehr(fed) -> None:
    """Issue 13 item 1: the ggz EHR wrote "behandelaar depressie F32.1" where a name belongs,
    a diagnosis beside the phone number and an ATC code as a safety-plan performer. The
    youth team gets the care team and the plan, with those elements left out, and the rest."""
    bsn = d.bsn(1301)
    at_ggz = fed.register(fed.ggz, "ggz-epd", bsn)
    at_jeugd = fed.register(fed.jeugd, "jeugd-epd", bsn)
    team = d.care_team(at_ggz, source_id="ct-1301")
    team["participant"][1]["member"]["display"] = "behandelaar depressie F32.1"
    team["telecom"].append({"system": "phone", "value": "050-7654321 (psychosepoli)", "use": "work"})
    team["managingOrganization"] = [{"display": "GGZ Noord, afdeling autisme"}]
    plan = d.safety_plan(at_ggz, source_id="cp-1301")
    plan["author"] = {"display": "Dr. A. Bakker (ADHD-poli)"}
    plan["activity"][1]["detail"]["performer"][0]["display"] = "Wijkcoach, N06AB03"
    g = fed.ggz.session("ggz-epd", "uzi:900000101")
    for record in (team, plan):
        assert g.post(f"/fhir/{record['resourceType']}", record).status_code in (200, 201)
    fed.consent(patient=at_jeugd, categories=("care-team", "safety-plan"))

    resp = fed.ask(None, subject=bsn, categories=("care-team", "safety-plan"))
    assert resp.status_code == 200, resp.text
    text = resp.text
    for secret in ("depressie", "F32.1", "psychose", "autisme", "ADHD", "N06AB03"):
        assert secret not in text, secret
    bundle = resp.json()
    [out_team] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CareTeam"]
    assert [p.get("member", {}).get("display") for p in out_team["participant"]] == ["J. de Vries, SPV", None]
    assert [t.get("value") for t in out_team["telecom"]] == ["050-1234567", None]
    [out_plan] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan"]
    assert "author" not in out_plan
    assert out_plan["activity"][0]["detail"]["performer"] == [{"display": "Oma (moeders kant)"}]
    assert "performer" not in out_plan["activity"][1]["detail"]
