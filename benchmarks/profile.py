"""Profile the exchange hot path on the running nodes with py-spy (``--profile``).

py-spy samples every gunicorn worker of both nodes with ``--gil`` (only the thread holding
the GIL is sampled, so a sample is Python CPU, not a thread waiting on a partner or the store)
while one client drives exchanges at concurrency 4. Two views per node:

- ``top_inclusive_pct``: the samples inside a request (under ``Flask.wsgi_app``) summed per
  function, inclusive: "share of request CPU spent in or below this function";
- ``budget_ms``: for each use case on the hot path (``disclose_summary`` at the holder,
  ``request_summary`` and ``status_for_partner`` at the requester), the CPU milliseconds per
  exchange spent in each function it calls directly, and the node's CPU per exchange inside
  requests (gunicorn's event loop is outside). py-spy slows the nodes, so the milliseconds are
  inflated alike; the split is what counts.

py-spy is a tool, not a dependency: ``pip install py-spy`` into the venv (it needs ptrace,
i.e. root or CAP_SYS_PTRACE).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import footprint, load

ROOT_FRAME = "Flask.wsgi_app"
_FRAME = re.compile(r"(.*) \((.*):(\d+)\)")


def py_spy() -> str | None:
    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


def _frame(text: str) -> str:
    m = _FRAME.match(text)
    if not m:
        return text
    path = m.group(2).split("site-packages/")[-1]
    path = re.sub(r"^.*?/(gateway|consent|profiles|adapters)/", r"\1/", path)
    return f"{m.group(1)} ({path})"


RATE = 250  # samples per second and thread holding the GIL
#: the use cases of one exchange whose direct calls make the budget (the frame text)
USE_CASES = (
    "disclose_summary (gateway/services/exchange.py)",
    "request_summary (gateway/services/exchange.py)",
    "status_for_partner (gateway/services/consents.py)",
)


def aggregate(raw_files: list[Path], exchanges: int = 0, top: int = 25) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    calls: dict[str, Counter[str]] = {u: Counter() for u in USE_CASES}
    total = 0
    for f in raw_files:
        for line in f.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not n.isdigit():
                continue
            if ROOT_FRAME not in stack:
                continue
            total += int(n)
            frames = [_frame(s) for s in stack.split(";")]
            for frame in set(frames):
                inclusive[frame] += int(n)
            for i, frame in enumerate(frames):
                if frame in calls:
                    calls[frame][frames[i + 1] if i + 1 < len(frames) else "(its own lines)"] += int(n)
    skip = ("flask/", "werkzeug/", "threading.py", "gunicorn/", "concurrent/")
    rows = [(f, round(100 * c / total, 1)) for f, c in inclusive.most_common(200) if not any(s in f for s in skip)][
        :top
    ]
    out: dict[str, Any] = {"samples": total, "top_inclusive_pct": rows}
    if exchanges:

        def ms(count: int) -> float:
            return round(1000 * count / RATE / exchanges, 2)

        out["cpu_ms_per_exchange_in_requests"] = ms(total)
        out["budget_ms"] = {
            u: {"total": ms(sum(c.values())), "calls": [(f, ms(n)) for f, n in c.most_common(12) if ms(n) >= 0.05]}
            for u, c in calls.items()
            if c
        }
    return out


def profile_exchange(nodes_: list[Any], url: str, make: load.RequestFactory, seconds: float = 10.0) -> dict[str, Any]:
    spy = py_spy()
    if spy is None:
        return {"skipped": "py-spy not installed (pip install py-spy)"}
    out_dir = Path(tempfile.mkdtemp(prefix="gateway-profile-"))
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    for node in nodes_:
        for pid in footprint._children(node.process.pid):
            raw = out_dir / f"{node.org_id}-{pid}.txt"
            procs.append(
                (
                    node.org_id,
                    subprocess.Popen(
                        [
                            spy,
                            "record",
                            "--gil",
                            "-p",
                            str(pid),
                            "-d",
                            str(int(seconds) + 2),
                            "-r",
                            str(RATE),
                            "-f",
                            "raw",
                            "-o",
                            str(raw),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    ),
                    raw,
                )
            )
    result = load.run(url, make, concurrency=4, seconds=seconds, warmup=1.0)
    report: dict[str, Any] = {"exchanges": result.count, "note": "py-spy slows the nodes; shares, not times, count"}
    for _org, proc, _raw in procs:
        proc.wait(seconds + 30)
    for node in nodes_:
        files = [raw for org, _p, raw in procs if org == node.org_id and raw.exists()]
        report[node.org_id] = aggregate(files, result.count) if files else {"skipped": "py-spy could not attach"}
    shutil.rmtree(out_dir, ignore_errors=True)
    return report
