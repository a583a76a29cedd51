"""Which consent covers a request: the same answer for the request, the push, the pages and
the token (issue 14). Each test is a situation in which the places used to disagree.

Real node and store (SQLite, or PostgreSQL too when both stores are asked for); the
partner boundary is faked: ``is_trusted`` for the one partner, and a partner that records
what was sent to it and is then unreachable, so nothing leaves the machine.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from audit import events
from consent import covering as cover
from consent import rules
from contract import jwt
from contract.errors import ConsentRevoked, InvalidRequest, PartnerUnavailable
from gateway.demo import data as d
from gateway.fhir import fhir_in
from gateway.repositories import audit_log
from gateway.services import consents, exchange, lookup, push, registry

HERE, PARTNER = "ggz-noord", "jeugdteam-west"  # conftest's node, and the one partner it trusts here
PURPOSE, CATEGORIES = "joint-safety-planning", ["signals", "safety-plan", "care-team"]
PROFESSIONAL = audit_log.Actor(actor_id="uzi:900000101", role="professional", access_point="web")


class UnreachablePartner:
    """Keeps what the node sent, then cannot be reached: the request is refused and audited."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def call(self, org: str, operation: str, body: dict[str, Any]) -> Any:
        self.sent.append((org, operation, body))
        raise PartnerUnavailable()


@pytest.fixture
def node(app: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    n = app.extensions["gateway"]
    monkeypatch.setattr(n.partners, "is_trusted", lambda org: org == PARTNER)
    monkeypatch.setattr(n, "peer", UnreachablePartner())
    return n


def at(node: Any, moment: dt.datetime) -> None:
    node.clock = lambda: moment


def today(node: Any) -> dt.date:
    return rules.day_of(int(node.clock().timestamp()))


def a_mother(node: Any, seed: int = 7) -> tuple[str, str]:
    """An adult registered here: (Patient id, BSN). She consents for herself."""
    bsn = d.bsn(seed)
    stored, _ = registry.register_person(node, fhir_in.patient(d.patient(bsn, dt.date(1984, 3, 9), "Sanne", "Jansen")))
    return stored["id"], bsn


def her_consent(
    node: Any,
    pid: str,
    *,
    recipients: list[str],
    holders: list[str],
    days: int = 365,
    decision: str = "permit",
    categories: list[str] = CATEGORIES,
) -> str:
    resource = d.consent(
        pid,
        [f"Patient/{pid}"],
        recipients=recipients,
        holders=holders,
        purpose=PURPOSE,
        categories=categories,
        start=today(node),
        days=days,
        decision=decision,
    )
    return consents.record(node, fhir_in.consent(resource), PROFESSIONAL)["id"]  # type: ignore[no-any-return]


def asking_here(node: Any, pid: str, *, days: int = 365) -> str:
    """She agrees that this node asks the partner (this node receives, the partner holds)."""
    return her_consent(node, pid, recipients=[HERE], holders=[PARTNER], days=days)


def ask(bsn: str, categories: tuple[str, ...] = ("signals",)) -> exchange.SummaryRequest:
    return exchange.SummaryRequest(partner=PARTNER, subject=bsn, purpose=PURPOSE, categories=categories)


def covered(node: Any, pid: str, categories: tuple[str, ...] = ("signals",)) -> consents.Coverage:
    want = cover.Ask(recipient=HERE, holder=PARTNER, purpose=PURPOSE, categories=frozenset(categories))
    with node.uow(read_only=True) as uow:
        return consents.covering(uow, pid, want, issuer=HERE, on=today(node))


def failed_requests(node: Any) -> list[Any]:
    with node.uow(read_only=True) as uow:
        return [
            audit_log.stored(e).record for e in audit_log.entries(uow.session, action=events.SUMMARY_REQUEST_FAILED)
        ]


def test_an_objection_to_a_category_not_asked_for_leaves_no_consent_to_ask_under_anywhere(node: Any) -> None:
    """She agreed to three kinds of data, then objected to one. The page used to offer the
    consent, and the request then failed on the token; now none of them uses it."""
    pid, bsn = a_mother(node)
    cid = asking_here(node, pid)
    her_consent(node, pid, recipients=[HERE], holders=[PARTNER], decision="deny", categories=["care-team"])

    coverage = covered(node, pid)
    assert coverage.grant is None and coverage.why_not is not None and coverage.why_not.lapsed
    assert lookup.asking_consents(node, pid, partner=PARTNER, purpose=PURPOSE, categories=frozenset({"signals"})) == []
    assert lookup.asking_consents(node, pid) == []
    with pytest.raises(ConsentRevoked):
        consents.issue_token(node, cid, HERE, PROFESSIONAL)
    with pytest.raises(ConsentRevoked, match="bezwaar"):
        exchange.request_summary(node, ask(bsn), PROFESSIONAL)
    assert node.peer.sent == []  # refused here, before anything left
    [failed] = failed_requests(node)
    assert failed.reason_code == ConsentRevoked.code and failed.peer_org == PARTNER


def test_of_two_consents_that_cover_the_request_the_renewed_one_is_used_everywhere(node: Any) -> None:
    """A consent renewed a month later: the page lists it first and the request goes under it
    (the requester used to take whichever row the store returned last)."""
    pid, bsn = a_mother(node)
    now = dt.datetime.now(dt.UTC)
    at(node, now - dt.timedelta(days=30))
    first = asking_here(node, pid)
    at(node, now)
    renewed = asking_here(node, pid)

    assert [g.id for g in covered(node, pid).grants] == [renewed, first]
    assert [line.id for line in lookup.asking_consents(node, pid)] == [renewed, first]
    with pytest.raises(PartnerUnavailable):
        exchange.request_summary(node, ask(bsn), PROFESSIONAL)
    [(org, operation, body)] = node.peer.sent
    token = next(p["valueString"] for p in body["parameter"] if p["name"] == "consent-token")
    assert (org, operation, jwt.peek_claims(token)["consent"]) == (PARTNER, "behaviour-summary", renewed)


def test_an_expired_consent_is_named_alike_when_asking_and_when_pushing(node: Any) -> None:
    """A month-long consent, recorded two months ago. Pushing named it as expired, asking said
    there was no consent at all; both now refuse it as consent-revoked, saying why."""
    pid, bsn = a_mother(node)
    now = dt.datetime.now(dt.UTC)
    at(node, now - dt.timedelta(days=60))
    asking_here(node, pid, days=30)
    her_consent(node, pid, recipients=[PARTNER], holders=[HERE], days=30)  # and this node may send
    at(node, now)

    with pytest.raises(ConsentRevoked, match="verlopen"):
        exchange.request_summary(node, ask(bsn), PROFESSIONAL)
    with pytest.raises(ConsentRevoked, match="verlopen"):
        push.send(
            node,
            push.SendRequest(recipient=PARTNER, subject=bsn, purpose=PURPOSE, categories=("signals",)),
            PROFESSIONAL,
        )
    assert lookup.asking_consents(node, pid) == [] and node.peer.sent == []


def test_a_request_no_consent_names_is_refused_without_a_reason_to_tell(node: Any) -> None:
    """More kinds of data than she agreed to: no consent names this request at all."""
    pid, bsn = a_mother(node)
    asking_here(node, pid)

    with pytest.raises(InvalidRequest) as refused:
        exchange.request_summary(node, ask(bsn, ("signals", "parenting")), PROFESSIONAL)
    assert refused.value.detail == exchange.NO_COVERING_CONSENT and node.peer.sent == []
    assert lookup.asking_consents(node, pid, categories=frozenset({"signals", "parenting"})) == []


def test_a_node_does_not_ask_which_consent_covers_an_exchange_it_is_no_party_to(node: Any) -> None:
    with node.uow(read_only=True) as uow, pytest.raises(ValueError):
        consents.covering(uow, None, cover.Ask(recipient=PARTNER, holder="wijkteam-oost"), issuer=HERE, on=today(node))


@pytest.mark.parametrize(
    "bad",
    [
        {"subject": "123456789"},
        {"subject": "１２３４５６７８２"},
        {"categories": ()},
        {"categories": ("signals", "signals")},
    ],
)
def test_a_request_with_a_bad_bsn_or_categories_cannot_be_made(bad: dict[str, Any]) -> None:
    fields = {"partner": PARTNER, "subject": d.bsn(7), "purpose": PURPOSE, "categories": ("signals",), **bad}
    with pytest.raises(InvalidRequest):
        exchange.SummaryRequest(**fields)
    with pytest.raises(InvalidRequest):
        push.SendRequest(recipient=PARTNER, **{k: v for k, v in fields.items() if k != "partner"})


def test_the_send_form_offers_only_the_consents_a_push_would_go_under(node: Any) -> None:
    """She lets this node send to the partner, and to an organisation it does not trust; later
    she objects to one kind of data for the partner. The form used to offer both consents."""
    pid, bsn = a_mother(node)
    to_partner = her_consent(node, pid, recipients=[PARTNER], holders=[HERE])
    her_consent(node, pid, recipients=["onbekend-team"], holders=[HERE])

    assert push.sending_consents(node, pid, [PARTNER, HERE]) == {to_partner}

    her_consent(node, pid, recipients=[PARTNER], holders=[HERE], decision="deny", categories=["care-team"])
    assert push.sending_consents(node, pid, [PARTNER]) == frozenset()
    with pytest.raises(ConsentRevoked, match="bezwaar"):
        push.send(
            node,
            push.SendRequest(recipient=PARTNER, subject=bsn, purpose=PURPOSE, categories=("signals",)),
            PROFESSIONAL,
        )
