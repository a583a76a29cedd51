"""Before go-live the IT department runs ``gateway selftest`` and reads a pass/fail table.

Against two real nodes: everything passes between partners that trust each other; a
partner that is down, a partner that is not trusted, and an edited audit log each turn
their own row to FAIL and the exit code to 1, while the other rows are still checked.

One federation per store for the module (two gunicorn nodes are the cost here): the
tests run in file order, the harmless first and the ones that break something after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from gateway import config
from gateway.cli.main import main
from gateway.demo import runner as demo
from tests.conftest import STORES, StoreFactory

OWN = ("config", "keys", "store", "audit")
PARTNER = ("partner-metadata", "clock-skew", "partner-jwks", "partner-token", "round-trip")


@pytest.fixture(scope="module", params=STORES)
def federation(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    factory = StoreFactory(request.param)
    ggz, jeugd = demo.build_federation(
        tmp_path_factory.mktemp("selftest"), {"ggz-noord": factory.url(), "jeugdteam-west": factory.url()}
    )
    try:
        yield ggz, jeugd, None
    finally:
        ggz.stop()
        jeugd.stop()
        factory.cleanup()


def _selftest(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, tuple[str, str]], str]:
    code = main(["selftest", *args])
    out, err = capsys.readouterr()
    rows = {}
    for line in out.splitlines()[1:]:
        name, result, detail = line.split(None, 2)
        rows[name] = (result, detail)
    return code, rows, err


def test_two_partners_that_trust_each_other_pass_every_check(
    federation: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ggz, jeugd, _ = federation

    code, rows, err = _selftest(capsys, str(jeugd.home), "--partner", "ggz-noord")

    assert code == 0, (rows, err)
    assert tuple(rows) == OWN + PARTNER
    assert all(result == "pass" for result, _ in rows.values()), rows
    assert "JWKS verifies" in rows["keys"][1]
    assert "CapabilityStatement" in rows["partner-metadata"][1]


def test_an_organisation_that_is_not_a_partner_is_one_failed_row(
    federation: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, jeugd, _ = federation
    code, rows, _ = _selftest(capsys, str(jeugd.home), "--partner", "wijkteam-oost")
    assert code == 1 and rows["partner"][0] == "FAIL" and "not a trusted partner" in rows["partner"][1]


def test_a_partner_that_is_down_fails_its_rows_and_the_node_s_own_still_pass(
    federation: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ggz, jeugd, _ = federation
    ggz.stop()

    code, rows, err = _selftest(capsys, str(jeugd.home), "--partner", "ggz-noord")

    assert code == 1 and "selftest failed" in err
    assert all(rows[name][0] == "pass" for name in OWN)
    assert all(rows[name][0] == "FAIL" for name in PARTNER)
    assert "Geen verbinding" in rows["partner-metadata"][1]


def test_an_edited_audit_log_fails_the_audit_row(federation: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, jeugd, _ = federation
    engine = create_engine(config.load(jeugd.home).store.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE audit_entries SET record_json = replace(record_json, 'success', 'failure') WHERE seq = 1")
            )
    finally:
        engine.dispose()

    code, rows, _ = _selftest(capsys, str(jeugd.home))

    assert code == 1 and rows["audit"][0] == "FAIL" and "entry 1" in rows["audit"][1]
    assert rows["keys"][0] == "pass" and rows["store"][0] == "pass"
