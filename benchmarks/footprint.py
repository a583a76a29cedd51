"""Resident memory of a running node: the gunicorn arbiter and each worker (psutil, else /proc)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

try:  # optional: psutil reads the process tree portably; /proc does on Linux
    import psutil
except ImportError:  # pragma: no cover - depends on the machine
    psutil = None


def _children(pid: int) -> list[int]:
    if psutil is not None:
        try:
            return [c.pid for c in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            return []
    out: list[int] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                out.append(int(entry.name))
                out.extend(_children(int(entry.name)))
    return out


def rss_mb(pid: int) -> float:
    if psutil is not None:
        try:
            return psutil.Process(pid).memory_info().rss / 2**20
        except psutil.Error:
            return 0.0
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def node_rss(root_pid: int) -> dict[str, Any]:
    """RSS of the node's process tree: the CLI process that became the gunicorn arbiter, and its workers."""
    workers = _children(root_pid)
    per_worker = [round(rss_mb(p), 1) for p in workers]
    arbiter = round(rss_mb(root_pid), 1)
    return {
        "arbiter_mb": arbiter,
        "workers_mb": per_worker,
        "total_mb": round(arbiter + sum(per_worker), 1),
        "max_worker_mb": max(per_worker, default=0.0),
    }


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds used so far by a node's arbiter and its live workers (/proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in [root_pid, *_children(root_pid)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


class Sampler:
    """Sample a node's total and per-worker RSS every ``interval`` seconds in a thread."""

    def __init__(self, root_pid: int, interval: float = 1.0) -> None:
        self.root_pid, self.interval = root_pid, interval
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(node_rss(self.root_pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self) -> dict[str, Any]:
        if not self.samples:
            return {}
        return max(self.samples, key=lambda s: s["total_mb"])

    def trend(self) -> dict[str, Any]:
        """First and last third of the run compared: is memory flat?"""
        totals = [s["total_mb"] for s in self.samples]
        if len(totals) < 6:
            return {"samples": len(totals)}
        third = len(totals) // 3
        first, last = sum(totals[:third]) / third, sum(totals[-third:]) / third
        return {
            "samples": len(totals),
            "first_third_mb": round(first, 1),
            "last_third_mb": round(last, 1),
            "growth_mb": round(last - first, 1),
            "growth_pct": round(100 * (last - first) / first, 1),
        }
