"""Run real nodes on loopback: used by ``gateway demo`` and by the scenario tests.

Each node is initialised with the CLI and served by ``gateway serve`` (gunicorn) in its
own process, exactly as an IT department runs one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from gateway.cli import main as cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str) -> str:
    """Run a gateway command in-process; return its stdout, raise on a non-zero exit."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(list(args))
    if code != 0:
        raise RuntimeError(f"gateway {' '.join(args[:2])} failed ({code}): {err.getvalue().strip()}")
    return out.getvalue()


@dataclass
class RunningNode:
    org_id: str
    name: str
    home: Path
    port: int
    db: str | None = None
    process: subprocess.Popen[bytes] | None = None
    clients: dict[str, str] = field(default_factory=dict)  # client id -> secret
    workers: int = 2

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def init(self) -> str:
        args = ["init", str(self.home), "--org-id", self.org_id, "--name", self.name, "--url", self.url]
        if self.db:
            args += ["--db", self.db]
        out = run_cli(*args)
        toml = self.home / "node.toml"
        toml.write_text(toml.read_text().replace("workers = 2", f"workers = {self.workers}"))
        return out.strip().splitlines()[-1]

    def start(self, env: dict[str, str] | None = None) -> None:
        with open(self.home / "serve.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "import sys; from gateway.cli import main; sys.exit(main())",
                 "serve", str(self.home)],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                start_new_session=True)
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.org_id} exited: {(self.home / 'serve.log').read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.org_id} did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self.process = None

    def add_client(self, client_id: str, role: str) -> str:
        secret = run_cli("client", "add", str(self.home), "--client-id", client_id, "--role", role).strip().splitlines()[-1]
        self.clients[client_id] = secret
        return secret

    def trust(self, other: RunningNode, thumbprint: str | None = None) -> None:
        args = ["partner", "add", str(self.home), "--org-id", other.org_id, "--url", other.url]
        args += ["--thumbprint", thumbprint] if thumbprint else ["--trust-on-first-use"]  # loopback demo/tests
        run_cli(*args)

    def session(self, client_id: str, practitioner: str | None = "uzi:900000001") -> Api:
        return Api(self, client_id, self.clients[client_id], practitioner)


class Api:
    """A local API client as an EHR would use it: client credentials, then FHIR calls."""

    def __init__(self, node: RunningNode, client_id: str, secret: str, practitioner: str | None) -> None:
        self.node, self.practitioner = node, practitioner
        resp = requests.post(node.url + "/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(client_id, secret), timeout=10)
        resp.raise_for_status()
        self.token = resp.json()["access_token"]

    def headers(self) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/fhir+json"}
        if self.practitioner:
            h["X-Practitioner"] = self.practitioner
        return h

    def post(self, path: str, body: Any = None) -> requests.Response:
        return requests.post(self.node.url + path, json=body, headers=self.headers(), timeout=30)

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(self.node.url + path, params=params, headers=self.headers(), timeout=30)

    def delete(self, path: str, **params: Any) -> requests.Response:
        return requests.delete(self.node.url + path, params=params, headers=self.headers(), timeout=30)
