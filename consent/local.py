"""A consent recorded at the holder itself, vouched for without a token (contract section 4).

Beside ``consent.token.verify`` the one other maker of a ``VerifiedConsent``. It lives
apart from ``consent.model`` because it applies ``consent.rules``, which read the model's
values: the model stays plain data that imports no rules.
"""

from __future__ import annotations

from consent import rules
from consent.model import _VERIFIER_SEAL, Grant, VerifiedConsent
from contract.errors import ConsentRevoked, GranteeMismatch, InvalidRequest, WrongAudience


def vouch(grant: Grant, grantee: str, holder: str, now: int) -> VerifiedConsent:
    """Vouch for a consent recorded at the holder itself, honoured at ``now``.

    Contract section 4 without the token: the holder is the issuer and among the
    grant's holders, the grantee among its recipients, and the grant honoured today
    (``consent.rules.honoured``). The grantors were checked when it was recorded.
    Raises ``InvalidRequest`` (not recorded here), ``GranteeMismatch``,
    ``WrongAudience`` or ``ConsentRevoked`` (inactive, objection, outside its
    period, or given by parents alone for a subject now 16 or over).
    """
    if grant.issuer != holder:
        raise InvalidRequest("Deze toestemming is niet hier vastgelegd; een toestemmingstoken is nodig.")
    if grantee not in grant.recipients:
        raise GranteeMismatch("De aanvrager is geen ontvanger in deze toestemming.")
    if holder not in grant.holders:
        raise WrongAudience("Deze organisatie is geen bronhouder in deze toestemming.")
    reason = rules.why_not_honoured(grant, rules.day_of(now))
    if reason is not None:
        raise ConsentRevoked(reason)
    return VerifiedConsent(
        issuer=grant.issuer,
        subject_bsn=grant.subject.bsn,
        audience=tuple(sorted(grant.holders)),
        grantee=grantee,
        purpose=grant.purpose,
        categories=grant.categories,
        consent_id=grant.id,
        iat=now,
        nbf=now,
        exp=now,
        jti="",
        kid="",
        _seal=_VERIFIER_SEAL,
    )
