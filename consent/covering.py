"""Which recorded consent covers an exchange (contract sections 4, 6 and 9): one rule.

Four places used to pick the consent a node issues its own token from, each with its
own rule:

- ``services.exchange._token_for`` (a professional asks a partner without a token):
  status ``active``, a permit for the purpose, this node a recipient, the partner a
  holder, the categories inside the consent's, honoured today. It did not look at
  objections, so it could pick a consent whose token ``issue_token`` then refused, and
  it took the last row in the store's (unspecified) order.
- ``services.push._token_for`` (a holder sends on its own initiative): the same with the
  roles turned round and without the status filter, so a consent no longer honoured was
  named in the refusal (``consent-revoked``); no objections either, last row.
- ``web.lookup.asking_consents`` (the pages list what a professional may ask under): an
  honoured permit naming this node as recipient and a trusted partner as holder,
  newest first; no objections, so the page showed consents the request then failed on.
- ``services.consents.issue_token`` with ``consent.token.issue`` (a token for one named
  consent): a permit, not ``findable``, honoured today, no objection against any of its
  categories for the grantee at any of its holders, the grantee a recipient, holders,
  purpose and categories present; ``issue_token`` alone checked that the issuing node is
  a party.

The one rule is the strictest of these, because each part guards something the
contract requires: the token carries *all* the consent's categories and holders
(section 4), so an objection against any of them at any holder makes the token promise
what an objection withholds (an objection wins over a permit); a consent not honoured today (revoked, ended, not yet
started, parents alone for someone now 16) permits nothing (section 6). Of several
that cover, the newest wins (a renewal replaces what it renews), and ties go by id so
every place picks the same one. A consent that would cover the exchange but no longer
counts is *lapsed*: its reason is worth telling the professional (``consent-revoked``);
one that does not name the exchange at all is not (``invalid-request``).

That only a party issues (section 4, ``issuer-not-party``) is the issuing node's rule
and stays with it (``services.consents``): a consent registrar the holder names may
issue for an exchange it is no party to, so the token itself cannot demand it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from consent import rules
from consent.model import Grant


@dataclass(frozen=True)
class Ask:
    """The exchange a consent must cover: who receives, from which holder, why, what.

    ``holder``, ``purpose`` and ``categories`` left ``None`` mean "any" (the pages list
    every consent a professional could ask under before a partner is chosen).
    """

    recipient: str
    holder: str | None = None
    purpose: str | None = None
    categories: frozenset[str] | None = None


@dataclass(frozen=True)
class Uncovered:
    """Why a consent does not cover an ask, in Dutch; ``lapsed`` when it names the ask but
    no longer counts (revoked, ended, the 16+ rule, an objection)."""

    reason: str
    lapsed: bool


def why_not(grant: Grant, ask: Ask, *, others: Iterable[Grant], on: datetime.date) -> Uncovered | None:
    """Return why ``grant`` does not cover ``ask`` on day ``on``, or None when it does.

    ``others`` are the subject's grants recorded at the issuer (objections among them).
    """
    if grant.decision != "permit":
        return Uncovered("Dit is een bezwaar, geen toestemming.", lapsed=False)
    if not grant.holders or not grant.categories or not grant.purpose:
        return Uncovered("De toestemming noemt geen bronhouder, doel of categorie.", lapsed=False)
    if ask.recipient not in grant.recipients:
        return Uncovered("Deze organisatie is geen ontvanger in de toestemming.", lapsed=False)
    if ask.holder is not None and (ask.holder not in grant.holders or ask.holder == ask.recipient):
        return Uncovered("Deze organisatie is geen bronhouder in de toestemming.", lapsed=False)
    if ask.purpose is not None and ask.purpose != grant.purpose:
        return Uncovered("De toestemming geldt voor een ander doel.", lapsed=False)
    if ask.categories is not None and (not ask.categories or not ask.categories <= grant.categories):
        return Uncovered("De toestemming noemt niet al deze soorten gegevens.", lapsed=False)
    reason = rules.why_not_honoured(grant, on)
    if reason is not None:
        return Uncovered(reason, lapsed=True)
    others = list(others)
    for holder in sorted(grant.holders):
        if rules.denied_categories(others, ask.recipient, holder, grant.purpose, on) & grant.categories:
            return Uncovered("Er is bezwaar gemaakt tegen (een deel van) deze gegevens.", lapsed=True)
    return None


def newest(
    grants: Sequence[tuple[Grant, datetime.datetime]], ask: Ask, *, on: datetime.date
) -> tuple[tuple[Grant, ...], Uncovered | None]:
    """Every grant covering ``ask`` among the subject's ``(grant, recorded at)`` pairs, newest first.

    Ties in time go by id, descending, so every place picks the same first one. Without
    any, the reason is that of the newest lapsed consent (an active one first: "expired"
    explains more than "revoked long ago"), or None when no consent names the ask at all.
    """
    everyone = [g for g, _ in grants]
    found: list[Grant] = []
    lapsed: list[tuple[bool, Uncovered]] = []
    for grant, _ in sorted(grants, key=lambda pair: (pair[1], pair[0].id), reverse=True):
        why = why_not(grant, ask, others=everyone, on=on)
        if why is None:
            found.append(grant)
        elif why.lapsed:
            lapsed.append((grant.status == "active", why))
    if found:
        return tuple(found), None
    reasons = [why for is_active, why in lapsed if is_active] or [why for _, why in lapsed]
    return (), reasons[0] if reasons else None
