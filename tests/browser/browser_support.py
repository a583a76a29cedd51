"""What the browser tests and their fixtures share: test users, the password, the skip rule."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "test-" + secrets.token_hex(8)


def unavailable(reason: str) -> None:
    """Skip locally; under CI a missing browser or IdP is a failure, not a skip."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass(frozen=True)
class User:
    username: str
    name: str
    roles: tuple[str, ...]
    practitioner_id: str = ""


PROFESSIONAL = User("pien.professional", "Pien de Wit", ("professional",), "uzi:900000303")
PRIVACY_OFFICER = User("piet.privacy", "Piet Privacy", ("privacy-officer",))
NO_ROLE = User("nora.norole", "Nora Zonderrol", ("receptionist",))
USERS = (PROFESSIONAL, PRIVACY_OFFICER, NO_ROLE)
