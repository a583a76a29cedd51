"""The demo story on two real nodes: consent, summary, revocation, refusal."""

from __future__ import annotations

import pytest

from gateway.demo import runner as demo

pytestmark = pytest.mark.scenario


def test_a_mother_consents_the_youth_team_reads_then_she_revokes(federation) -> None:
    ggz, jeugd, ids = federation
    lines: list[str] = []
    result = demo.play(ggz, jeugd, ids, echo=lines.append)
    assert result["first"].status_code == 200
    bundle = result["first"].json()
    text = str(bundle)
    assert "Slaapt slecht" in text
    assert "F33.1" not in text and "sertraline" not in text and "268621008" not in text
    assert "Brengt de kinderen" not in text  # parenting was not consented
    second = result["second"]
    assert second.status_code == 403
    assert second.json()["issue"][0]["details"]["coding"][0]["code"] == "consent-revoked"
