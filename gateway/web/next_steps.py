"""What a professional can do after a refusal (issue 20.10), in plain Dutch.

A refusal's own text says what happened; this says what to do next. The reason code
stays on the page in small print, for the servicedesk.
"""

from __future__ import annotations

NEXT_STEP_NL: dict[str, str] = {
    "subject-unknown": ("De andere organisatie kent deze persoon niet, of mag niet zeggen dat ze hem of haar kent. "
                        "Vraag de cliënt bij welke organisatie hij of zij in zorg is, en controleer het BSN."),
    "consent-revoked": ("Er is geen geldige toestemming meer. Bespreek met de cliënt of de gezaghebbenden of zij "
                        "opnieuw toestemming willen geven, en leg die vast."),
    "category-not-consented": ("U vroeg om meer dan waarvoor toestemming is. Vraag alleen de soorten gegevens uit de "
                               "toestemming, of leg een nieuwe toestemming vast."),
    "purpose-mismatch": "Kies het doel uit de toestemming, of leg een toestemming voor dit doel vast.",
    "not-shareable": ("Deze soort gegevens mag voor dit doel nooit gedeeld worden. Kies een andere soort "
                      "gegevens, of bel de betrokken hulpverlener."),
    "wrong-audience": "De toestemming noemt deze organisatie niet als bron. Leg een toestemming vast die haar noemt.",
    "grantee-mismatch": "De toestemming is aan een andere organisatie gegeven. Leg een toestemming voor uw organisatie vast.",
    "subject-mismatch": "De toestemming gaat over iemand anders. Kies de toestemming van deze persoon.",
    "token-expired": "Probeer het nog eens; blijft dit gebeuren, meld het dan bij de servicedesk (klok van de server).",
    "bad-signature": "Probeer het nog eens; blijft dit gebeuren, meld het dan bij de servicedesk.",
    "replay": "Deze vraag was al gesteld. Stel de vraag opnieuw als u een nieuw antwoord nodig heeft.",
    "consent-status-unavailable": ("De toestemming kon nu niet gecontroleerd worden. Probeer het over een paar "
                                   "minuten opnieuw; bij spoed: bel de andere organisatie."),
    "partner-unavailable": "De andere organisatie is nu niet bereikbaar. Probeer het later, of bel bij spoed.",
    "partner-timeout": "De andere organisatie antwoordde niet op tijd. Probeer het later, of bel bij spoed.",
    "bad-partner-signature": ("Het antwoord kon niet gecontroleerd worden en wordt niet getoond. Meld dit bij de "
                              "privacy officer of de servicedesk."),
    "unknown-partner": ("Uw organisatie en de andere organisatie vertrouwen elkaar (nog) niet in dit systeem. "
                        "Meld het bij de servicedesk."),
    "invalid-request": ("Er is hier geen geldige toestemming die deze vraag dekt, of de vraag is onvolledig. "
                        "Leg eerst de toestemming vast, of vraag alleen wat de toestemming noemt."),
    "store-unavailable": "Er is een storing; er is niets gedeeld. Probeer het later opnieuw.",
    "node-busy": "Het systeem is even erg druk. Probeer het over enkele seconden opnieuw.",
}


def next_step(code: str) -> str:
    return NEXT_STEP_NL.get(code, "Probeer het later opnieuw, of neem contact op met de servicedesk.")
