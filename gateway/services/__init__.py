"""Use cases: functions that take their dependencies (the node) and plain values.

Views parse, call one of these, and render. Each use case runs in one unit of work, so its
writes and its audit entry commit together or not at all.
"""
