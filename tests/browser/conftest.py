"""Browser fixtures: a real OIDC provider, two real gateway nodes with their pages, and Chromium.

- ``idp``: panva's ``oidc-provider`` from npm (``tools/oidc-provider``), started with
  ``node`` on loopback with one client per node and four test users. Its packages are
  installed with ``npm ci`` here if ``.ci/run`` has not done so already.
- ``web_fed``: GGZ Noord and Jeugdteam West as in ``gateway demo`` (``gateway init``,
  ``gateway serve`` under gunicorn, pinned thumbprints, the synthetic family), each with
  ``[web]`` enabled and ``[oidc]`` pointing at ``idp``; the client secret only in the
  environment.
- ``browser``: Debian's Chromium (``/usr/bin/chromium``) driven headless by Playwright.

When Chromium, Node.js or the npm packages are missing, the tests skip locally and FAIL
under ``CI=true``: CI must prove the story, a laptop without a browser need not.
"""

from __future__ import annotations

import fcntl
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from browser_support import CHROMIUM, CHROMIUM_ARGS, PASSWORD, USERS, unavailable

from gateway.demo import runner as demo
from gateway.demo.loopback import RunningNode, free_port

ROOT = Path(__file__).resolve().parents[2]
OIDC_DIR = ROOT / "tools" / "oidc-provider"


@dataclass
class Idp:
    issuer: str
    process: subprocess.Popen[bytes]
    secrets: dict[str, str]  # client id -> secret
    log: Path


def _npm_ready() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        unavailable("Node.js and npm are needed for the OIDC provider (tools/oidc-provider)")
    # both browser modules may start at once on two xdist workers: one npm ci, the other waits
    with open(OIDC_DIR / ".install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if (OIDC_DIR / "node_modules" / "oidc-provider" / "package.json").is_file():
            return
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=OIDC_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if done.returncode != 0:
        unavailable(f"npm ci in tools/oidc-provider failed: {done.stderr.strip()[-500:]}")


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {"idp": free_port(), "ggz-noord": free_port(), "jeugdteam-west": free_port()}


@pytest.fixture(scope="module")
def idp(ports: dict[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    _npm_ready()
    root = tmp_path_factory.mktemp("idp")
    issuer = f"http://127.0.0.1:{ports['idp']}"
    client_secrets = {f"gateway-{org}": secrets.token_urlsafe(32) for org in ("ggz-noord", "jeugdteam-west")}
    cfg = {
        "port": ports["idp"],
        "issuer": issuer,
        "clients": [
            {
                "client_id": f"gateway-{org}",
                "client_secret": client_secrets[f"gateway-{org}"],
                "redirect_uris": [f"http://127.0.0.1:{ports[org]}/auth/callback"],
            }
            for org in ("ggz-noord", "jeugdteam-west")
        ],
        "users": [
            {
                "username": u.username,
                "password": PASSWORD,
                "name": u.name,
                "roles": list(u.roles),
                **({"practitioner_id": u.practitioner_id} if u.practitioner_id else {}),
            }
            for u in USERS
        ],
    }
    (root / "config.json").write_text(json.dumps(cfg))
    log = root / "idp.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["node", str(OIDC_DIR / "server.js"), str(root / "config.json")],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                unavailable(f"the OIDC provider exited: {log.read_text()[-1000:]}")
            try:
                if requests.get(issuer + "/.well-known/openid-configuration", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                unavailable("the OIDC provider did not start within 30 s")
            time.sleep(0.2)
        yield Idp(issuer, proc, client_secrets, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def web_toml(idp: Idp, org: str) -> str:
    return f"""
[web]
enabled = true
session_idle_minutes = 15
overview_deadline = 8.0

[oidc]
issuer = "{idp.issuer}"
client_id = "gateway-{org}"
scope = "openid profile gateway"
role_claim = "roles"
practitioner_claim = "practitioner_id"
"""


@dataclass
class WebFed:
    ggz: RunningNode
    jeugd: RunningNode
    ids: dict[str, Any]
    idp: Idp


@pytest.fixture(scope="module")
def web_fed(idp: Idp, ports: dict[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebFed]:
    """GGZ Noord and Jeugdteam West with pages and IdP login, the demo family loaded."""
    root = tmp_path_factory.mktemp("webfed")
    ggz = RunningNode("ggz-noord", "GGZ Noord", root / "ggz-noord", ports["ggz-noord"])
    jeugd = RunningNode("jeugdteam-west", "Jeugdteam West", root / "jeugdteam-west", ports["jeugdteam-west"])
    nodes = [ggz, jeugd]
    try:
        prints = {}
        for n in nodes:
            prints[n.org_id] = n.init()
            with open(n.home / "node.toml", "a", encoding="utf-8") as f:
                f.write(web_toml(idp, n.org_id))
            n.start(env={"GATEWAY_OIDC_CLIENT_SECRET": idp.secrets[f"gateway-{n.org_id}"]})
        ggz.trust(jeugd, prints[jeugd.org_id])
        jeugd.trust(ggz, prints[ggz.org_id])
        ggz.add_client("ggz-epd", "ehr")
        jeugd.add_client("jeugd-epd", "ehr")
        ids = demo.load_families(ggz, jeugd)
        yield WebFed(ggz, jeugd, ids, idp)
    finally:
        for n in nodes:
            n.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - optional dependency, imported only where it is used
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    pw = sync_playwright().start()
    try:
        try:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - any launch failure means: no browser here
            unavailable(f"Chromium did not start: {str(exc)[:300]}")
        yield chromium
        chromium.close()
    finally:
        pw.stop()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (no cookies at the IdP or the nodes); CSP violations recorded."""
    ctx = browser.new_context(locale="nl-NL")
    ctx.csp_violations = []  # type: ignore[attr-defined]
    yield ctx
    ctx.close()
