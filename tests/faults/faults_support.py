"""Helpers for the fault tests (a module, so test modules can import it)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

PG = os.environ.get("GATEWAY_TEST_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")


def reason(resp: requests.Response) -> str | None:
    """The contract reason code of an OperationOutcome answer."""
    try:
        return resp.json()["issue"][0]["details"]["coding"][0]["code"]  # type: ignore[no-any-return]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def workers_of(pid: int) -> list[int]:
    """The gunicorn workers of a node: the children of its serving process (from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(entry.name))
    return sorted(out)


class Traffic:
    """``n`` client threads calling ``ask()`` until stopped; every outcome is kept."""

    def __init__(self, ask: Callable[[], requests.Response], n: int) -> None:
        self.ask, self.results = ask, []  # type: ignore[var-annotated]
        self.results: list[tuple[int | None, Any]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n)]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                resp = self.ask()
                try:
                    body: Any = resp.json()
                except ValueError:
                    body = resp.text[:200]
                item: tuple[int | None, Any] = (resp.status_code, body)
            except requests.RequestException as exc:
                item = (None, type(exc).__name__)
            with self._lock:
                self.results.append(item)

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def count(self) -> int:
        with self._lock:
            return len(self.results)

    def wait_for(self, n: int, timeout: float = 60) -> None:
        """Block until ``n`` more answers came in (not a timing assertion: a progress wait)."""
        target, deadline = self.count() + n, time.monotonic() + timeout
        while self.count() < target and time.monotonic() < deadline:
            time.sleep(0.05)
