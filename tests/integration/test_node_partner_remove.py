"""An IT department ends a partnership: the partner's keys are unpinned at once."""

from __future__ import annotations

import contextlib
import io

from gateway.cli.main import main
from gateway.demo.loopback import run_cli


def test_removing_a_partner_unpins_it_and_is_audited(make_home, tmp_path) -> None:
    home = make_home("ggz-noord")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["partner", "remove", str(home), "--org-id", "jeugdteam-west"])
    assert code == 2 and "not a partner" in err.getvalue()
    assert run_cli("partner", "list", str(home)).strip() == ""
