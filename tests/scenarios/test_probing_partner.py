"""A partner that fishes for who is in care at GGZ Noord gets flagged (issue 13, item 14).

Jeugdteam West registers a dozen people GGZ Noord has never seen, records consents for
them naming GGZ Noord as holder, and asks for each one's summary. Every token is its own
and valid, every answer is ``subject-unknown``, exactly as the contract allows. But the
pattern is itself the leak: GGZ Noord's privacy officer sees it with ``gateway audit
flags``, and Jeugdteam West's own failed requests are no probe of anyone. Real nodes.
"""

from __future__ import annotations

import contextlib
import io
from datetime import date, timedelta

import pytest

from gateway.cli.main import main as cli
from gateway.demo import data as d

pytestmark = pytest.mark.scenario

FISHED = 12  # the default limit is more than 10 subject-unknown answers per partner per day


def gateway(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(list(args))
    return code, out.getvalue(), err.getvalue()


def test_a_partner_asking_for_many_people_unknown_here_is_flagged_for_the_privacy_officer(federation) -> None:
    ggz, jeugd, _ids = federation
    j = jeugd.session("jeugd-epd", "uzi:900000202")
    for i in range(FISHED):
        bsn = d.bsn(7100 + i)
        pid = j.post("/fhir/Patient", d.patient(bsn, date(1980, 1, 1 + i), "Onbekend", "Hier")).json()["id"]
        consent = j.post(
            "/fhir/Consent",
            d.consent(
                pid,
                [f"Patient/{pid}"],
                recipients=[jeugd.org_id],
                holders=[ggz.org_id],
                purpose="joint-safety-planning",
                categories=["signals"],
                start=date.today() - timedelta(days=1),
            ),
        )
        assert consent.status_code == 201, consent.text
        asked = j.post(
            "/fhir/$request-summary", d.summary_request(ggz.org_id, bsn, "joint-safety-planning", ["signals"])
        )
        assert asked.status_code == 404, asked.text
        assert asked.json()["issue"][0]["details"]["coding"][0]["code"] == "subject-unknown"

    code, out, err = gateway("audit", "flags", str(ggz.home))
    assert code == 1, out + err
    [line] = out.splitlines()
    assert line.split("\t")[1:] == ["jeugdteam-west", f"subject-unknown {FISHED}", f"refusals {FISHED}"]
    assert "probing flag" in err

    code, out, err = gateway("audit", "flags", str(jeugd.home))  # its own failures probe no one
    assert code == 0, out + err
    assert out.startswith("no probing flags")
