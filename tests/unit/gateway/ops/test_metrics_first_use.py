"""A fresh worker answers its first requests on several threads at once; none may fail on metrics."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import threading
from gateway.ops import metrics
start, errors = threading.Barrier(16), []
def first_request():
    start.wait()
    try:
        metrics.request_done({"gateway.operation": "/fhir/metadata"}, "200", 0.01)
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=first_request) for _ in range(16)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(errors))
"""


def test_sixteen_threads_counting_their_first_request_together_all_succeed() -> None:
    # a new process each time: the metrics are made once per process, on first use
    for _ in range(3):
        run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == "0"
