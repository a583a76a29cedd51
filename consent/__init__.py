"""Consent domain: who may consent, the consent token, and the holder's decision.

Pure Python (no Flask, HTTP or SQLAlchemy). Contract sections 4 and 6. The two calls on
the disclosure path are named by their module: ``token.verify`` then ``decision.check``.
"""

from consent import decision, local, token
from consent.model import Grant, Party, Subject, VerifiedConsent, valid_bsn
from consent.rules import (
    age_on,
    check_grantors,
    denied_categories,
    effective_decision,
    honoured,
    renewal_reasons,
    required_grantors,
)
from contract import jwt
from contract.errors import GatewayError
from contract.jwt import ALGORITHMS, LEEWAY

__all__ = [
    "ALGORITHMS",
    "LEEWAY",
    "GatewayError",
    "Grant",
    "Party",
    "Subject",
    "VerifiedConsent",
    "age_on",
    "check_grantors",
    "decision",
    "denied_categories",
    "effective_decision",
    "honoured",
    "jwt",
    "local",
    "renewal_reasons",
    "required_grantors",
    "token",
    "valid_bsn",
]
