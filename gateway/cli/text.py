"""English for operators (issue 20.13): the CLI's one line on stderr is always English.

The use cases explain their refusals in Dutch, for professionals and privacy officers who
read them on a page or in an OperationOutcome. An IT department reading ``gateway`` on a
terminal gets English: the known Dutch sentences that reach the CLI are translated here
with their details (URL, org id, status), and anything else falls back to one English line
per reason code (the refusal-reason CodeSystem's ``en`` designations). Text that is English
already passes through unchanged.
"""

from __future__ import annotations

import re

from contract.errors import GatewayError
from profiles import catalog

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), en)
    for p, en in (
        (r"^Geen verbinding met (.+)\.$", r"cannot connect to \1"),
        (r"^Geen antwoord binnen de tijdslimiet van (.+)\.$", r"no answer in time from \1"),
        (r"^(.+) verwees door; doorverwijzingen worden niet gevolgd\.$", r"\1 redirected; redirects are not followed"),
        (r"^Het antwoord van de partner is te groot\.$", "the partner's answer is too large"),
        (r"^De partner antwoordde te traag\.$", "the partner answered too slowly"),
        (r"^Geen geldige JWKS op (.+) \(status (\d+)\)\.$", r"no valid JWKS at \1 (HTTP \2)"),
        (r"^De JWKS op (.+) bevat geen sleutels\.$", r"the JWKS at \1 holds no keys"),
        (r"^JWKS-sleutel is geen object\.$", "a key in the JWKS is not a JSON object"),
        (
            r"^De JWKS van de partner bevat een privé-sleutel; geweigerd\.$",
            "the partner's JWKS holds a private key; refused",
        ),
        (r"^Sleuteltype (\S+) is niet toegestaan.*$", r"key type \1 is not allowed (EC P-256 or Ed25519 only)"),
        (
            r"^kid van de partner-sleutel is niet de RFC 7638-vingerafdruk\.$",
            "a partner key's kid is not its RFC 7638 thumbprint",
        ),
        (r"^'([^']+)' is geen vertrouwde partner( van deze node)?\.$", r"'\1' is not a trusted partner of this node"),
        (
            r"^De partner (\S+) erkent deze node niet \(meer\) als vertrouwde partner\.$",
            r"partner \1 does not (or no longer) trust this node",
        ),
        (r"^De partner (\S+) weigerde onze aanmelding \((.+)\)\.$", r"partner \1 refused our client assertion (\2)"),
        (
            r"^De partner (\S+) gaf een onbegrijpelijk antwoord \(status (\d+)\)\.$",
            r"partner \1 answered something unreadable (HTTP \2)",
        ),
        (
            r"^De klok van deze node en die van (\S+) lopen (\d+) seconden.*$",
            r"this node's clock and \1's differ by \2 seconds; fix the time (NTP) on one of them",
        ),
        (
            r"^De ontvangstbewijzen zijn niet van deze partner of niet voor ons\.$",
            "the receipts are not from this partner or not for this node",
        ),
    )
)

_DUTCH = re.compile(
    r"\b(de|het|een|geen|niet|van|deze|is hier|wordt|kan|mag|bij|gegevens|toestemming)\b", re.IGNORECASE
)


def english(exc: GatewayError) -> str:
    """One English line for ``exc``, keeping the details its Dutch text carried."""
    reason = getattr(exc, "reason", None) or exc.code
    detail = exc.detail.strip()
    for pattern, replacement in _PATTERNS:
        if pattern.match(detail):
            return pattern.sub(replacement, detail)
    # a parenthesised detail may quote a Dutch refusal from below; the sentence itself decides
    if not _DUTCH.search(re.sub(r"\([^()]*\)", "", detail)) and detail != exc.message_nl:
        return detail  # English already (the adapters', the import's and partner add's own lines)
    return f"{by_code(reason)} ({reason})"


def by_code(reason: str) -> str:
    """The English line for a reason code: its refusal-reason ``en`` designation, else the code."""
    if not catalog.has_label(catalog.REFUSAL_REASON_SYSTEM, reason, language="en"):
        return reason
    return catalog.label(catalog.REFUSAL_REASON_SYSTEM, reason, language="en")
