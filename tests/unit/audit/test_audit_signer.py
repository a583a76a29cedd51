"""Checkpoint signatures: strict, fast, and in agreement with joserfc."""

from __future__ import annotations

import base64
import json

import pytest
from audit_builders import INTRUDER_KEY, KEY, SIGN, VERIFY
from joserfc import jws
from joserfc.jwk import ECKey, KeySet, OKPKey

from audit.chain import CHECKPOINT_TYP, GENESIS, checkpoint_claims
from audit.signer import CheckpointSignatureError, make_signer, make_verifier

CLAIMS = checkpoint_claims(100, GENESIS, kind="checkpoint", at="2026-03-02T08:00:00.000Z")


def b64(data: dict[str, object] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_round_trip_and_joserfc_agrees() -> None:
    token = SIGN(CLAIMS)
    assert VERIFY(token) == CLAIMS
    checked = jws.deserialize_compact(token, KEY, algorithms=["ES256"])
    assert checked.headers()["typ"] == CHECKPOINT_TYP
    assert json.loads(checked.payload) == CLAIMS


def test_ed25519_keys_sign_and_verify() -> None:
    key = OKPKey.generate_key("Ed25519")
    token = make_signer(key)(CLAIMS)
    assert make_verifier(key)(token) == CLAIMS
    assert jws.deserialize_compact(token, key, algorithms=["Ed25519"]).payload


def test_retired_keys_still_verify_old_checkpoints() -> None:
    verify = make_verifier(KeySet([INTRUDER_KEY, KEY]))
    assert verify(SIGN(CLAIMS)) == CLAIMS


def test_another_key_is_refused() -> None:
    with pytest.raises(CheckpointSignatureError):
        VERIFY(make_signer(INTRUDER_KEY)(CLAIMS))


def test_tampered_payload_is_refused() -> None:
    header, _, signature = SIGN(CLAIMS).split(".")
    changed = b64({**CLAIMS, "seq": 200})
    with pytest.raises(CheckpointSignatureError):
        VERIFY(f"{header}.{changed}.{signature}")


def test_other_token_types_are_refused() -> None:
    header = {"alg": "ES256", "typ": "consent+jwt", "kid": KEY.thumbprint()}
    token = jws.serialize_compact(header, json.dumps(CLAIMS).encode(), KEY, algorithms=["ES256"])
    with pytest.raises(CheckpointSignatureError, match="typ"):
        VERIFY(token)


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "none", "typ": CHECKPOINT_TYP},
        {"alg": "HS256", "typ": CHECKPOINT_TYP, "kid": KEY.thumbprint()},
        {"alg": "ES256", "typ": CHECKPOINT_TYP, "kid": KEY.thumbprint(), "jwk": {"kty": "EC"}},
        {"alg": "ES256", "typ": CHECKPOINT_TYP, "kid": ["list"]},
        {"alg": "ES256", "typ": CHECKPOINT_TYP},
    ],
)
def test_unsafe_headers_are_refused(header: dict[str, object]) -> None:
    token = f"{b64(header)}.{b64(CLAIMS)}.{b64(b'x' * 64)}"
    with pytest.raises(CheckpointSignatureError):
        VERIFY(token)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"seq":1,"seq":2}',
        b'{"seq":NaN}',
        b"[1]",
        b"\xff",
    ],
)
def test_payload_is_read_as_i_json(payload: bytes) -> None:
    header = {"alg": "ES256", "typ": CHECKPOINT_TYP, "kid": KEY.thumbprint()}
    token = jws.serialize_compact(header, payload, KEY, algorithms=["ES256"])
    with pytest.raises(CheckpointSignatureError):
        VERIFY(token)


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "!!.e30.e30", 42])
def test_garbage_is_refused(token: object) -> None:
    with pytest.raises(CheckpointSignatureError):
        VERIFY(token)  # type: ignore[arg-type]


def test_only_p256_and_ed25519_keys() -> None:
    with pytest.raises(ValueError):
        make_signer(ECKey.generate_key("P-384"))
    with pytest.raises(ValueError):
        make_verifier(ECKey.generate_key("P-384"))
