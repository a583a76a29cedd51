"""Shared view helpers: who is calling, and as which practitioner."""

from __future__ import annotations

import re

from flask import g, request

from contract.errors import InvalidRequest, UnknownPartner
from gateway.current import node_of
from gateway.http import auth, observe
from gateway.repositories import witnesses
from gateway.repositories.audit_log import Actor

_PRACTITIONER = re.compile(r"^[a-z][a-z0-9-]{1,15}:[A-Za-z0-9._-]{1,64}$")


def caller(*roles: str) -> auth.Caller:
    """Verify the bearer token and require one of ``roles``."""
    who = auth.verify_access_token(node_of(), request.headers.get("Authorization"))
    auth.require_role(who, *roles)
    auth.require_scope(who, request.method, request.path)
    return who


def actor(who: auth.Caller, *, required: bool = True) -> Actor:
    """The acting professional from ``X-Practitioner`` (e.g. ``uzi:123456``), for the audit."""
    value = request.headers.get("X-Practitioner", "").strip()
    if not value:
        if required:
            raise InvalidRequest("Header X-Practitioner (bijv. uzi:123456) is verplicht bij deze aanroep.")
        value = f"client:{who.client_id}"
    elif not _PRACTITIONER.match(value):
        raise InvalidRequest("X-Practitioner heeft de vorm 'uzi:123456' of 'agb:…'.")
    return Actor(actor_id=value, role=who.role, client_id=who.client_id, access_point=request.remote_addr or "")


def partner_caller() -> auth.Caller:
    """Verify a partner's bearer token; a non-partner or no-longer-trusted caller is unknown."""
    node = node_of()
    who = auth.verify_access_token(node, request.headers.get("Authorization"))
    if not who.is_partner or not node.partners.is_trusted(who.client_id):
        raise UnknownPartner()

    g.witness_partner = who.client_id  # the answer carries our audit head (gateway.app)
    witnesses.receive(node, who.client_id, request.headers.get(witnesses.HEADER))
    observe.note(request.environ, observe.PARTNER, who.client_id)
    return who
