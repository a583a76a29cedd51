"""A rotation loaded while requests sign and publish: readers keep working on the old ring or
the new one. The ring is swapped as one snapshot, so a reader cannot pair the new active kid
with the old entry list; that window is a few bytecodes wide and this test does not pretend to
hit it on demand. It checks what a node under rotation needs: no error, the new key signs."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from gateway.keys import KeyRing


def test_signing_and_publishing_during_rotations_never_see_half_a_ring(tmp_path: Path) -> None:
    ring = KeyRing.create(tmp_path, "ES256")
    rotator = KeyRing(tmp_path)  # the CLI: another ring object on the same files
    done = threading.Event()
    errors: list[BaseException] = []
    seen: set[str] = set()

    def sign_and_publish() -> None:
        while not done.is_set():
            try:
                kid, _alg, key = ring.active
                assert key.thumbprint() == kid
                assert kid in {k["kid"] for k in ring.jwks()["keys"]}
                seen.add(kid)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows
    try:
        readers = [threading.Thread(target=sign_and_publish) for _ in range(4)]
        for r in readers:
            r.start()
        kids = [rotator.rotate() for _ in range(20)]
        done.set()
        for r in readers:
            r.join(30)
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    assert ring.active[0] == kids[-1]
    assert len(seen) > 1  # the readers did meet rotations


def test_a_withdrawn_key_leaves_the_jwks_at_once_but_still_verifies_own_checkpoints(tmp_path: Path) -> None:
    ring = KeyRing.create(tmp_path, "ES256")
    first = ring.thumbprint()
    second = ring.rotate()  # an ordinary rotation: the first key stays published for its window
    third = ring.rotate(withdraw_old=True)  # the second key may have leaked: both old ones go
    assert [k["kid"] for k in ring.jwks()["keys"]] == [third]
    assert {k.kid for k in ring.verification_set()} == {first, second, third}
    assert [k["kid"] for k in KeyRing(tmp_path).jwks()["keys"]] == [third]  # as the file says


def test_a_key_ring_written_before_withdrawal_existed_still_loads(tmp_path: Path) -> None:
    ring = KeyRing.create(tmp_path, "ES256")
    old = ring.thumbprint()
    new = ring.rotate()
    index = tmp_path / "keys" / "keyring.json"
    raw = json.loads(index.read_text())
    for entry in raw["keys"]:
        del entry["withdrawn"]
    index.write_text(json.dumps(raw))
    assert {k["kid"] for k in KeyRing(tmp_path).jwks()["keys"]} == {old, new}
