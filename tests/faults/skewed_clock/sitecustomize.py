"""Test-only: run a node with its clock ``GATEWAY_TEST_CLOCK_SKEW`` seconds off.

Debian's libfaketime moves ``time.time`` but breaks ``time.sleep`` in CPython 3.11
(``clock_nanosleep`` answers EINVAL or never returns), so a gunicorn node cannot run under
it. tests/faults/test_clock_skew.py puts this directory on ``PYTHONPATH`` instead: Python
imports ``sitecustomize`` at start-up, and this one moves the clock every use case of the node
reads (``gateway.node.build``'s default ``clock``, which stamps tokens, assertions, audit
records and checks validity windows). Nothing outside the tests imports it.
"""

import os

_skew = os.environ.get("GATEWAY_TEST_CLOCK_SKEW")
if _skew:
    from datetime import UTC, datetime, timedelta

    import gateway.node

    _offset = timedelta(seconds=int(_skew))

    def _skewed() -> datetime:
        return datetime.now(UTC) + _offset

    gateway.node.utcnow = _skewed
    gateway.node.build.__kwdefaults__["clock"] = _skewed
