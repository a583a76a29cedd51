"""A closed-loop HTTP load generator: N client threads, each with one keep-alive connection.

Each thread sends its next request as soon as the previous answer is read, for a fixed
time after a short warm-up. Latencies are wall-clock per request as the client sees them
(connect excluded after the first request). The generator runs on the same machine as
the nodes, so it competes with them for the CPU: figures are comparable with each other
(same generator for exchange and baseline), not absolute.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

RequestFactory = Callable[[], tuple[str, str, bytes, dict[str, str]]]
"""() -> (method, path, body, headers) for the next request."""


@dataclass
class LoadResult:
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # transport errors by class name
    answered_all: int = 0  # answers including the warm-up (for CPU per request)
    ok_all: int = 0  # 200 answers including the warm-up (to compare with the audit logs)

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def failed(self) -> int:
        return self.count - self.ok + sum(self.errors.values())

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    def summary(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 2),
            "requests": self.count,
            "ok": self.ok,
            "failed": self.failed,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "errors": dict(self.errors),
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": round(self.pct(50), 2),
            "p95_ms": round(self.pct(95), 2),
            "p99_ms": round(self.pct(99), 2),
            "max_ms": round(max(self.latencies_ms, default=0.0), 2),
        }


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation): the value p% of requests stayed under."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


class _Conn:
    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout = parts.hostname or "127.0.0.1", parts.port or 80, timeout
        self.conn: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.close()
                return resp.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # a keep-alive connection the server closed while idle: reconnect once
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run(
    base_url: str,
    make_request: RequestFactory,
    *,
    concurrency: int,
    seconds: float,
    warmup: float = 1.0,
    timeout: float = 30.0,
    check: Callable[[int, bytes], None] | None = None,
    max_requests: int | None = None,
) -> LoadResult:
    """Drive ``base_url`` with ``concurrency`` closed-loop clients for ``seconds`` after ``warmup``."""
    result = LoadResult(concurrency=concurrency, seconds=seconds)
    lock = threading.Lock()
    start = time.monotonic() + warmup
    stop = start + seconds
    sent = [0]

    def client() -> None:
        conn = _Conn(base_url, timeout)
        lat: list[float] = []
        answered = ok_all = 0
        statuses: Counter[int] = Counter()
        errors: Counter[str] = Counter()
        try:
            while True:
                now = time.monotonic()
                if now >= stop:
                    break
                if max_requests is not None:
                    with lock:
                        if sent[0] >= max_requests:
                            break
                        sent[0] += 1
                method, path, body, headers = make_request()
                t0 = time.perf_counter()
                try:
                    status, data = conn.send(method, path, body, headers)
                except Exception as exc:  # noqa: BLE001 - counted, never hidden
                    conn.close()
                    if now >= start:
                        errors[type(exc).__name__] += 1
                    continue
                elapsed = (time.perf_counter() - t0) * 1000
                answered += 1
                ok_all += status == 200
                if check is not None:
                    check(status, data)
                if now >= start:  # requests started in the warm-up are not counted
                    lat.append(elapsed)
                    statuses[status] += 1
        finally:
            conn.close()
            with lock:
                result.answered_all += answered
                result.ok_all += ok_all
                result.latencies_ms.extend(lat)
                result.statuses.update(statuses)
                result.errors.update(errors)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + warmup + timeout + 5)
    if max_requests is not None:
        result.seconds = min(seconds, max(time.monotonic() - start, 1e-9))
    return result
