"""``make demo`` plays its story on four organisations that trust each other through one list.

No node runs ``partner add``: the operator lists GGZ Noord, Jeugdteam West, Jeugdbescherming
Noord and Veilig Thuis West, publishes, and the directory names them for professionals.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.demo import runner as demo


def test_the_demo_runs_a_regional_federation_from_one_operator_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo.run(keep_serving=False, root=tmp_path)
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert "één ondertekende ledenlijst" in text
    for name, kind in (
        ("GGZ Noord", "Ggz voor volwassenen"),
        ("Jeugdbescherming Noord", "Jeugdbescherming"),
        ("Veilig Thuis West", "Veilig Thuis"),
    ):
        assert any(kind in line and name in line for line in lines), text
    assert "vraagt de samenvatting op bij GGZ Noord: HTTP 200" in text
    assert "HTTP 403 (consent-revoked" in text
    # the four listed organisations, plus the crisis team and GP practice of the push story (issue 17)
    assert "stuurt een vooraankondiging naar Crisisdienst Noord: HTTP 200" in text
    assert "stuurt de overdracht naar Huisartsenpraktijk De Linde: HTTP 200" in text
    assert text.count("intact:") == 6
