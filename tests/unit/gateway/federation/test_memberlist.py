"""The federation list as a node reads it: signed by an operator it accepts, or refused whole.

Contract section 7. Each refusal is a situation an operator may meet on the web server that
hosts the list: a list someone edited, one signed by a key nobody agreed on, one past its
valid-until, a duplicate or malformed member, a document far too large or too deep.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from joserfc.jwk import ECKey, OKPKey

from gateway.federation import memberlist as fedlist
from gateway.federation.memberlist import ListedMember, ListRefused

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
OPERATOR = ECKey.generate_key("P-256", private=True)
MEMBER_KEY = ECKey.generate_key("P-256", private=True)


def a_member(org_id: str = "ggz-noord", **kw: Any) -> ListedMember:
    base: dict[str, Any] = {
        "org_id": org_id,
        "name": "GGZ Noord",
        "type": "adult-mental-health",
        "url": "https://gateway.ggz-noord.example",
        "thumbprints": (MEMBER_KEY.thumbprint(),),
        "contact": ("+31 50 123 4567", "crisis@ggz-noord.example"),
        "ura": "12345678",
    }
    base.update(kw)
    return ListedMember(**base)


def a_list(
    *members: ListedMember,
    version: int = 3,
    key: Any = OPERATOR,
    valid: timedelta = timedelta(days=7),
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> bytes:
    bundle = fedlist.build("regio-west", version, members or (a_member(),), now=NOW, valid_until=NOW + valid)
    if edit:
        edit(bundle)
    return json.dumps(fedlist.sign(bundle, key, now=NOW)).encode()


def verify(raw: bytes, **kw: Any) -> fedlist.VerifiedList:
    kw.setdefault("now", NOW + timedelta(hours=1))
    return fedlist.verify(raw, [OPERATOR.thumbprint()], **kw)


def test_a_published_list_verifies_and_names_every_member_as_listed() -> None:
    listed = verify(
        a_list(
            a_member(),
            a_member(
                "jeugdteam-west",
                name="Jeugdteam West",
                type="youth-care",
                url="https://jeugd.example/gateway/",
                contact=(),
                ura="",
            ),
        )
    )
    assert (listed.federation_id, listed.version, listed.operator_kid) == ("regio-west", 3, OPERATOR.thumbprint())
    assert [m.org_id for m in listed.members] == ["ggz-noord", "jeugdteam-west"]
    assert listed.members[0] == a_member()
    assert listed.members[1].url == "https://jeugd.example/gateway"


def test_the_list_is_valid_fhir_r4_in_mcsd_shapes() -> None:
    bundle = Bundle.model_validate(json.loads(a_list()))
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds == ["Organization", "Endpoint"] and bundle.signature.sigFormat == "application/jose"


def test_an_ed25519_operator_key_works_too() -> None:
    ed = OKPKey.generate_key("Ed25519", private=True)
    assert fedlist.verify(a_list(key=ed), [ed.thumbprint()], now=NOW).version == 3


def test_a_list_edited_after_signing_is_refused() -> None:
    doc = json.loads(a_list())
    doc["entry"][0]["resource"]["name"] = "Nep Organisatie"
    with pytest.raises(ListRefused, match="signature does not verify"):
        verify(json.dumps(doc).encode())


def test_a_list_whose_operator_key_was_swapped_is_refused() -> None:
    doc = json.loads(a_list())
    rogue = ECKey.generate_key("P-256", private=True)
    for ext in doc["meta"]["extension"]:
        if ext["url"] == fedlist.OPERATOR_KEY:
            ext["valueString"] = json.dumps(
                {k: v for k, v in rogue.as_dict(private=False).items() if k in ("kty", "crv", "x", "y")}
            )
    with pytest.raises(ListRefused, match="does not accept"):
        verify(json.dumps(doc).encode())


def test_a_list_signed_by_an_operator_this_node_does_not_accept_is_refused() -> None:
    rogue = ECKey.generate_key("P-256", private=True)
    with pytest.raises(ListRefused, match="does not accept"):
        verify(a_list(key=rogue))


def test_an_expired_list_is_refused_unless_within_the_configured_grace() -> None:
    raw = a_list(valid=timedelta(days=1))
    later = NOW + timedelta(days=1, hours=1)
    with pytest.raises(ListRefused, match="expired"):
        verify(raw, now=later)
    assert verify(raw, now=later, grace=7200).version == 3


def test_a_duplicate_org_id_is_refused() -> None:
    with pytest.raises(ListRefused, match="listed twice"):
        verify(a_list(a_member(), a_member(name="Tweede GGZ")))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda b: b["entry"][0]["resource"]["type"][0]["coding"][0].update(code="hospital"), "organisation-type"),
        (lambda b: b["entry"][1]["resource"].update(address="http://ggz.example"), "https://"),
        (lambda b: b["entry"][1]["resource"].update(extension=[]), "thumbprints"),
        (lambda b: b["entry"][1]["resource"]["extension"][0].update(valueString="not-a-thumbprint"), "thumbprints"),
        (lambda b: b["entry"][0]["resource"]["telecom"][0].update(value="bel maar"), "neither a phone"),
        (lambda b: b["entry"][0]["resource"].update(name="<script>"), "printable"),
        (lambda b: b["entry"].pop(1), "exactly one Organization and one Endpoint"),
        (lambda b: b["entry"][1]["resource"].update(status="off"), "active"),
        (lambda b: b["entry"][0]["resource"]["identifier"].pop(0), "org-id identifier"),
        (lambda b: b["entry"].append({"resource": {"resourceType": "Patient"}}), "neither an Organization"),
        (lambda b: b["meta"].update(versionId="03"), "versionId"),
        (lambda b: b.update(type="searchset"), "collection"),
        (lambda b: b.update(timestamp="gisteren"), "instant"),
    ],
)
def test_a_malformed_entry_refuses_the_whole_list(change: Callable[[dict[str, Any]], Any], why: str) -> None:
    with pytest.raises(ListRefused, match=why):
        verify(a_list(edit=change))


def test_a_huge_list_is_refused_unread() -> None:
    with pytest.raises(ListRefused, match="max_list_bytes"):
        verify(b"{" + b" " * 2_000_000 + b"}", max_bytes=1_000_000)


def test_a_deeply_nested_document_is_refused() -> None:
    with pytest.raises(ListRefused, match="not strict JSON|nested"):
        verify(b"[" * 200_000 + b"]" * 200_000)

    def deep(bundle: dict[str, Any]) -> None:
        nest: Any = "x"
        for _ in range(20):
            nest = {"a": nest}
        bundle["entry"][0]["resource"]["extension"] = [{"url": "https://x.example", "valueString": "x", "n": nest}]

    with pytest.raises(ListRefused, match="nested deeper"):
        verify(a_list(edit=deep))


def test_duplicate_json_keys_are_refused() -> None:
    raw = a_list().replace(b'"type": "collection"', b'"type": "collection", "type": "collection"', 1)
    assert raw.count(b'"type": "collection"') == 2
    with pytest.raises(ListRefused, match="strict JSON"):
        verify(raw)


def test_five_hundred_members_verify_quickly() -> None:
    members = [a_member(f"org-{i:03d}", name=f"Organisatie {i}") for i in range(500)]
    raw = a_list(*members)
    started = time.perf_counter()
    assert len(verify(raw).members) == 500
    assert time.perf_counter() - started < 2.0
