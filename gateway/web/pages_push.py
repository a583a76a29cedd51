"""Pages for the consented push (contract section 9): send a summary, read the inbox.

Role ``professional`` (the routes hang on ``pages_professional.bp`` and its login gate).
Sending calls ``services.push.send`` with the consent recorded here that names this node
as holder and the recipient; the inbox reads ``services.push.received`` (every person
shown is audited as viewed) and shows pushes with consent and safety disclosures apart.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from contract.errors import GatewayError
from gateway.current import node_of
from gateway.federation import directory
from gateway.node import Node
from gateway.services import lookup, push
from gateway.web import forms, present
from gateway.web.pages_professional import actor, bp, form_page, labels, partners
from gateway.web.views import page, refusal_text

MAX_NOTE = 1000


def _sending_consents(node: Node, pid: str) -> list[lookup.ConsentLine]:
    """Consents recorded here under which this node may send to a trusted partner (``push.sending_consents``)."""
    ids = push.sending_consents(node, pid, partners())
    return [c for c in lookup.consents_of(node, pid) if c.id in ids]


def _send_form(pid: str, status: int = 200, **extra: Any) -> Response:
    values = extra.pop("values", {})
    sending = _sending_consents(node_of(), pid)
    return form_page("send_form.html", pid, status, purposes=forms.purposes(), sending=sending, values=values, **extra)


@bp.get("/clienten/<pid>/toesturen")
def send_form(pid: str) -> Response:
    return _send_form(pid)


@bp.post("/clienten/<pid>/toesturen")
def send(pid: str) -> Response:
    node = node_of()
    sending = forms.read_exchange(
        request.form,
        ("ontvanger", "notitie"),
        MAX_NOTE,
        partners(),
        ("Kies de organisatie die de samenvatting ontvangt.", "Kies het doel waarvoor u toestuurt."),
    )
    if sending.errors:
        return _send_form(pid, 422, errors=sending.errors, values=sending.values)
    person = lookup.person(node, pid)
    try:
        sent = push.send(
            node,
            push.SendRequest(
                recipient=sending.partner,
                subject=person.bsn,
                purpose=sending.purpose,
                categories=tuple(sending.categories),
                note=sending.note,
            ),
            actor(),
        )
    except GatewayError as exc:
        code, text = refusal_text(exc)
        return _send_form(pid, 200, refusal=(code, text, sending.partner), values=sending.values)
    return page("send_done.html", person=person, values=sending.values, exchange_id=sent.exchange_id, **labels())


@bp.get("/inbox")
def inbox() -> Response:
    """Everything pushed here: consented pushes and safety disclosures, each in its own part."""
    node = node_of()
    found = push.received(node, actor(), view="web-inbox")
    names = {bsn: next(iter(lookup.find_by_bsn(node, bsn)), None) for bsn in {r.subject for r in found if r.subject}}

    senders = {org: directory.entry(node, org) for org in {r.from_org for r in found}}

    def shown(r: push.Received) -> dict[str, Any]:
        return {
            "r": r,
            "person": names.get(r.subject),
            "sections": present.sections(r.bundle),
            "sender": senders.get(r.from_org),
            "when": present.date_nl(r.received_at.isoformat(), with_time=True),
            "uid": (r.bundle.get("id") or "x")[:12],
        }

    pushes = [shown(r) for r in found if r.kind == push.CONSENTED_PUSH]
    safety = [shown(r) for r in found if r.kind != push.CONSENTED_PUSH]
    return page("inbox.html", pushes=pushes, safety=safety, **labels())
