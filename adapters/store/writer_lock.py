"""One writer at a time on SQLite, queued here rather than in SQLite's busy handler.

SQLite admits a single writer. A transaction that finds the write lock taken is retried by
SQLite's busy handler, which sleeps between attempts (1, 2, 5 … up to 100 ms). Under load
most of a request's latency was spent in those sleeps while the lock stood free. So a
writing unit of work first takes this lock: threads of one process queue on a
``threading.Lock`` (woken the moment it is released), processes (gunicorn workers) on an
``flock`` of a file beside the database, polled at sub-millisecond intervals. When it is
held, ``BEGIN IMMEDIATE`` finds the database free. Other programs on the same file (the
CLI, a backup) still meet SQLite's own lock and busy timeout, so correctness never depends
on this lock; only latency does.

Waiting is bounded (``timeout``): a writer stuck elsewhere gives ``StoreUnavailable``
rather than a request that hangs.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from contract.errors import StoreUnavailable

_POLL_MIN, _POLL_MAX = 0.0002, 0.002


class WriterLock:
    def __init__(self, database: str | None, timeout: float = 30.0) -> None:
        self.path = f"{database}-writer.lock" if database and database != ":memory:" else None
        self.timeout = timeout
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._held = threading.local()  # a unit opened inside another on the same thread nests

    def _file(self) -> int | None:
        if self.path is None:
            return None
        if self._pid != os.getpid():  # a descriptor inherited across fork would be shared, not exclusive
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def hold(self) -> Iterator[None]:
        if getattr(self._held, "depth", 0):
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=self.timeout):
            raise StoreUnavailable("De database is bezet: een andere schrijver blijft te lang bezig.")
        try:
            try:
                fd = self._file()
            except OSError as exc:
                raise StoreUnavailable() from exc
            if fd is not None:
                self._flock(fd, deadline)
            self._held.depth = 1
            try:
                yield
            finally:
                self._held.depth = 0
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    @staticmethod
    def _flock(fd: int, deadline: float) -> None:
        pause = _POLL_MIN
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreUnavailable("De database is bezet: een andere schrijver blijft te lang bezig.") from None
                time.sleep(pause)
                pause = min(pause * 2, _POLL_MAX)
