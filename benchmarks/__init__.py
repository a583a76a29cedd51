"""Benchmarks of the gateway (issue 8): ``python -m benchmarks`` (or ``make bench``).

Everything is measured side by side in one run on one machine: end-to-end exchanges on
real gunicorn nodes (SQLite and PostgreSQL), a one-hop baseline on the same server stack,
the cryptographic floor, the audit log, the summary builder, memory, the family overview
and an optional soak. It prints a table with each target (met / not met) and writes the
figures as JSON to ``benchmarks/results/<timestamp>.json``. Nothing here is imported by
the gateway or by the test suite; the test suite never asserts a time.
"""
