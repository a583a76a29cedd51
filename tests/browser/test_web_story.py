"""The whole story in a real browser (issue 7, "Done when").

A professional of Jeugdteam West logs in at the organisation's IdP, finds Sanne by BSN,
records her consent, prints the receipt, asks GGZ Noord for a summary and reads it as
Dutch sections; she opens the family overview for Sanne's child; she revokes the consent
and the next request is refused in Dutch. GGZ Noord's privacy officer logs in, finds the
disclosure in the audit timeline and in Sanne's printable report. Everything through
Chromium, by keyboard-reachable, labelled controls, with no CSP violation and no BSN in
any URL.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_support import NO_ROLE, PASSWORD, PRIVACY_OFFICER, PROFESSIONAL, User

from gateway.demo import runner as demo

pytestmark = pytest.mark.scenario
MOTHER = demo.MOTHER


class Watch:
    """Everything a page should never do: violate the CSP, or put a BSN in a URL."""

    def __init__(self, page: Any) -> None:
        self.console: list[str] = []
        self.urls: list[str] = []
        page.on("console", lambda msg: self.console.append(msg.text))
        page.on("request", lambda req: self.urls.append(req.url))

    def check(self) -> None:
        csp = [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]
        assert not csp, csp
        leaking = [
            u for u in self.urls if re.search(r"[0-9]{9}", u.split("?")[0] + "?" + u.partition("?")[2]) and MOTHER in u
        ]
        assert not leaking, leaking


def login(page: Any, url: str, user: User) -> None:
    page.goto(url + "/")
    assert page.locator("html").get_attribute("lang") == "nl"
    page.get_by_role("link", name=re.compile("Inloggen")).click()
    page.get_by_label("Gebruikersnaam").fill(user.username)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_url(url + "/", timeout=15_000)


def assert_labelled(page: Any) -> None:
    """Every visible form control has a label (WCAG 1.3.1, 3.3.2)."""
    for control in page.locator("input:not([type=hidden]), select, textarea").all():
        ident = control.get_attribute("id")
        assert ident, control.evaluate("e => e.outerHTML")
        assert page.locator(f"label[for='{ident}']").count() == 1, ident


def test_a_professional_consents_asks_and_reads_then_the_privacy_officer_finds_it(web_fed: Any, context: Any) -> None:
    jeugd, ggz = web_fed.jeugd.url, web_fed.ggz.url
    page = context.new_page()
    watch = Watch(page)

    # -- the professional logs in at the IdP ------------------------------------------------
    login(page, jeugd, PROFESSIONAL)
    assert page.get_by_role("heading", level=1).inner_text() == "Welkom, Pien de Wit"
    cookie = next(c for c in context.cookies() if c["name"] == "gateway")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # keyboard: the first Tab reaches the skip link, which moves to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Direct naar de inhoud"

    # -- find Sanne by BSN (a POST: the BSN never enters a URL) -------------------------------
    page.get_by_role("link", name="Cliënt zoeken").first.click()
    assert_labelled(page)
    page.get_by_label("BSN").fill(MOTHER)
    page.get_by_role("button", name="Zoeken").click()
    page.get_by_role("link", name="Sanne Jansen").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Sanne Jansen"

    # -- record her consent: the rules say she alone decides (34 years old) ------------------
    page.get_by_role("link", name="Toestemming vastleggen").click()
    assert_labelled(page)
    grantors = page.locator("#toestemmers")
    assert "de persoon zelf" in grantors.inner_text()
    assert "16 jaar en ouder" in grantors.inner_text()
    page.get_by_label("Geeft toestemming").check()
    page.get_by_label("Samen een veiligheidsplan maken").check()
    for name in ("Signalen", "Veiligheidsplan", "Zorgteam"):  # Dutch labels, never codes
        page.get_by_label(re.compile("^" + name)).check()
    page.get_by_role("button", name="Toestemming vastleggen").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Toestemming vastgelegd"
    cid = page.locator("code").first.inner_text()

    # the receipt prints on its own
    receipt = context.new_page()
    receipt.goto(jeugd + page.get_by_role("link", name="Bewijs van toestemming afdrukken").get_attribute("href"))
    assert receipt.get_by_role("heading", level=1).inner_text() == "Bewijs van uw toestemming"
    assert cid in receipt.content() and "Status:</strong> geldig" in receipt.content()
    receipt.close()

    # -- ask GGZ Noord for the summary and read it -------------------------------------------
    page.get_by_role("link", name="Samenvatting opvragen").click()
    assert_labelled(page)
    page.get_by_label("Bij welke organisatie").select_option("ggz-noord")
    page.get_by_label("Samen een veiligheidsplan maken").check()
    for name in ("Signalen", "Veiligheidsplan", "Zorgteam"):  # Dutch labels, never codes
        page.get_by_label(re.compile("^" + name)).check()
    page.get_by_role("button", name="Samenvatting opvragen").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Samenvatting van ggz-noord"
    body = page.locator("main").inner_text()
    assert "Slaapt slecht en trekt zich terug" in body  # signals
    assert "Oma vangt de kinderen op bij terugval" in body  # a safety-plan step
    assert "050-1234567" in body and "J. de Vries, SPV" in body  # care team with contact
    assert cid in body and "1.0.0" in body  # the consent and the profile version it came under
    for never in ("sertraline", "F33", "depressieve"):
        assert never not in body
    for heading in ("Signalen", "Veiligheidsplan", "Zorgteam"):
        assert page.get_by_role("heading", level=2, name=heading).count() == 1

    # -- the family overview of her child: every partner at once, nothing stored -----------
    page.goto(jeugd + "/")
    page.get_by_role("link", name="Cliënt zoeken").first.click()
    page.get_by_label("Naam").fill("Noor")
    page.get_by_role("button", name="Zoeken").click()
    page.get_by_role("link", name="Noor Jansen").click()
    page.get_by_role("link", name="Gezinsoverzicht").click()
    page.get_by_role("button", name="Gezinsoverzicht ophalen").click()
    column = page.locator("article.column").first
    assert "ggz-noord over Sanne Jansen" in column.inner_text()
    assert "Oma vangt de kinderen op bij terugval" in column.inner_text()

    # -- revoke; the next request is refused and explained in Dutch --------------------------
    page.get_by_role("link", name="Terug naar Noor Jansen").click()
    page.get_by_role("link", name="Sanne Jansen").click()  # her mother, from the family table
    page.get_by_role("link", name=re.compile("^Intrekken")).first.click()
    page.get_by_label(re.compile("de persoon zelf")).check()  # she withdraws it herself (issue 20.4)
    page.get_by_role("button", name="Ja, toestemming intrekken").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Toestemming ingetrokken"
    page.get_by_role("link", name="Terug naar Sanne Jansen").click()
    page.get_by_role("link", name="Samenvatting opvragen").click()
    page.get_by_label("Bij welke organisatie").select_option("ggz-noord")
    page.get_by_label("Samen een veiligheidsplan maken").check()
    page.get_by_label(re.compile("^Signalen")).check()
    page.get_by_role("button", name="Samenvatting opvragen").click()
    refusal = page.get_by_role("alert").inner_text()
    assert "geen geldige toestemming" in refusal.lower() or "ingetrokken" in refusal.lower(), refusal
    watch.check()

    # -- GGZ Noord's privacy officer finds the disclosure ------------------------------------
    officer = context.browser.new_context(locale="nl-NL").new_page()
    watch2 = Watch(officer)
    login(officer, ggz, PRIVACY_OFFICER)
    officer.get_by_role("link", name="Logboek").first.click()
    assert_labelled(officer)
    officer.get_by_label("Persoon (BSN)").fill(MOTHER)
    officer.get_by_label("Partnerorganisatie").select_option("jeugdteam-west")
    officer.get_by_role("button", name="Zoeken").click()
    rows = officer.locator("table.timeline tbody tr")
    sent = rows.filter(has_text="Samenvatting verstrekt aan een partnerorganisatie")
    assert sent.count() == 2  # the one read, and the family overview's
    assert "uzi:900000303" in sent.first.inner_text() and "jeugdteam-west" in sent.first.inner_text()

    officer.get_by_role("link", name="Controle logboek").click()
    assert "Het logboek is intact" in officer.locator("main").inner_text()

    officer.goto(ggz + "/")
    officer.get_by_role("link", name="Overzicht voor een persoon").first.click()
    officer.get_by_label("BSN van de persoon").fill(MOTHER)
    officer.get_by_role("button", name="Overzicht maken").click()
    assert officer.get_by_role("heading", level=1).inner_text() == "Overzicht van gedeelde gegevens"
    shared = officer.locator("table").first.inner_text()
    assert "jeugdteam-west" in shared and "samen een veiligheidsplan maken" in shared
    assert "hulpverlener met UZI-nummer 900000303" in shared
    watch2.check()


def test_someone_without_a_role_gets_no_session(web_fed: Any, context: Any) -> None:
    page = context.new_page()
    page.goto(web_fed.jeugd.url + "/")
    page.get_by_role("link", name=re.compile("Inloggen")).click()
    page.get_by_label("Gebruikersnaam").fill(NO_ROLE.username)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    assert "geen rol voor deze toepassing" in page.locator("main").inner_text()
    page.goto(web_fed.jeugd.url + "/clienten")
    assert page.get_by_role("heading", level=1).inner_text() == "Inloggen"


def test_a_privacy_officer_cannot_open_professional_pages(web_fed: Any, context: Any) -> None:
    page = context.new_page()
    login(page, web_fed.jeugd.url, PRIVACY_OFFICER)
    resp = page.goto(web_fed.jeugd.url + "/clienten")
    assert resp is not None and resp.status == 403
    assert "alleen voor de rol professional" in page.locator("main").inner_text()


def test_a_form_posted_from_another_site_is_refused(web_fed: Any, context: Any) -> None:
    """CSRF: a logged-in professional's browser posts a form from elsewhere; nothing happens."""
    page = context.new_page()
    login(page, web_fed.jeugd.url, PROFESSIONAL)
    page.goto(web_fed.idp.issuer + "/.well-known/openid-configuration")  # any other origin
    resp = page.request.post(
        web_fed.jeugd.url + "/clienten/zoeken", form={"bsn": MOTHER}, headers={"Origin": web_fed.idp.issuer}
    )
    assert resp.status == 400
    assert "Sanne" not in resp.text()
