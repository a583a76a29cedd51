"""Run real nodes on loopback: used by ``gateway demo`` and by the scenario tests.

Each node is initialised with the CLI and served by ``gateway serve`` (gunicorn) in its
own process, exactly as an IT department runs one.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from gateway.cli.main import main as cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str) -> str:
    """Run a gateway command in-process; return its stdout, raise on a non-zero exit."""
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
            self.process = subprocess.Popen(  # noqa: S603 - this interpreter running our own CLI, no shell
                [
                    sys.executable,
                    "-c",
                    "import sys; from gateway.cli.main import main; sys.exit(main())",
                    "serve",
                    str(self.home),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
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
        secret = (
            run_cli("client", "add", str(self.home), "--client-id", client_id, "--role", role).strip().splitlines()[-1]
        )
        self.clients[client_id] = secret
        return secret

    def trust(self, other: RunningNode, thumbprint: str | None = None) -> None:
        args = ["partner", "add", str(self.home), "--org-id", other.org_id, "--url", other.url]
        args += ["--thumbprint", thumbprint] if thumbprint else ["--trust-on-first-use"]  # loopback demo/tests
        run_cli(*args)

    def follow(
        self, list_url: str, operator_thumbprint: str, *, refresh_seconds: int = 300, grace_seconds: int = 0
    ) -> None:
        """Make this node follow a federation list (issue 15); takes effect at its next start."""
        with open(self.home / "node.toml", "a", encoding="utf-8") as fh:
            fh.write(
                f'\n[federation]\nlist_url = "{list_url}"\noperator_thumbprints = ["{operator_thumbprint}"]\n'
                f"refresh_seconds = {refresh_seconds}\ngrace_seconds = {grace_seconds}\n"
            )

    def refresh_list(self) -> str:
        """``gateway federation refresh``: apply the published list now (the running node shares the store)."""
        return run_cli("federation", "refresh", str(self.home)).strip()

    def session(self, client_id: str, practitioner: str | None = "uzi:900000001") -> Api:
        return Api(self, client_id, self.clients[client_id], practitioner)


def init_and_start(nodes: tuple[RunningNode, ...], *, web: bool = False) -> dict[str, str]:
    """Initialise and start ``nodes``; return each one's key thumbprint by org id.

    ``web`` turns on the pages with the marked demo login (config refuses it anywhere but on
    loopback).
    """
    prints = {n.org_id: n.init() for n in nodes}
    if web:
        for n in nodes:
            with open(n.home / "node.toml", "a", encoding="utf-8") as fh:
                fh.write("\n[web]\nenabled = true\ndemo_login = true\n")
    for n in nodes:
        n.start()
    return prints


class Api:
    """A local API client as an EHR would use it: client credentials, then FHIR calls."""

    def __init__(self, node: RunningNode, client_id: str, secret: str, practitioner: str | None) -> None:
        self.node, self.practitioner = node, practitioner
        resp = requests.post(
            node.url + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10
        )
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


class Operator:
    """A federation operator on loopback: its home, and a static web server hosting its list."""

    def __init__(self, home: Path, federation_id: str = "regio-west", name: str = "Regio West") -> None:
        self.home = home
        self.thumbprint = (
            run_cli("federation", "operator-init", str(home), "--id", federation_id, "--name", name)
            .strip()
            .splitlines()[-1]
        )
        self.site = home / "site"
        self.site.mkdir()
        self.host = StaticHost(self.site)

    @property
    def list_url(self) -> str:
        return f"{self.host.url}/federation.json"

    @property
    def list_file(self) -> Path:
        return self.site / "federation.json"

    def add(self, node: RunningNode, org_type: str, *contact: str) -> str:
        args = [
            "federation",
            "add-member",
            str(self.home),
            "--org-id",
            node.org_id,
            "--name",
            node.name,
            "--url",
            node.url,
            "--type",
            org_type,
        ]
        for value in contact:
            args += ["--contact", value]
        return run_cli(*args)

    def remove(self, node: RunningNode) -> str:
        return run_cli("federation", "remove-member", str(self.home), "--org-id", node.org_id)

    def publish(self, valid_days: int = 7) -> str:
        return run_cli(
            "federation", "publish", str(self.home), "--out", str(self.list_file), "--valid-days", str(valid_days)
        )

    def stop(self) -> None:
        self.host.stop()


class StaticHost:
    """Any static web server will do for a list; this is Python's own, on loopback, in a thread.

    It sends an ETag (modification time and size, as nginx does) and answers a matching
    If-None-Match with 304. It counts the requests and 304s it answered, for the tests.
    """

    def __init__(self, root: Path) -> None:
        host = self
        self.requests = 0
        self.not_modified = 0

        class Static(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:
                host.requests += 1
                path = root / self.path.lstrip("/").split("?")[0]
                if "/" in self.path.lstrip("/") or not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                st = path.stat()
                etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
                if self.headers.get("If-None-Match") == etag:
                    host.not_modified += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                body = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Static)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
