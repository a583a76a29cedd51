"""Sign and verify audit checkpoints as compact JWS (RFC 7515) with the node key.

The chain takes ``sign(claims) -> str`` and ``verify(jws) -> claims`` callables; these
build them on the JWS kernel (``contract.jws``), so checkpoints obey the same rules as
every other JWS here (STYLE habit 10), narrowed for checkpoints: algorithms ``ES256`` and
``Ed25519`` only (the fully specified name RFC 9864 gives EdDSA over Ed25519), a header of
exactly ``alg``, ``typ`` and ``kid``, ``typ`` exactly ``audit-checkpoint+jwt`` (a consent or
access token is never taken for a checkpoint, RFC 8725 section 3.11), the key chosen by
``kid`` (its RFC 7638 thumbprint) among the keys we pass and never from the JWS itself,
and claims parsed as I-JSON (``contract.ijson``).

The kernel verifies with ``cryptography`` directly: a million-entry log holds ten thousand
checkpoints. Keep retired public keys in the verifier for as long as the log is kept: old
checkpoints stay signed by them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from joserfc.jwk import ECKey, Key, KeySet, OKPKey

from audit.chain import CHECKPOINT_TYP
from contract import jws

ALGORITHMS: tuple[str, ...] = ("ES256", "Ed25519")
MAX_CHECKPOINT_LENGTH = 4096


class CheckpointSignatureError(ValueError):
    """A checkpoint does not verify: bad signature, algorithm, type, key or header."""


RULES = jws.Rules(
    typ=CHECKPOINT_TYP,
    error=CheckpointSignatureError,
    algorithms=ALGORITHMS,
    members=frozenset({"alg", "typ", "kid"}),
    max_length=MAX_CHECKPOINT_LENGTH,
)


def _alg(key: Key) -> str:
    return "ES256" if isinstance(key, ECKey) else "Ed25519"


def make_signer(key: ECKey | OKPKey) -> Callable[[dict[str, Any]], str]:
    """Return ``sign(claims) -> compact JWS`` with ``key`` (EC P-256: ES256, Ed25519: Ed25519)."""
    alg = _alg(key)
    if not jws.key_fits(key, alg):
        raise ValueError("audit checkpoints are signed with an EC P-256 or Ed25519 key")
    header = {"alg": alg, "typ": CHECKPOINT_TYP, "kid": key.thumbprint()}

    def sign(claims: dict[str, Any]) -> str:
        payload = json.dumps(claims, separators=(",", ":"), sort_keys=True, allow_nan=False)
        return jws.sign(payload.encode("utf-8"), key, header, algorithms=ALGORITHMS)

    return sign


def make_verifier(
    keys: KeySet | ECKey | OKPKey | Iterable[ECKey | OKPKey],
) -> Callable[[str], dict[str, Any]]:
    """Return ``verify(jws) -> claims`` raising CheckpointSignatureError unless all rules hold.

    ``keys`` are the node's current and retired public keys; each is looked up by its
    RFC 7638 thumbprint, which the signer puts in ``kid``. Raises ``ValueError`` for a
    key that is not EC P-256 or Ed25519, or no key at all.
    """
    if isinstance(keys, (ECKey, OKPKey)):
        candidates: list[Any] = [keys]
    else:
        candidates = list(keys.keys if isinstance(keys, KeySet) else keys)
    table: dict[str, list[Key]] = {}
    for key in candidates:
        if not isinstance(key, (ECKey, OKPKey)) or not jws.key_fits(key, _alg(key)):
            raise ValueError("checkpoint keys must be EC P-256 or Ed25519")
        # only the public members, named by thumbprint: a published key's own alg
        # ("EdDSA") or kid must not decide how a checkpoint verifies
        public = {k: v for k, v in key.as_dict(private=False).items() if k in ("kty", "crv", "x", "y")}
        thumbprint = key.thumbprint()
        table[thumbprint] = [type(key).import_key(public, parameters={"kid": thumbprint})]
    if not table:
        raise ValueError("no checkpoint verification key")

    def keys_for(_issuer: str, kid: str) -> list[Key]:
        return table.get(kid, [])

    def verify(token: str) -> dict[str, Any]:
        parsed = jws.verify(token, keys_for, RULES, issuer="")
        return jws.json_object(parsed.payload(), CheckpointSignatureError, "inhoud")

    return verify
