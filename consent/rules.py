"""Who may consent, and when a recorded consent still counts (contract section 6).

Dutch law (WGBO art. 7:450, Jeugdwet art. 7.3.4): under 12 every custody holder
(gezaghebbende ouder, voogd or gecertificeerde instelling) consents; from 12 to 15 the
young person *and* every custody holder; from 16 the person alone. One custody holder
refusing means no consent, and a person consents only for their own data. Parties are
compared by key (``bsn:<BSN>`` or ``org:<id>``, see ``consent.model``).

Calendar days are Dutch days (Europe/Amsterdam): a consent ending on 30 June holds until
midnight in the Netherlands, whatever the server's clock zone.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from consent.model import Grant, Party, Subject
from contract.errors import GrantorsInsufficient
from profiles import catalog

DUTCH_TIME = ZoneInfo("Europe/Amsterdam")

CHILD_UNTIL = 12
"""Below this age the custody holders alone consent."""
MINOR_UNTIL = 16
"""From CHILD_UNTIL up to this age the young person and the custody holders consent."""
ADULT_FROM = 18


def day_of(timestamp: int) -> datetime.date:
    """Return the Dutch calendar day of a Unix timestamp."""
    return datetime.datetime.fromtimestamp(timestamp, DUTCH_TIME).date()


def day_end(day: datetime.date) -> int:
    """Return the Unix timestamp at which the Dutch calendar ``day`` is over."""
    midnight = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(0), tzinfo=DUTCH_TIME)
    return int(midnight.timestamp())


def age_on(birth: datetime.date, day: datetime.date) -> int:
    """Return the age in whole years on ``day``.

    Someone born on 29 February turns a year older on 1 March in a non-leap year (the
    birthday has not passed on 28 February). Negative before birth.
    """
    before_birthday = (day.month, day.day) < (birth.month, birth.day)
    return day.year - birth.year - int(before_birthday)


def _mask(key: str) -> str:
    # Error details reach logs; a BSN in full must not (SECURITY.md). The last three
    # digits and the name are enough for the professional to see which parent is meant.
    return f"bsn:…{key[-3:]}" if key.startswith("bsn:") else key


def kind_nl(kind: str, custody: bool) -> str:
    """Return who a party of ``kind`` is, in Dutch: the party-kind CodeSystem's label, with
    custody for a parent.

    "de persoon zelf", "ouder met gezag", "ouder zonder gezag", "voogd", "gecertificeerde
    instelling"; a guardian or institution without custody is a "persoon zonder gezag".
    """
    word = catalog.label(catalog.PARTY_KIND_SYSTEM, kind).lower()
    if kind == "parent":
        return f"{word} {'met' if custody else 'zonder'} gezag"
    return word if custody or kind == "subject" else "persoon zonder gezag"


def _describe(party: Party) -> str:
    label = kind_nl(party.kind, party.custody)
    name = f" {party.name}" if party.name else ""
    return f"{label}{name} ({_mask(party.key)})"


def _custody(subject: Subject, parties: Iterable[Party]) -> dict[str, Party]:
    return {p.key: p for p in parties if p.custody and p.kind != "subject" and p.key != subject.key}


def required_grantors(subject: Subject, custody_holders: list[Party], on: datetime.date) -> frozenset[str]:
    """Return the keys of everyone whose consent is required on ``on`` (contract section 6).

    Only parties with ``custody`` count; a parent without gezag in the list is ignored.
    Raises ``GrantorsInsufficient`` for a subject under 16 with no custody holder known:
    an empty requirement would otherwise be met by nobody.
    """
    age = age_on(subject.birth_date, on)
    if age >= MINOR_UNTIL:
        return frozenset({subject.key})
    custody = _custody(subject, custody_holders)
    if not custody:
        raise GrantorsInsufficient(
            "Er is geen gezaghebbende bekend voor deze jongere onder de 16; "
            "leg eerst het gezag vast (ouder met gezag, voogd of gecertificeerde instelling)."
        )
    if age >= CHILD_UNTIL:
        return frozenset(custody) | {subject.key}
    return frozenset(custody)


def check_grantors(
    subject: Subject,
    custody_holders: list[Party],
    grantors: frozenset[str],
    refusals: frozenset[str],
    on: datetime.date,
) -> None:
    """Check that exactly the right people consented on ``on`` (contract section 6).

    A refusal by a required party means no consent; a grantor who is not entitled (a
    parent for a person of 16 or over, another adult, a parent without gezag, a child
    under 12) is refused rather than silently ignored, so the record says who truly
    consented. Refusals by parties who are not required (a consulted parent of a
    16-year-old) are informational. Raises ``GrantorsInsufficient`` naming, in Dutch,
    who refused, who may not consent and who is missing.
    """
    required = required_grantors(subject, custody_holders, on)
    age = age_on(subject.birth_date, on)
    known = {p.key: p for p in custody_holders}
    problems: list[str] = []

    refused = sorted(refusals & required)
    if refused:
        problems.append(
            "Geen toestemming: geweigerd door "
            + "; ".join(_who(k, subject, known, age) for k in refused)
            + ". Eén weigering van een vereiste partij betekent geen toestemming."
        )

    for key in sorted(grantors - required):
        problems.append(_not_entitled(key, subject, known, age))

    missing = sorted(required - grantors - refusals)
    if missing:
        problems.append("Toestemming ontbreekt van: " + "; ".join(_who(k, subject, known, age) for k in missing) + ".")
    if problems:
        raise GrantorsInsufficient(" ".join(problems))


def _who(key: str, subject: Subject, known: dict[str, Party], age: int) -> str:
    if key == subject.key:
        if age < CHILD_UNTIL:
            return "het kind zelf (jonger dan 12 jaar)"
        if age < MINOR_UNTIL:
            return "de jongere zelf (12-15 jaar)"
        return "de persoon zelf (16 jaar of ouder)"
    party = known.get(key)
    return _describe(party) if party else _mask(key)


def _not_entitled(key: str, subject: Subject, known: dict[str, Party], age: int) -> str:
    who = _who(key, subject, known, age)
    if key == subject.key:
        return (
            f"Onder de 12 jaar geven de gezaghebbenden toestemming, niet het kind zelf "
            f"({who} staat ten onrechte als toestemmingsgever vermeld)."
        )
    if age >= ADULT_FROM:
        return (
            "Een volwassene geeft alleen toestemming voor de eigen gegevens: "
            f"{who} kan geen toestemming geven voor de gegevens van deze persoon."
        )
    if age >= MINOR_UNTIL:
        return (
            "Vanaf 16 jaar geeft de jongere alleen zelf toestemming: "
            f"{who} kan hooguit als geraadpleegd worden vastgelegd."
        )
    return f"{who} heeft geen gezag over deze jongere en kan geen toestemming geven."


def renewal_reasons(grant: Grant, on: datetime.date) -> list[str]:
    """List why ``grant`` needs renewing on ``on``: ``subject-turned-12``, ``-16``, ``-18``.

    Contract section 6: a consent whose grantor set changes when the subject turns 12 or
    16 is flagged. Turning 18 ends custody altogether, so a consent given before 16 (when
    custody holders were part of it) is flagged again at 18. A consent the person gave
    alone at 16 or 17 is not: from 16 they decide alone, and turning 18 changes nothing,
    so a 17-year-old's consent for their plan for turning 18 (``future-plan``) stays valid.
    """
    then = age_on(grant.subject.birth_date, grant.start)
    now = age_on(grant.subject.birth_date, on)
    return [
        f"subject-turned-{age}"
        for age in (CHILD_UNTIL, MINOR_UNTIL, ADULT_FROM)
        if then < age <= now and not (age == ADULT_FROM and then >= MINOR_UNTIL and grant.subject.key in grant.grantors)
    ]


def to_confirm(grant: Grant, on: datetime.date) -> str | None:
    """Say, in plain Dutch, what the person must now confirm themselves; None if nothing.

    Follows ``renewal_reasons``: at 12 the young person consents too; at 16 or 17 they
    decide alone (a parents-only consent no longer counts, a joint one they confirm); at
    18 they confirm what was agreed before they were 16. A consent they gave alone at 16
    or 17 needs nothing at 18.
    """
    reasons = renewal_reasons(grant, on)
    if not reasons or grant.status != "active" or grant.decision != "permit":
        return None
    age = age_on(grant.subject.birth_date, on)
    own = grant.subject.key in grant.grantors
    if age >= ADULT_FROM:
        return (
            f"Nu {age} jaar en volwassen: vraag de persoon zelf te bevestigen wat vóór de 16e "
            "verjaardag is afgesproken" + ("." if own else "; de toestemming van de ouders geldt niet meer.")
        )
    if age >= MINOR_UNTIL:
        if own:
            return (
                f"Nu {age} jaar: de jongere beslist voortaan alleen. Vraag de jongere zelf te bevestigen "
                "dat deze toestemming blijft gelden; de ouders hoeven niet meer te tekenen."
            )
        return f"Nu {age} jaar: de toestemming van de ouders geldt niet meer. De jongere moet zelf toestemming geven."
    return f"Nu {age} jaar: de jongere moet zelf ook toestemming geven, naast iedereen met gezag."


def why_not_honoured(grant: Grant, on: datetime.date) -> str | None:
    """Return, in Dutch, why ``grant`` does not permit sharing on ``on``, or None if it does."""
    if grant.status == "rejected":
        return "Dit is een vastgelegde weigering: er wordt niets gedeeld."
    if grant.status != "active":
        return "De toestemming is ingetrokken."
    if grant.decision != "permit":
        return "Dit is een bezwaar, geen toestemming."
    if on < grant.start:
        return "De toestemming gaat pas later in."
    if grant.end is not None and on > grant.end:
        return "De toestemming is verlopen."
    if age_on(grant.subject.birth_date, on) >= MINOR_UNTIL and grant.subject.key not in grant.grantors:
        return (
            "De persoon is inmiddels 16 of ouder en heeft zelf geen toestemming gegeven; "
            "toestemming van de ouders alleen geldt niet meer."
        )
    return None


def honoured(grant: Grant, on: datetime.date) -> bool:
    """Tell whether ``grant`` permits sharing on ``on`` (active, permit, in period, 16+ rule)."""
    return why_not_honoured(grant, on) is None


def _objection_applies(grant: Grant, grantee: str, holder: str, purpose: str, on: datetime.date) -> bool:
    # An objection with no recipients, holders or purpose applies to all of them, as a
    # FHIR provision without actors does. It keeps counting after the subject turns 16
    # (unlike a permit): a stale objection can only withhold, never disclose.
    return (
        grant.decision == "deny"
        and grant.status == "active"
        and grant.start <= on
        and (grant.end is None or on <= grant.end)
        and (not grant.recipients or grantee in grant.recipients)
        and (not grant.holders or holder in grant.holders)
        and (not grant.purpose or grant.purpose == purpose)
    )


def denied_categories(
    grants: Iterable[Grant], grantee: str, holder: str, purpose: str, on: datetime.date
) -> frozenset[str]:
    """Return the categories an active objection withholds from ``grantee`` at ``holder``.

    Pass the subject's grants; grants of others only withhold more, never less.
    """
    denied: set[str] = set()
    for grant in grants:
        if _objection_applies(grant, grantee, holder, purpose, on):
            denied |= grant.categories
    return frozenset(denied)


def effective_decision(
    grants: Iterable[Grant],
    *,
    subject_bsn: str,
    grantee: str,
    holder: str,
    purpose: str,
    on: datetime.date,
) -> frozenset[str]:
    """Return the categories the subject's honoured permits allow after objections.

    An objection (decision ``deny``) wins over a permit for the same subject, recipient,
    holder and purpose: its categories are removed. Empty means: do not disclose.
    """
    own = [g for g in grants if g.subject.bsn == subject_bsn]
    permitted: set[str] = set()
    for grant in own:
        if honoured(grant, on) and grantee in grant.recipients and holder in grant.holders and grant.purpose == purpose:
            permitted |= grant.categories
    return frozenset(permitted) - denied_categories(own, grantee, holder, purpose, on)
