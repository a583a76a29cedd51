"""Builders for consent tests: families, grants, keys and hand-made tokens.

Named ``consent_builders`` (not ``builders``) because tests/unit has no ``__init__.py``
and pytest puts each test directory on ``sys.path``: module names must be unique.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.jwk import ECKey, KeySet, OKPKey

from consent.model import Grant, Party, Subject

TODAY = datetime.date(2025, 6, 15)
NOW = int(datetime.datetime(2025, 6, 15, 10, 0, tzinfo=datetime.UTC).timestamp())

YOUTH_CARE = "org:jeugdzorg-utrecht"  # records the consent, issues the token
MENTAL_HEALTH = "org:ggz-centraal"  # holds the parent's records
SAFE_HOME = "org:veilig-thuis"
CERTIFIED_INSTITUTION = "org:william-schrikker-stichting"


def bsn(seed: int) -> str:
    """Return the first valid BSN at or after the 8-digit ``seed`` (eleven-test)."""
    while True:
        head = f"{seed:08d}"
        total = sum(w * int(d) for w, d in zip(range(9, 1, -1), head, strict=True))
        check = total % 11
        if check < 10:
            return head + str(check)
        seed += 1


CHILD = bsn(11122233)
MOTHER = bsn(22233344)
FATHER = bsn(33344455)
VOOGD = bsn(44455566)
STRANGER = bsn(55566677)


def key(value: str) -> str:
    return f"bsn:{value}"


def a_child(born: datetime.date, bsn_: str = CHILD) -> Subject:
    return Subject(bsn_, born)


def born_years_before(years: int, day: datetime.date = TODAY, days: int = 0) -> datetime.date:
    """Birth date making someone exactly ``years`` old on ``day``, shifted by ``days``."""
    return day.replace(year=day.year - years) + datetime.timedelta(days=days)


def mother(custody: bool = True) -> Party:
    return Party(key(MOTHER), "parent", custody, "Anna de Vries")


def father(custody: bool = True) -> Party:
    return Party(key(FATHER), "parent", custody, "Pieter de Vries")


def a_family(custody: str = "joint") -> list[Party]:
    """Custody holders and other parents: joint, split, single, voogd, institution, none."""
    return {
        "joint": [mother(), father()],
        "split": [mother(), father(custody=False)],
        "single": [mother()],
        "voogd": [Party(key(VOOGD), "guardian", True, "Jan Voogd")],
        "institution": [Party(CERTIFIED_INSTITUTION, "institution", True, "WSS")],
        "none": [],
    }[custody]


def a_grant(
    subject: Subject | None = None,
    grantors: Iterable[str] = (),
    **overrides: Any,
) -> Grant:
    """A permit from youth care to share a parent's data at the mental-health holder."""
    values: dict[str, Any] = {
        "id": "consent-1",
        "subject": subject or Subject(MOTHER, datetime.date(1985, 4, 2)),
        "grantors": frozenset(grantors) or frozenset({key(MOTHER)}),
        "refusals": frozenset(),
        "consulted": frozenset(),
        "recipients": frozenset({YOUTH_CARE}),
        "holders": frozenset({MENTAL_HEALTH}),
        "purpose": "joint-safety-planning",
        "categories": frozenset({"signals", "safety-plan", "care-team"}),
        "start": datetime.date(2025, 1, 1),
        "end": None,
        "decision": "permit",
        "status": "active",
        "issuer": YOUTH_CARE,
    }
    values.update(overrides)
    return Grant(**values)


# --- keys and hand-made tokens -------------------------------------------------------


def an_ec_key(kid: str = "yc-2025") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid})


def an_ed_key(kid: str = "yc-ed-2025") -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid})


def public_set(*keys: ECKey | OKPKey) -> KeySet:
    """The JWKS a partner would publish and we would pin: public members only."""
    return KeySet.import_key_set({"keys": [k.as_dict(private=False) for k in keys]})


def b64(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json(value: dict[str, Any] | str) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def hand_sign(header: dict[str, Any] | str, payload: dict[str, Any] | str, jwk: ECKey | OKPKey) -> str:
    """Sign raw header/payload text with ``cryptography`` directly, bypassing our code.

    Lets a test build tokens our ``sign`` would never produce (duplicate keys, odd
    headers, ``exp: true``) yet carry a valid signature by the issuer's real key.
    """
    signing_input = f"{b64(_json(header))}.{b64(_json(payload))}".encode("ascii")
    private = jwk.private_key
    if isinstance(private, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif isinstance(private, Ed25519PrivateKey):
        signature = private.sign(signing_input)
    else:  # pragma: no cover - builders only make the two key types above
        raise TypeError(type(private))
    return f"{signing_input.decode('ascii')}.{b64(signature)}"


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid consent-token claims, as ``issue`` would write them for ``a_grant()``."""
    values: dict[str, Any] = {
        "iss": YOUTH_CARE,
        "sub": MOTHER,
        "aud": [MENTAL_HEALTH],
        "grantee": YOUTH_CARE,
        "purpose": "joint-safety-planning",
        "categories": ["care-team", "safety-plan", "signals"],
        "consent": "consent-1",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 3600,
        "jti": "5f1c2d",
    }
    values.update(overrides)
    return values
