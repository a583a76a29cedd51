"""Issue 20 in a real browser: reloading does nothing twice, a refusal is kept, a disclosure
shows what it sends, a mistyped address is a Dutch page, and a privacy officer at 1280 px
sees every column, opens an entry and marks a flag handled.

Screenshots of the changed pages go to ``$GATEWAY_SCREENSHOTS`` (default: the test's tmp
directory) so that a person can look at them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from browser_support import PRIVACY_OFFICER, PROFESSIONAL
from test_web_story import Watch, assert_labelled, login

from gateway import config
from gateway.demo import runner as demo
from gateway.node import build
from gateway.repositories import audit_log

pytestmark = pytest.mark.scenario
MOTHER = demo.MOTHER


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("GATEWAY_SCREENSHOTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def find_sanne(page: Any) -> None:
    page.get_by_role("link", name="Cliënt zoeken").first.click()
    page.get_by_label("BSN").fill(MOTHER)
    page.get_by_role("button", name="Zoeken").click()
    page.get_by_role("link", name="Sanne Jansen").click()


def test_reloads_do_nothing_twice_and_a_refusal_is_kept(web_fed: Any, context: Any, shots: Path) -> None:
    jeugd = web_fed.jeugd.url
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    watch = Watch(page)
    login(page, jeugd, PROFESSIONAL)
    find_sanne(page)

    # -- a consent, then F5 on its result page: still one consent ----------------------------
    page.get_by_role("link", name="Toestemming vastleggen").click()
    assert "minuten zonder versturen wordt u uitgelogd" in page.locator("main").inner_text()
    page.get_by_label("Geeft toestemming").check()
    page.get_by_label("Samen een veiligheidsplan maken").check()
    page.get_by_label(re.compile("^Signalen")).check()
    page.get_by_role("button", name="Toestemming vastleggen").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Toestemming vastgelegd"
    assert re.search(r"/toestemming/[0-9a-f]+/vastgelegd$", page.url)  # post/redirect/get
    page.reload()
    page.go_back()
    page.go_forward()
    page.screenshot(path=str(shots / "consent-done.png"), full_page=True)
    receipt_url = page.get_by_role("link", name="Bewijs van toestemming afdrukken").get_attribute("href")
    page.get_by_role("link", name=re.compile("^Terug naar Sanne")).click()
    assert page.locator("table").last.locator("tbody tr").count() == 1  # one consent, whatever was reloaded

    receipt = context.new_page()
    receipt.goto(jeugd + receipt_url)
    text = receipt.locator("body").inner_text()
    assert "Over wie: Sanne Jansen, geboren" in text and "Vastgelegd op" in text and "door Pien de Wit" in text
    receipt.screenshot(path=str(shots / "receipt.png"), full_page=True)
    receipt.close()

    # -- Sanne refuses another purpose: the refusal is kept and shown -------------------------
    page.get_by_role("link", name="Toestemming vastleggen").click()
    page.get_by_label("Weigert").check()
    page.get_by_label(re.compile("zorg .*op elkaar afstemmen", re.I)).check()
    page.get_by_label(re.compile("^Zorgteam")).check()
    page.get_by_role("button", name="Toestemming vastleggen").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Weigering vastgelegd"
    page.screenshot(path=str(shots / "refusal-done.png"), full_page=True)
    page.get_by_role("link", name=re.compile("^Terug naar Sanne")).click()
    assert "geweigerd" in page.get_by_role("table", name="Vastgelegde toestemmingen").inner_text()
    page.screenshot(path=str(shots / "client-page.png"), full_page=True)

    # -- a mistyped address is a Dutch page ----------------------------------------------------
    resp = page.goto(jeugd + "/clienten-zoeken")
    assert resp is not None and resp.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Deze pagina bestaat niet"
    page.screenshot(path=str(shots / "not-found.png"), full_page=True)
    watch.check()


def test_a_disclosure_shows_what_it_sends_and_a_reload_sends_nothing_more(
    web_fed: Any, context: Any, shots: Path
) -> None:
    ggz = web_fed.ggz.url
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, ggz, PROFESSIONAL)
    find_sanne(page)
    page.get_by_role("link", name=re.compile("Delen zonder toestemming")).click()
    assert_labelled(page)
    page.get_by_label("Naar welke organisatie").select_option("jeugdteam-west")
    page.get_by_label(re.compile("^Signalen")).check()
    page.locator("#grond-meldcode").check()
    page.locator("#onderbouwing").fill("Moeder is ontregeld en alleen met de kinderen; meldcode stap 5.")
    page.get_by_role("button", name="Controleren").click()
    assert "Dit wordt verstuurd" in page.locator("main").inner_text()
    assert "Slaapt slecht en trekt zich terug" in page.locator("main").inner_text()
    page.screenshot(path=str(shots / "safety-confirm.png"), full_page=True)
    page.get_by_label(re.compile("^Ik deel deze gegevens")).check()
    page.get_by_role("button", name="Nu delen").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Gedeeld zonder toestemming"
    assert "afgeleverd bij jeugdteam-west" in page.locator("main").inner_text()
    page.reload()  # F5: the result again, no second disclosure
    page.screenshot(path=str(shots / "safety-done.png"), full_page=True)
    sent = [e for e in _audit(web_fed.ggz) if e["action"] == "safety-disclosure-sent"]
    assert len(sent) == 1


def _audit(node: Any) -> list[dict[str, Any]]:
    built = build(config.load(node.home))
    try:
        with built.uow(read_only=True) as uow:
            return [json.loads(e.record_json) for e in audit_log.entries(uow.session, limit=10_000)]
    finally:
        built.uow.engine.dispose()


def test_a_privacy_officer_at_1280_px_sees_every_column_and_handles_a_flag(
    web_fed: Any, context: Any, shots: Path
) -> None:
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, web_fed.jeugd.url, PRIVACY_OFFICER)
    page.get_by_role("link", name="Logboek").first.click()
    page.get_by_label("Persoon (BSN)").fill(MOTHER)
    page.get_by_role("button", name="Zoeken").click()
    table = page.locator("table.timeline")
    last = table.locator("thead th").last
    assert last.inner_text() == "Grondslag"
    box = last.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280, box  # not cut off
    assert re.search(r"\d{2}:\d{2}:\d{2}", table.locator("tbody tr").first.inner_text())
    page.screenshot(path=str(shots / "timeline-1280.png"), full_page=True)
    table.locator("tbody tr a").first.click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Logregel")
    page.screenshot(path=str(shots / "entry.png"), full_page=True)

    page.get_by_role("link", name="Signalen").first.click()
    page.screenshot(path=str(shots / "flags-before.png"), full_page=True)
    handle = page.get_by_role("button", name="Afgehandeld").first
    if handle.count():
        page.get_by_label("Notitie").first.fill("Besproken in het MDO.")
        handle.click()
        assert "Afgehandeld door" in page.locator("main").inner_text()
        page.screenshot(path=str(shots / "flags-after.png"), full_page=True)
