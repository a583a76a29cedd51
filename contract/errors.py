"""Domain errors, one class per stable reason code (contract section 4, "Refusals").

Each class carries the contract's reason ``code`` and a Dutch explanation for the
professional or privacy officer who reads the refusal. The HTTP status belongs to the
one mapping in ``gateway.http.outcomes``; the domain never speaks HTTP.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every expected, explainable refusal or failure."""

    code = "invalid-request"
    message_nl = "Het verzoek is ongeldig."

    def __init__(self, detail: str | None = None, *, expression: tuple[str, ...] = (), diagnostics: str = "") -> None:
        """``detail`` is the Dutch text for people; ``expression`` (FHIRPath of the offending
        elements) and ``diagnostics`` (English) are for programs (FHIR OperationOutcome.issue)."""
        self.detail = detail or self.message_nl
        self.expression = tuple(expression)
        self.diagnostics = diagnostics
        super().__init__(self.detail)


class InvalidRequest(GatewayError):
    """The request is malformed or misses a required element."""

    code = "invalid-request"
    message_nl = "Het verzoek is ongeldig of onvolledig."


class UnknownPartner(GatewayError):
    """The caller is not a trusted partner of this node."""

    code = "unknown-partner"
    message_nl = "De aanvragende organisatie is geen vertrouwde partner van deze node."


class BadSignature(GatewayError):
    """A token's signature, algorithm, type or key does not verify."""

    code = "bad-signature"
    message_nl = "De handtekening van het toestemmingstoken is ongeldig."


class TokenExpired(GatewayError):
    """The token is outside its validity window (clock skew at most 60 s)."""

    code = "token-expired"
    message_nl = "Het toestemmingstoken is verlopen of nog niet geldig."


class Replay(GatewayError):
    """A single-use value (exchange id, assertion jti) was presented twice."""

    code = "replay"
    message_nl = "Dit verzoek is al eerder ontvangen en wordt niet opnieuw beantwoord."


class WrongAudience(GatewayError):
    """This node is not among the token's audience (holders)."""

    code = "wrong-audience"
    message_nl = "Het toestemmingstoken is niet bestemd voor deze organisatie."


class ConsentRevoked(GatewayError):
    """The consent behind the token is no longer active at its issuer."""

    code = "consent-revoked"
    message_nl = "De toestemming is ingetrokken of niet meer geldig."


class PurposeMismatch(GatewayError):
    """The requested purpose is not the consented purpose."""

    code = "purpose-mismatch"
    message_nl = "Het gevraagde doel valt buiten de gegeven toestemming."


class CategoryNotConsented(GatewayError):
    """A requested category lies outside the consented categories."""

    code = "category-not-consented"
    message_nl = "Eén of meer gevraagde categorieën vallen buiten de gegeven toestemming."


class NotShareable(GatewayError):
    """The purpose may not see the category, or the content may not leave the node."""

    code = "not-shareable"
    message_nl = "Deze gegevens mogen voor dit doel niet worden gedeeld."


class SubjectUnknown(GatewayError):
    """The subject is unknown here (said without revealing whether they are in care)."""

    code = "subject-unknown"
    message_nl = "Over deze persoon kan geen samenvatting worden gegeven."


class ConsentStatusUnavailable(GatewayError):
    """The issuer could not confirm the consent is active: refuse, never guess."""

    code = "consent-status-unavailable"
    message_nl = "De status van de toestemming kon niet bij de uitgever worden gecontroleerd."


class GranteeMismatch(GatewayError):
    """A trusted partner presents a token granted to another organisation."""

    code = "grantee-mismatch"
    message_nl = "Het toestemmingstoken is aan een andere organisatie verleend."


class SubjectMismatch(GatewayError):
    """The request's subject is not the token's subject."""

    code = "subject-mismatch"
    message_nl = "De persoon in het verzoek is niet de persoon van de toestemming."


class PartnerUnavailable(GatewayError):
    """The partner node could not be reached or answered nonsense."""

    code = "partner-unavailable"
    message_nl = "De partnerorganisatie is niet bereikbaar."


class PartnerTimeout(GatewayError):
    """The partner node did not answer within the deadline."""

    code = "partner-timeout"
    message_nl = "De partnerorganisatie antwoordde niet op tijd."


class BadPartnerSignature(GatewayError):
    """The holder's signature on a summary did not verify against its pinned keys."""

    code = "bad-partner-signature"
    message_nl = "De handtekening van de partnerorganisatie op de samenvatting klopt niet."


class StoreUnavailable(GatewayError):
    """The store (or the audit log) cannot be written: nothing is disclosed."""

    code = "store-unavailable"
    message_nl = "De gegevensopslag is niet beschikbaar; er is niets gedeeld."


class IssuerNotParty(GatewayError):
    """The token's issuer is neither the holder nor the grantee, nor a registrar it accepts.

    Contract section 4: a node records and issues consents only for exchanges it is a party
    to; a token from any other issuer is refused unless the holder's own configuration names
    that issuer as a consent registrar (``[consent] registrars``).
    """

    code = "issuer-not-party"
    message_nl = "Het toestemmingstoken is uitgegeven door een organisatie die geen partij is bij deze uitwisseling."


class NotAParty(InvalidRequest):
    """A consent to be recorded names this node neither as holder nor as recipient.

    Contract section 4: ``POST /fhir/Consent`` refuses it with 422 ``invalid-request``; a
    node records consents only for exchanges it is a party to (a ``findable`` consent names
    only holders, and this node among them).
    """

    http_status = 422
    message_nl = (
        "Deze organisatie kan deze toestemming niet vastleggen: zij is er geen partij bij "
        "(niet als ontvanger en niet als houder van de gegevens)."
    )


# --- errors outside the exchange's refusal list --------------------------------------


class GrantorsInsufficient(GatewayError):
    """The grantors do not satisfy the Dutch rules for the subject (contract section 6)."""

    code = "grantors-insufficient"
    message_nl = "De toestemming is niet door de juiste personen gegeven."


class NotFound(GatewayError):
    """The addressed resource does not exist."""

    code = "not-found"
    message_nl = "Niet gevonden."


class Unauthenticated(GatewayError):
    """No valid bearer token accompanies the call."""

    code = "unauthenticated"
    message_nl = "Aanmelding vereist: geen geldig toegangstoken."


class InvalidToken(Unauthenticated):
    """A bearer token was presented but is not valid here (RFC 6750 ``invalid_token``)."""

    message_nl = "Het toegangstoken is ongeldig of verlopen."


class Forbidden(GatewayError):
    """The caller's role may not use this endpoint."""

    code = "forbidden"
    message_nl = "U heeft geen toegang tot deze functie."


class Conflict(GatewayError):
    """The request conflicts with the current state (e.g. a consent already revoked)."""

    code = "conflict"
    message_nl = "Het verzoek botst met de huidige toestand."


class IdempotencyKeyReused(GatewayError):
    """An ``Idempotency-Key`` this client already used for a different request (issue 20.1)."""

    code = "idempotency-key-reused"
    message_nl = (
        "Deze Idempotency-Key is al gebruikt voor een ander verzoek. Gebruik voor elk nieuw verzoek een nieuwe sleutel."
    )


REFUSAL_CODES: tuple[str, ...] = (
    "unknown-partner",
    "bad-signature",
    "token-expired",
    "replay",
    "wrong-audience",
    "consent-revoked",
    "purpose-mismatch",
    "category-not-consented",
    "not-shareable",
    "subject-unknown",
    "consent-status-unavailable",
    "invalid-request",
    "grantee-mismatch",
    "subject-mismatch",
    "partner-unavailable",
    "partner-timeout",
    "bad-partner-signature",
    "store-unavailable",
    "issuer-not-party",
)


class NodeBusy(GatewayError):
    """Every thread that may call partners is in use; retry shortly (nothing was sent)."""

    code = "node-busy"
    message_nl = "Deze node is op dit moment te druk; probeer het over enkele seconden opnieuw."

    def __init__(self, detail: str | None = None, *, retry_after: int = 2) -> None:
        super().__init__(detail)
        self.retry_after = retry_after  # seconds, for the Retry-After header


class LocatorEpochChanged(GatewayError):
    """A ``$locator-match`` names an epoch that is no longer this node's (contract section 8):
    the findable set or its key changed; fetch ``$locator-setup`` again."""

    code = "locator-epoch-changed"
    message_nl = "De zoekgegevens van deze organisatie zijn vernieuwd; haal de nieuwe setup op en vraag opnieuw."


class FederationListExpired(GatewayError):
    """Contract section 7: once the list in force is past valid-until, members trusted only
    through it are refused, and ``/readyz`` says so (also before any list was applied)."""

    code = "federation-list-expired"
    message_nl = "De federatielijst van deze node is verlopen; organisaties uit die lijst worden geweigerd."


class PartnerRefusal(GatewayError):
    """A partner's own refusal, passed through as its OperationOutcome and status."""

    code = "partner-refusal"
    message_nl = "De partnerorganisatie weigerde het verzoek."

    def __init__(self, status: int, body: dict[str, object], reason: str) -> None:
        super().__init__(self.message_nl)
        self.status = status
        self.body = body
        self.reason = reason
