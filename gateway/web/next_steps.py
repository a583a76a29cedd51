"""What a professional can do after a refusal (issue 20.10), in plain Dutch.

A refusal's own text says what happened; this says what to do next. The words are the
refusal-reason CodeSystem's ``next-step`` designations (``profiles/codesystems``), so the
page, the served CodeSystem and a partner's pages say the same. The reason code stays on
the page in small print, for the servicedesk.
"""

from __future__ import annotations

from profiles import catalog

FALLBACK = "Probeer het later opnieuw, of neem contact op met de servicedesk."
"""For a code this node does not know (a newer partner's): never an empty line."""


def next_step(code: str) -> str:
    """Return the next step for refusal reason ``code``."""
    if not catalog.has_label(catalog.REFUSAL_REASON_SYSTEM, code, use="next-step"):
        return FALLBACK
    return catalog.label(catalog.REFUSAL_REASON_SYSTEM, code, use="next-step")
