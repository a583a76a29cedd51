"""The one strict JWS kernel: parse, verify and sign compact and detached JWS (RFC 7515).

Consent tokens, client assertions and access tokens (``contract.jwt``), signed summaries
and federation lists (``gateway.trust.signing``, RFC 7515 appendix F) and audit
checkpoints (``audit.signer``) all pass through here, so the rules hold in one place
(SECURITY.md; RFC 8725; STYLE habit 10):

* the JWS is parsed once: size cap, ASCII, three canonical unpadded base64url segments
  (RFC 7515 section 2, RFC 4648 section 3.5), a protected header of at most
  ``MAX_HEADER_LENGTH`` bytes parsed as I-JSON (duplicate keys refused, RFC 7493);
* an explicit algorithm allow-list checked *before* any cryptography, so ``none`` and
  HS256-keyed-with-a-public-key never reach a verifier (RFC 8725 sections 2.1, 3.1);
* no header that fetches or embeds a key (``jku``, ``x5u``, ``x5c``, ``jwk``) and no
  ``crit``: we understand no extension, so RFC 7515 section 4.1.11 says refuse; ``b64``
  (RFC 7797) and ``zip`` change how the payload is read and are refused with or without
  ``crit``;
* an exact ``typ`` per kind of JWS, so one kind is never taken for another (RFC 8725
  section 3.11);
* the key chosen through one ``keys_for(issuer, kid)`` callable and an exact ``kid``,
  never by trying every key; the key's type, curve, ``use``, ``alg`` and ``key_ops``
  must fit (RFC 7517 sections 4.2-4.4).

The signature is checked with ``cryptography`` directly (RFC 7518 section 3.4 for ES256,
RFC 8037 section 3.1 for Ed25519): everything joserfc's deserialiser would add is done
stricter here already, so it only cost time. joserfc signs (it also drives HSM keys).

joserfc 1.8 names Ed25519 signatures two ways: ``EdDSA`` (RFC 8037, which it marks
deprecated) and ``Ed25519`` (RFC 9864). The contract allows both.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jws as _joserfc_jws
from joserfc.errors import JoseError, UnsupportedAlgorithmError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import ECKey, Key, OKPKey
from joserfc.jws import JWSRegistry

from contract import ijson
from contract.errors import BadSignature, InvalidRequest

ALGORITHMS: tuple[str, ...] = ("ES256", "EdDSA", "Ed25519")
"""The only signature algorithms accepted or produced (contract section 4)."""

MAX_TOKEN_LENGTH = 16 * 1024
"""Longer compact JWS are refused before any parsing: ours are well under 2 KiB."""

MAX_HEADER_LENGTH = 512
"""Longer protected header segments are refused (joserfc's cap)."""

MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
"""What we sign at most: joserfc refuses more than 128,000 bytes, detached too (SECURITY.md)."""

FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "x5c", "jwk", "crit", "b64", "zip"})
"""Headers that fetch or embed keys, name extensions, or change how the payload is read."""

_STRING_HEADERS = ("kid", "typ", "cty", "x5t", "x5t#S256")
"""Registered headers that must be strings if present (RFC 7515 section 4.1)."""

_SIGNATURE_BYTES = 64
"""ES256: R and S of 32 bytes each (RFC 7518 section 3.4); Ed25519: 64 bytes (RFC 8032)."""

_KEY_FOR_ALG: dict[str, tuple[str, str]] = {
    "ES256": ("EC", "P-256"),
    "EdDSA": ("OKP", "Ed25519"),  # EdDSA would also take Ed448: the contract does not
    "Ed25519": ("OKP", "Ed25519"),
}
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
# The last character of a canonical base64url segment of length 4n+2 / 4n+3 leaves its
# unused low bits zero (RFC 4648 section 3.5); joserfc refuses the others, and so do we.
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_DETACHED = re.compile(r"[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+")

KeysFor = Callable[[str, str], Iterable[Key] | None]
"""``keys_for(issuer, kid)``: the pinned keys of ``issuer`` that may carry ``kid``, or None."""

ErrorType = type[Exception]
"""The exception class every refusal raises, built from one Dutch detail text."""


@dataclass(frozen=True, slots=True)
class Rules:
    """What one kind of JWS must look like, beyond what every JWS here must.

    ``typ``: the exact header ``typ``; None means "absent or ``JOSE``" (RFC 7515 section
    4.1.9), as for signed Bundles. ``members``: when given, the only header members
    allowed. ``error``: the exception every refusal raises, built from a Dutch detail.
    """

    typ: str | None
    error: ErrorType = BadSignature
    algorithms: tuple[str, ...] = ALGORITHMS
    members: frozenset[str] | None = None
    max_length: int = MAX_TOKEN_LENGTH

    def __post_init__(self) -> None:
        if not set(self.algorithms) <= set(ALGORITHMS) or not self.algorithms:
            raise ValueError(f"algorithms must be a non-empty subset of {ALGORITHMS}")


@dataclass(frozen=True, slots=True)
class Parsed:
    """A JWS whose shape and header passed ``parse``: NOT verified yet.

    ``payload_segment`` is empty for a detached JWS (RFC 7515 appendix F).
    """

    header: dict[str, Any]
    header_segment: str
    payload_segment: str
    signature: bytes

    @property
    def alg(self) -> str:
        return str(self.header["alg"])

    @property
    def kid(self) -> str:
        return str(self.header["kid"])

    def payload(self) -> bytes:
        """The decoded payload segment (empty for a detached JWS)."""
        return _b64decode(self.payload_segment)


# --- parsing -----------------------------------------------------------------------------


def parse(token: object, rules: Rules, *, detached: bool = False) -> Parsed:
    """Parse a compact (or, with ``detached``, an appendix-F detached) JWS and check its header.

    RFC 7515 section 5.2 steps 1-4 with RFC 8725: shape, canonical base64url, I-JSON
    header, ``alg`` in ``rules.algorithms``, no forbidden or (with ``rules.members``)
    unlisted members, string-typed registered headers, the ``typ`` of ``rules``, a
    non-empty ``kid``. Nothing is verified yet. Raises ``rules.error``.
    """
    error = rules.error
    if not isinstance(token, str) or not token.isascii():
        raise error("Het token is geen JWS compact-serialisatie.")
    if len(token) > rules.max_length:
        raise error("Het token is te groot.")
    if not (_DETACHED if detached else _COMPACT).fullmatch(token):
        raise error(
            "Het token bestaat niet uit drie base64url-delen."
            if not detached
            else "De handtekening is geen JWS met losgekoppelde inhoud."
        )
    header_segment, payload_segment, signature_segment = token.split(".")
    if len(header_segment) > MAX_HEADER_LENGTH:
        raise error("De header van het token is te groot.")
    if not all(_canonical(s) for s in (header_segment, payload_segment, signature_segment)):
        raise error("Het token is geen canonieke base64url.")
    header = _parsed_header(header_segment, error)
    _check_header(header, rules)
    return Parsed(header, header_segment, payload_segment, _b64decode(signature_segment))


def peek_header(token: object, *, error: ErrorType = BadSignature) -> dict[str, Any]:
    """Read a compact JWS's protected header WITHOUT checking or verifying it.

    Only to choose or report something (a ``kid``); nothing read here may be trusted.
    Raises ``error`` for a token not shaped as a JWS or a header that is not an I-JSON object.
    """
    if not isinstance(token, str) or not token.isascii():
        raise error("Het token is geen JWS compact-serialisatie.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise error("Het token is te groot.")
    if not (_COMPACT.fullmatch(token) or _DETACHED.fullmatch(token)):
        raise error("Het token bestaat niet uit drie base64url-delen.")
    return json_object(b64decode(token.split(".", 1)[0], error), error, "header")


def json_object(raw: bytes, error: ErrorType, what: str) -> dict[str, Any]:
    """Parse ``raw`` as an I-JSON object (``contract.ijson``); raise ``error`` otherwise."""
    value = ijson.loads(raw, error=error)
    if not isinstance(value, dict):
        raise error(f"De {what} van het token is geen JSON-object.")
    return value


def _check_header(header: dict[str, Any], rules: Rules) -> None:
    error = rules.error
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in rules.algorithms:
        raise error(f"Algoritme niet toegestaan: {alg!r}.")
    if not FORBIDDEN_HEADERS.isdisjoint(header):
        raise error(f"Header niet toegestaan: {', '.join(sorted(FORBIDDEN_HEADERS & header.keys()))}.")
    if rules.members is not None and not rules.members.issuperset(header):
        raise error(f"Header niet toegestaan: {', '.join(sorted(header.keys() - rules.members))}.")
    typ = header.get("typ")
    if rules.typ is None and typ not in (None, "JOSE"):
        raise error(f"Verkeerd tokentype: {typ!r}, verwacht 'JOSE'.")
    if rules.typ is not None and typ != rules.typ:
        raise error(f"Verkeerd tokentype: {typ!r}, verwacht {rules.typ!r}.")
    for name in _STRING_HEADERS:
        if name in header and not isinstance(header[name], str):
            raise error(f"Header {name!r} is geen tekst.")
    if not header.get("kid"):
        raise error("Het token noemt geen sleutel (kid).")


def _parsed_header(segment: str, error: ErrorType) -> dict[str, Any]:
    """Return a fresh dict of the strictly parsed header segment; raise ``error`` if it fails."""
    items = _flat_header(segment)
    if items is not None:
        return dict(items)
    return json_object(_b64decode(segment), error, "header")


@functools.lru_cache(maxsize=256)
def _flat_header(segment: str) -> tuple[tuple[str, str], ...] | None:
    """The members of a strictly parsed header whose values are all strings, else None.

    A signer's JWS all carry the same {alg, kid, typ}, and its strict parse costs a
    twentieth of a verification, so it is remembered by its exact text. Immutable items,
    so nothing a caller does to a header can reach the next JWS; no personal data (a
    header names an algorithm, a key and a type). A header that does not parse or is not
    flat gives None, and ``_parsed_header`` parses it again to say why.
    """
    try:
        header = json_object(_b64decode(segment), InvalidRequest, "header")
    except InvalidRequest:
        return None
    if not all(isinstance(value, str) for value in header.values()):
        return None
    return tuple(header.items())


def _canonical(segment: str) -> bool:
    """Tell whether a segment matched by the shape is canonical unpadded base64url."""
    rest = len(segment) % 4
    return rest == 0 or (rest != 1 and segment[-1] in _CANONICAL_LAST[rest])


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64decode(segment: str, error: ErrorType = BadSignature) -> bytes:
    """Decode canonical unpadded base64url; raise ``error`` for anything else."""
    if not isinstance(segment, str) or not _SEGMENT.fullmatch(segment) or not _canonical(segment):
        raise error("Het token is geen canonieke base64url.")
    return _b64decode(segment)


def b64encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# --- keys and signatures -------------------------------------------------------------------


def key_fits(key: Key, alg: str) -> bool:
    """Tell whether ``key`` is the key type and curve that ``alg`` requires here."""
    wanted = _KEY_FOR_ALG.get(alg)
    if wanted is None or not isinstance(key, (ECKey, OKPKey)):
        return False
    return (key.key_type, key.curve_name) == wanted


def pick_key(parsed: Parsed, keys: Iterable[Key], rules: Rules) -> Key:
    """The one key of ``keys`` whose ``kid`` is the header's and that may verify its ``alg``.

    Never guesses: no key or several with that ``kid`` are refused. Raises ``rules.error``.
    """
    error, alg = rules.error, parsed.alg
    matches = [key for key in keys if key.kid == parsed.kid]
    if len(matches) != 1:
        # None: unknown key. Several: ambiguous pinning; never guess between them.
        raise error("De sleutel (kid) van het token is niet bekend bij deze uitgever.")
    key = matches[0]
    if not key_fits(key, alg):
        raise error(f"De sleutel (kid) past niet bij algoritme {alg}.")
    # RFC 7517 sections 4.2-4.4: a key published for another use, another algorithm or
    # without the verify operation does not verify.
    use, key_alg, key_ops = key.get("use"), key.get("alg"), key.get("key_ops")
    if (use and use != "sig") or (key_alg and key_alg != alg) or (key_ops is not None and "verify" not in key_ops):
        raise error(f"De sleutel (kid) is niet gepubliceerd voor ondertekening met {alg}.")
    return key


def check_signature(parsed: Parsed, key: Key, rules: Rules, *, payload: bytes | None = None) -> None:
    """Check the signature over the header and the payload (RFC 7515 section 5.2 step 8).

    ``payload`` is the detached payload (appendix F); for a compact JWS leave it None.
    Raises ``rules.error`` when it does not verify.
    """
    if (payload is None) == (not parsed.payload_segment):
        raise rules.error("De handtekening is geen JWS met losgekoppelde inhoud.")
    body = parsed.payload_segment if payload is None else b64encode(payload)
    signing_input = f"{parsed.header_segment}.{body}".encode("ascii")
    if not verify_signature(key, parsed.alg, signing_input, parsed.signature):
        raise rules.error("De handtekening van het token klopt niet.")


def verify(
    token: object, keys_for: KeysFor, rules: Rules, *, issuer: str, detached_payload: bytes | None = None
) -> Parsed:
    """Parse ``token``, pick ``issuer``'s key by its ``kid`` and check the signature.

    For a detached JWS pass its payload as ``detached_payload``. Returns the verified
    ``Parsed``. Raises ``rules.error`` for any refusal, including an issuer without keys.
    """
    parsed = parse(token, rules, detached=detached_payload is not None)
    keys = keys_for(issuer, parsed.kid)
    if keys is None:
        raise rules.error("De uitgever van het token is geen vertrouwde partner.")
    key = pick_key(parsed, keys, rules)
    check_signature(parsed, key, rules, payload=detached_payload)
    return parsed


def verify_signature(key: Key, alg: str, signing_input: bytes, signature: bytes) -> bool:
    """Tell whether ``signature`` over ``signing_input`` verifies with ``key`` under ``alg``.

    False for an ``alg`` outside ``ALGORITHMS``, a key that does not fit it, or a
    signature of the wrong length.
    """
    if not key_fits(key, alg):
        return False
    return _raw_verify(key.public_key, signing_input, signature)


def _raw_verify(public: Any, signing_input: bytes, signature: bytes) -> bool:
    """The curve operation: EC P-256 takes R||S (32 bytes each, DER for ``cryptography``)."""
    if len(signature) != _SIGNATURE_BYTES:
        return False
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            public.verify(der, signing_input, _ECDSA_SHA256)
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, signing_input)
        else:
            return False
    except InvalidSignature:
        return False
    return True


# --- signing -------------------------------------------------------------------------------


class _OneAlgorithm(JWSRegistry):
    """A joserfc registry that allows exactly the algorithm we already checked.

    joserfc's own ``get_alg`` warns on ``EdDSA``; silencing that with
    ``warnings.catch_warnings`` would not be thread-safe, so the allow-list is applied
    here instead. Payloads may be as large as ``MAX_PAYLOAD_BYTES``.
    """

    max_payload_length = MAX_PAYLOAD_BYTES

    def get_alg(self, name: str) -> JWSAlgModel:
        if not self.allowed or name not in self.allowed or name not in self.algorithms:
            raise UnsupportedAlgorithmError(f"Algorithm '{name}' is not allowed")
        return self.algorithms[name]


def _registry(alg: str) -> JWSRegistry:
    return _OneAlgorithm(algorithms=[alg])


def sign(
    payload: bytes,
    key: Key,
    header: Mapping[str, str],
    *,
    detached: bool = False,
    algorithms: Collection[str] = ALGORITHMS,
) -> str:
    """Return a compact JWS of ``payload`` with exactly the protected ``header`` given.

    With ``detached`` the payload segment is left empty (RFC 7515 appendix F). The
    header must name an ``alg`` in ``algorithms`` that fits ``key``, a non-empty ``kid``,
    and nothing from ``FORBIDDEN_HEADERS``. Raises ``ValueError`` ("cannot sign: ...")
    otherwise, or when joserfc refuses.
    """
    alg = header.get("alg")
    if alg not in ALGORITHMS or alg not in algorithms or not key_fits(key, str(alg)):
        raise ValueError(f"cannot sign with alg {alg!r} and a {type(key).__name__}")
    if not header.get("kid") or ("typ" in header and not header["typ"]):
        raise ValueError("cannot sign: kid (and typ, when given) must be set")
    if not FORBIDDEN_HEADERS.isdisjoint(header):
        raise ValueError(f"cannot sign: header {sorted(FORBIDDEN_HEADERS & header.keys())} not allowed")
    try:
        compact = _joserfc_jws.serialize_compact(dict(header), payload, key, registry=_registry(str(alg)))
    except JoseError as exc:
        raise ValueError(f"cannot sign: {exc}") from exc
    if not detached:
        return compact
    head, _, signature = compact.split(".")
    return f"{head}..{signature}"
