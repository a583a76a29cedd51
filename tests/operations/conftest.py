"""Fixtures for the operations tests (issue 18): a SoftHSM2 token store made for the session.

SoftHSM2 reads ``SOFTHSM2_CONF`` when its library is first initialised in a process, so the
configuration and every token the tests use are made once, before any test loads it.
Each test that needs a token takes its own label from ``hsm_token``.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "4321"
TOKENS = 12  # labels gw-0 .. gw-11, more than the tests take


@dataclass(frozen=True)
class HsmToken:
    module: str
    label: str
    pin: str

    def toml(self) -> str:
        return f'backend = "pkcs11"\npkcs11_module = "{self.module}"\npkcs11_token = "{self.label}"\n'


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[itertools.count[int]]:
    """A SoftHSM2 configuration with TOKENS initialised tokens (Debian's softhsm2 package)."""
    if not Path(SOFTHSM_MODULE).is_file():
        pytest.fail("SoftHSM2 is not installed: run `make ops-deps` (apt-get install softhsm2)")
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    for i in range(TOKENS):
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", f"gw-{i}", "--so-pin", "87654321", "--pin", PIN],
            check=True,
            capture_output=True,
        )
    yield itertools.count()
    if old is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = old


@pytest.fixture
def hsm_token(softhsm: itertools.count[int], monkeypatch: pytest.MonkeyPatch) -> HsmToken:
    """A fresh, empty token for this test; its PIN is in the environment, as in production."""
    n = next(softhsm)
    assert n < TOKENS, "raise TOKENS in tests/operations/conftest.py"
    monkeypatch.setenv("GATEWAY_KEYS_PKCS11_PIN", PIN)
    return HsmToken(SOFTHSM_MODULE, f"gw-{n}", PIN)
