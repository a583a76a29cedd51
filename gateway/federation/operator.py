"""The federation operator's home: its key, the member list and what it last published.

Contract section 1 (``gateway federation operator-init / add-member / remove-member /
publish``) and section 7. The home is a directory, owner-only:

- ``operator-key.pem``: the operator's private signing key (mode 0600, refused otherwise);
- ``operator.json``: the federation id and name, the members, and the last published version.

``publish`` writes a signed list to a file that any static web server can host; it never
needs the operator to be online for nodes to keep working until the list's valid-until.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey

from contract.errors import GatewayError, InvalidRequest
from gateway.federation import memberlist as fedlist
from gateway.federation.memberlist import ListedMember
from gateway.trust.partners import PartnerKeyMismatch, fetch_jwks

KEY_FILE = "operator-key.pem"
STATE_FILE = "operator.json"


class OperatorError(GatewayError):
    """The operator home is missing, damaged or unsafe, or the input is wrong (exit 2)."""

    code = "operator-error"
    message_nl = "De beheeromgeving van de federatie is niet bruikbaar."


def _write(path: Path, text: str, mode: int) -> None:
    """Write atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def init(home: str | Path, federation_id: str, name: str) -> str:
    """Create an operator home; return the key's RFC 7638 thumbprint. Refuses an existing one."""
    path = Path(home).resolve()
    if (path / STATE_FILE).exists() or (path / KEY_FILE).exists():
        raise OperatorError(f"{path} holds an operator already; refusing to overwrite it")
    if not fedlist.FHIR_ID.fullmatch(federation_id):
        raise OperatorError(f"--id {federation_id!r}: use 1-64 chars A-Z a-z 0-9 - .")
    if not fedlist.NAME.fullmatch(name):
        raise OperatorError("--name must be 2-200 printable characters")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ECKey.generate_key("P-256", private=True)
    fd = os.open(path / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.as_pem(private=True))
    _save(
        path,
        {"id": federation_id, "name": name, "kid": key.thumbprint(), "version": 0, "published_at": None, "members": {}},
    )
    return key.thumbprint()


def load(home: str | Path) -> dict[str, Any]:
    path = Path(home).resolve()
    try:
        state = json.loads((path / STATE_FILE).read_text("utf-8"))
    except FileNotFoundError:
        raise OperatorError(
            f"no operator here: {path / STATE_FILE} does not exist (run 'gateway federation operator-init' first)"
        ) from None
    except ValueError:
        raise OperatorError(f"{path / STATE_FILE} is damaged; restore it from backup") from None
    if not isinstance(state, dict) or not isinstance(state.get("members"), dict):
        raise OperatorError(f"{path / STATE_FILE} is damaged; restore it from backup")
    return state


def _save(path: Path, state: dict[str, Any]) -> None:
    _write(path / STATE_FILE, json.dumps(state, indent=2, ensure_ascii=False, sort_keys=True) + "\n", 0o600)


def _key(path: Path) -> ECKey:
    key_file = path / KEY_FILE
    if key_file.stat().st_mode & 0o077:
        raise OperatorError(f"{key_file} is readable by others; chmod 600 it")
    return ECKey.import_key(key_file.read_bytes())


def members(state: dict[str, Any]) -> list[ListedMember]:
    return [
        ListedMember(**{**m, "thumbprints": tuple(m["thumbprints"]), "contact": tuple(m["contact"])})
        for _id, m in sorted(state["members"].items())
    ]


def add_member(
    home: str | Path, member: ListedMember, http: Any, thumbprint: str | None = None
) -> tuple[ListedMember, bool]:
    """Fetch the member's JWKS, list its keys' thumbprints, save; return (member, was it new).

    Running it again for a listed member refreshes its entry (after a key rotation, say).
    Raises ``OperatorError`` for bad input, ``PartnerKeyMismatch`` when ``thumbprint`` matches
    none of its keys, ``PartnerUnavailable`` when its JWKS cannot be fetched; nothing changes then.
    """
    path = Path(home).resolve()
    state = load(path)
    if member.org_id == state["id"]:
        raise OperatorError("a member's org id cannot be the federation id")
    try:
        fedlist.check_member(ListedMember(**{**asdict(member), "thumbprints": ("x" * 43,)}))
    except fedlist.ListRefused as exc:
        raise OperatorError(exc.detail) from None
    keys = fetch_jwks(http, member.url)
    kids = tuple(sorted(k.thumbprint() for k in keys))
    if thumbprint and thumbprint not in kids:
        raise PartnerKeyMismatch(f"no key of {member.url} has thumbprint {thumbprint}")
    member = ListedMember(**{**asdict(member), "thumbprints": kids})
    fedlist.check_member(member)
    new = member.org_id not in state["members"]
    state["members"][member.org_id] = {**asdict(member), "thumbprints": list(kids), "contact": list(member.contact)}
    _save(path, state)
    return member, new


def remove_member(home: str | Path, org_id: str) -> bool:
    path = Path(home).resolve()
    state = load(path)
    if state["members"].pop(org_id, None) is None:
        return False
    _save(path, state)
    return True


def publish(
    home: str | Path, out: str | Path, *, now: datetime, valid_days: int = 7, valid_for: timedelta | None = None
) -> tuple[int, int]:
    """Sign the list as it stands into ``out``, one version up; return (version, member count).

    ``valid_for`` (tests, drills) overrides ``valid_days``."""
    if valid_for is None and not 1 <= valid_days <= 366:
        raise InvalidRequest("--valid-days must be 1 to 366")
    path = Path(home).resolve()
    state = load(path)
    key = _key(path)
    version = int(state["version"]) + 1
    listed = members(state)
    bundle = fedlist.build(
        state["id"], version, listed, now=now, valid_until=now + (valid_for or timedelta(days=valid_days))
    )
    signed = fedlist.sign(bundle, key, now=now)
    target = Path(out).resolve()
    # public, for any static web server: the list holds no secret
    _write(target, json.dumps(signed, ensure_ascii=False, separators=(",", ":")), 0o644)
    state["version"], state["published_at"] = version, now.isoformat(timespec="seconds")
    _save(path, state)
    return version, len(listed)
