"""Profile the exchange hot path on the running nodes with py-spy (``--profile``).

py-spy samples every gunicorn worker of both nodes while one client drives exchanges; the
samples inside a request (under ``Flask.wsgi_app``) are summed per function, inclusive, so
the table reads "share of request time spent in or below this function". py-spy is a tool,
not a dependency: ``pip install py-spy`` into the venv (it needs ptrace, i.e. root or
CAP_SYS_PTRACE).
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


def aggregate(raw_files: list[Path], top: int = 25) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    total = 0
    for f in raw_files:
        for line in f.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if ROOT_FRAME not in stack or not n.isdigit():
                continue
            total += int(n)
            for frame in {_frame(s) for s in stack.split(";")}:
                inclusive[frame] += int(n)
    skip = ("flask/", "werkzeug/", "threading.py", "gunicorn/", "concurrent/")
    rows = [(f, round(100 * c / total, 1)) for f, c in inclusive.most_common(200) if not any(s in f for s in skip)][
        :top
    ]
    return {"samples": total, "top_inclusive_pct": rows}


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
                            "-p",
                            str(pid),
                            "-d",
                            str(int(seconds) + 2),
                            "-r",
                            "200",
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
    result = load.run(url, make, concurrency=1, seconds=seconds, warmup=1.0)
    report: dict[str, Any] = {"exchanges": result.count, "note": "py-spy slows the nodes; shares, not times, count"}
    for _org, proc, _raw in procs:
        proc.wait(seconds + 30)
    for node in nodes_:
        files = [raw for org, _p, raw in procs if org == node.org_id and raw.exists()]
        report[node.org_id] = aggregate(files) if files else {"skipped": "py-spy could not attach"}
    shutil.rmtree(out_dir, ignore_errors=True)
    return report
