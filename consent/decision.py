"""The holder's decision: may these categories be disclosed? (contract section 4).

Pure and fail closed: every question the contract asks that needs no I/O is answered
here, in the contract's order, and the first "no" is the refusal. The two questions that
need I/O are the caller's (``gateway`` services), before anything leaves the node:

* is the consent still active at its issuer (``$consent-status``; unreachable issuer
  means ``ConsentStatusUnavailable``, revoked means ``ConsentRevoked``);
* is the subject known here (``SubjectUnknown``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from consent.model import VerifiedConsent
from contract.errors import (
    CategoryNotConsented,
    GranteeMismatch,
    InvalidRequest,
    IssuerNotParty,
    NotShareable,
    PurposeMismatch,
    SubjectMismatch,
    WrongAudience,
)


def check(
    verified: VerifiedConsent,
    *,
    caller_org: str,
    holder_org: str,
    subject_bsn: str,
    purpose: str,
    categories: Sequence[str],
    matrix: Mapping[str, frozenset[str]],
    denied: frozenset[str] = frozenset(),
    registrars: frozenset[str] = frozenset(),
) -> frozenset[str]:
    """Return the categories ``holder_org`` may disclose to ``caller_org``, or refuse.

    Contract section 4, in order: the authenticated caller is the token's ``grantee``
    (``GranteeMismatch``); the holder is in its audience (``WrongAudience``); its issuer is
    the holder, the grantee, or one of the holder's configured consent ``registrars``
    (``IssuerNotParty``: a node issues only for exchanges it is a party to); the
    request's subject is the token's (``SubjectMismatch``) and so is its purpose
    (``PurposeMismatch``); the requested categories are non-empty and unique
    (``InvalidRequest``) and a SUBSET of the consented ones (``CategoryNotConsented``;
    joserfc's ``values`` option means "any of" and must not be used for this), none of
    them withheld by an objection recorded here (``denied``, from
    ``consent.rules.denied_categories``; ``CategoryNotConsented``), and each allowed for
    the purpose by ``matrix`` (purpose -> categories, from ``profiles/``;
    ``NotShareable``). The issuer's consent status and whether the subject is known are
    checked by the caller (module docstring).
    """
    if not isinstance(verified, VerifiedConsent):
        raise TypeError("check() accepts only a VerifiedConsent")
    if caller_org != verified.grantee:
        raise GranteeMismatch()
    if holder_org not in verified.audience:
        raise WrongAudience()
    if verified.issuer not in (holder_org, verified.grantee) and verified.issuer not in registrars:
        raise IssuerNotParty()
    if subject_bsn != verified.subject_bsn:
        raise SubjectMismatch()
    if purpose != verified.purpose:
        raise PurposeMismatch()

    # A bare str is a Sequence[str] of its characters: refuse it rather than read "s".
    if isinstance(categories, str) or not categories:
        raise InvalidRequest("Vraag om ten minste één categorie.")
    if not all(isinstance(c, str) and c for c in categories):
        raise InvalidRequest("Een categorie is geen tekst.")
    requested = frozenset(categories)
    if len(requested) != len(categories):
        raise InvalidRequest("Een categorie is dubbel gevraagd.")

    outside = sorted(requested - verified.categories)
    if outside:
        raise CategoryNotConsented(f"Buiten de toestemming gevraagd: {', '.join(outside)}.")
    objected = sorted(requested & denied)
    if objected:
        raise CategoryNotConsented(f"Er is bezwaar gemaakt tegen het delen van: {', '.join(objected)}.")
    allowed = matrix.get(purpose, frozenset())
    barred = sorted(requested - allowed)
    if barred:
        raise NotShareable(f"Voor doel {purpose!r} mogen niet worden gedeeld: {', '.join(barred)}.")
    return requested
