"""OAuth 2.0 token endpoint (RFC 6749 client credentials) and bearer checks, with authlib.

Local clients authenticate with ``client_secret_basic`` (secrets stored as SHA-256: they
are 256-bit random values, so a slow hash adds nothing but latency). Partner nodes use
``private_key_jwt`` (RFC 7523 section 3 as profiled by SMART Backend Services):
``iss`` = ``sub`` = org id, ``aud`` = our token URL exactly, ``iat`` present, at most five
minutes of life (``exp`` - ``iat``, ``exp`` - now; the 60 s leeway is for skew only),
``typ`` ``JWT``, the form's ``client_id`` (if sent) naming the same client, ``jti`` single-use through an atomic insert (the failed insert
is the refusal, across workers and restarts). Access tokens are ``at+jwt`` (RFC 9068)
signed by the node key and verified with ``contract.jwt.decode_strict`` so that no other
token type is ever accepted as one. Errors are RFC 6749 section 5.2 JSON, the one
exception to the OperationOutcome rule.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError, InvalidScopeError, grants
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from adapters.store import UnitOfWorkFactory
from adapters.store.models import Client, UsedJti
from contract import jwt
from contract.errors import (
    BadSignature,
    Forbidden,
    GatewayError,
    InvalidRequest,
    InvalidToken,
    TokenExpired,
    Unauthenticated,
)
from gateway.http import scopes
from gateway.repositories.ports import NodeParts

ROLES = ("ehr", "professional", "privacy-officer", "admin")
PARTNER_ROLE = "partner"
AT_TYP = "at+jwt"
ASSERTION_TYP = "JWT"
MAX_ASSERTION_LIFETIME = 300
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""Local client ids: ASCII without ':' (RFC 7617 basic auth splits on the first colon)."""


def hash_secret(secret: str) -> str:
    return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


# --- authlib client models ---------------------------------------------------------------


@dataclass
class LocalClient(ClientMixin):
    client_id: str
    role: str
    secret_hash: str

    def get_client_id(self) -> str:
        return self.client_id

    # types-authlib says str; authlib only tests the answer for falsiness, and a
    # client-credentials client has no redirect URI
    def get_default_redirect_uri(self) -> None:  # type: ignore[override]
        return None

    # types-authlib says Collection[str] | str; authlib passes the request's scope string, or
    # None when the request names none
    def get_allowed_scope(self, scope: str | None) -> str:  # type: ignore[override]
        return scopes.grant(self.role, scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(hash_secret(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic" and endpoint == "token"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


@dataclass
class PartnerClient(LocalClient):
    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "private_key_jwt" and endpoint == "token"


class ClientCredentials(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "private_key_jwt"]  # noqa: RUF012 - authlib declares it an instance attribute; mypy refuses a ClassVar over it

    def validate_requested_scope(self) -> None:
        """A requested scope must lie within the client's role's (gateway.http.scopes)."""
        payload = self.request.payload
        if payload is None:  # authlib sets it before any grant runs: fail closed all the same
            raise InvalidScopeError(description="no token request to check the scope of")
        try:
            scopes.grant(self.client.role, payload.scope)
        except scopes.ScopeRefused as exc:
            raise InvalidScopeError(description=f"scope not granted to this client: {str(exc)[:80]}") from exc


class PrivateKeyJWT(JWTBearerClientAssertion):
    """RFC 7523 client assertion, verified with the strict shared JOSE rules."""

    # Final in types-authlib, but authlib reads self.CLIENT_AUTH_METHOD (the endpoint check, its
    # log line): a subclass names its own method, as authlib's documentation does
    CLIENT_AUTH_METHOD = "private_key_jwt"  # type: ignore[misc]

    def __init__(self, node: NodeParts) -> None:
        super().__init__(validate_jti=True, leeway=jwt.LEEWAY)
        self.node = node

    def __call__(self, query_client: Any, request: Any) -> Any:
        """RFC 7521 section 4.2: a ``client_id`` form field naming another client is refused.

        Checked before anything else, so such a request never uses up the assertion's jti.
        """
        form = request.form
        named = form.get("client_id")
        assertion = form.get("client_assertion")
        if named is not None and form.get("client_assertion_type") == self.CLIENT_ASSERTION_TYPE and assertion:
            try:
                claims = jwt.peek_claims(assertion, error=BadSignature)
            except GatewayError as exc:
                raise InvalidClientError(description=exc.detail) from exc
            if named != claims.get("sub") or named != claims.get("iss"):
                raise InvalidClientError(description="client_id names another client than the assertion's iss/sub")
        return super().__call__(query_client, request)

    def get_audiences(self) -> list[str]:
        return [self.node.config.token_url]

    def resolve_client_public_key(self, client: LocalClient) -> Any:
        return client  # the key set is resolved in process_assertion_claims, knowing the kid

    def process_assertion_claims(self, assertion: str, client: Any) -> dict[str, Any]:
        def keys_for(issuer: str, kid: str) -> Any:
            # asked only once the header passed the kernel: a forged header never re-fetches a JWKS
            keys = self.node.partners.keys_for(issuer, kid)
            if keys is None:
                raise InvalidClientError(description="unknown partner")
            return keys

        try:
            # a malformed token is invalid_client (RFC 6749 JSON), not an OperationOutcome
            _, _, claims = jwt.decode(assertion, keys_for, typ=ASSERTION_TYP, issuer=client.client_id)
            now = int(self.node.clock().timestamp())
            jwt.check_times(claims, now, max_lifetime=MAX_ASSERTION_LIFETIME, required=("exp", "iat"))
            check_assertion_lifetime(claims, now)
        except GatewayError as exc:
            raise InvalidClientError(description=exc.detail) from exc
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            raise InvalidClientError(description="iss and sub must be the partner's org id")
        if claims.get("aud") not in (self.node.config.token_url, [self.node.config.token_url]):
            raise InvalidClientError(description="aud must be this node's token URL")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > 255:
            raise InvalidClientError(description="jti missing")
        if not use_once(self.node.uow, client.client_id, jti, int(claims["exp"])):
            raise InvalidClientError(description="assertion replayed (jti used before)")
        return claims


def check_assertion_lifetime(claims: dict[str, Any], now: int) -> None:
    """Refuse a client assertion that lives longer than ``MAX_ASSERTION_LIFETIME`` (300 s).

    RFC 7523 section 3 and SMART Backend Services: ``exp`` at most five minutes ahead. The
    shared ``jwt.LEEWAY`` is for clock skew, not for lifetime: ``exp`` - ``iat`` and ``exp``
    - now are each at most 300 s, ``iat`` (required) lies at most the skew in the future
    (``jwt.check_times``) and is not older than the lifetime. ``check_times`` has run, so
    both claims are integers. Raises ``InvalidRequest`` (answered as ``invalid_client``).
    """
    iat, exp = int(claims["iat"]), int(claims["exp"])
    if exp - iat > MAX_ASSERTION_LIFETIME:
        raise InvalidRequest(f"assertion lives {exp - iat} s (exp - iat); at most {MAX_ASSERTION_LIFETIME} s")
    if exp - now > MAX_ASSERTION_LIFETIME:
        raise InvalidRequest(f"assertion exp is {exp - now} s ahead; at most {MAX_ASSERTION_LIFETIME} s")
    if now - iat > MAX_ASSERTION_LIFETIME:
        raise InvalidRequest(f"assertion was issued {now - iat} s ago; at most {MAX_ASSERTION_LIFETIME} s")


def use_once(uow_factory: UnitOfWorkFactory, issuer: str, jti: str, exp: int) -> bool:
    """Record ``jti`` as used; False when it was used before (atomic unique insert)."""
    expires = datetime.fromtimestamp(exp + jwt.LEEWAY, UTC)
    try:
        with uow_factory() as uow:
            uow.session.add(UsedJti(issuer=issuer, jti=jti, expires_at=expires))
            if secrets.randbelow(PRUNE_ONE_IN) == 0:
                # an expired jti can go: its assertion is refused on exp before it gets here
                uow.session.execute(delete(UsedJti).where(UsedJti.expires_at < datetime.now(UTC)))
            uow.commit()
    except IntegrityError:
        return False
    return True


#: about one successful assertion in this many also clears the expired jti rows
PRUNE_ONE_IN = 64


# --- the server ------------------------------------------------------------------------


def init_app(app: Any, node: NodeParts) -> AuthorizationServer:
    """Wire authlib's AuthorizationServer to the node's clients, partners and keys."""

    def query_client(client_id: str) -> LocalClient | None:
        if not isinstance(client_id, str) or not client_id:
            return None
        with node.uow(read_only=True) as uow:
            row = uow.session.get(Client, client_id)
            if row is not None and row.active:
                return LocalClient(row.client_id, row.role, row.secret_hash)
        if node.partners.is_trusted(client_id):
            return PartnerClient(client_id, PARTNER_ROLE, "")
        return None

    def generate(
        grant_type: str,
        client: LocalClient,
        user: Any = None,
        scope: Any = None,
        expires_in: Any = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        ttl = node.config.security.access_token_ttl
        now = int(node.clock().timestamp())
        kid, alg, key = node.keys.active
        granted = scopes.grant(client.role, scope)  # checked in validate_requested_scope already
        claims = {
            "iss": node.config.node.org_id,
            "sub": client.client_id,
            "aud": node.config.node.org_id,
            "role": client.role,
            "client_id": client.client_id,
            "scope": granted,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        # SMART Backend Services: the response names the scope granted (RFC 6749 section 5.1)
        return {
            "access_token": jwt.sign(claims, key, kid=kid, alg=alg, typ=AT_TYP),
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": granted,
        }

    server = AuthorizationServer(app, query_client=query_client, save_token=lambda token, request: None)
    # types-authlib asks for a BearerTokenGenerator; authlib calls any callable with these keyword
    # arguments (its documentation registers a plain function)
    server.register_token_generator("default", generate)  # type: ignore[arg-type]
    server.register_grant(ClientCredentials)
    server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT(node))
    return server


@dataclass(frozen=True)
class Caller:
    """Who is calling, as proven by a verified access token."""

    client_id: str
    role: str
    scope: tuple[str, ...] = ()

    @property
    def is_partner(self) -> bool:
        return self.role == PARTNER_ROLE


def verify_access_token(node: NodeParts, authorization: str | None) -> Caller:
    """Check a bearer ``at+jwt`` issued by this node; raise Unauthenticated otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():  # RFC 7235 2.1: the scheme is case-insensitive
        raise Unauthenticated()
    token = token.strip()
    try:
        _, claims = jwt.decode_strict(token, node.keys.verification_set(), typ=AT_TYP)
        jwt.check_times(claims, int(node.clock().timestamp()))
    except (BadSignature, TokenExpired, InvalidRequest) as exc:
        raise InvalidToken(f"Toegangstoken ongeldig: {exc.detail}") from exc
    org = node.config.node.org_id
    if claims.get("iss") != org or claims.get("aud") != org:
        raise InvalidToken("Toegangstoken is niet door deze node uitgegeven.")
    role, sub = claims.get("role"), claims.get("sub")
    if role not in (*ROLES, PARTNER_ROLE) or not isinstance(sub, str):
        raise InvalidToken("Toegangstoken zonder geldige rol.")
    granted = claims.get("scope")
    if granted is None:  # issued before tokens carried a scope: the role's own, as then
        granted = scopes.grant(role, None)
    if not isinstance(granted, str):
        raise InvalidToken("Toegangstoken met een ongeldige scope.")
    return Caller(client_id=sub, role=role, scope=tuple(granted.split()))


def require_role(caller: Caller, *roles: str) -> None:
    if caller.role not in roles:
        raise Forbidden(f"Rol '{caller.role}' heeft geen toegang tot deze functie.")


def require_scope(caller: Caller, method: str, path: str) -> None:
    """A REST interaction needs a granted SMART scope covering it (gateway.http.scopes)."""
    needed = scopes.interaction(method, path)
    if needed is not None and not scopes.permits(caller.scope, *needed):
        raise Forbidden(f"Het toegangstoken heeft geen scope system/{needed[0]}.{needed[1]} voor deze aanroep.")


def add_client(uow_factory: UnitOfWorkFactory, client_id: str, role: str, now: datetime | None = None) -> str:
    """Register a local client; return its secret (shown once, stored hashed)."""
    if role not in ROLES:
        raise InvalidRequest(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if not isinstance(client_id, str) or not CLIENT_ID.fullmatch(client_id):
        raise InvalidRequest(f"client id {client_id!r}: use 1-128 chars A-Z a-z 0-9 . _ - (no ':')")
    secret = new_secret()
    with uow_factory() as uow:
        if uow.session.get(Client, client_id) is not None:
            raise InvalidRequest(f"client {client_id!r} exists already")
        uow.session.add(
            Client(
                client_id=client_id,
                secret_hash=hash_secret(secret),
                role=role,
                created_at=now or datetime.now(UTC),
                active=True,
            )
        )
        uow.commit()
    return secret


def remove_client(uow_factory: UnitOfWorkFactory, client_id: str) -> bool:
    """Stop a local client: it can get no new access token. Its id stays taken, so the
    audit's ``client:<id>`` never names two applications. False when it was not active."""
    with uow_factory() as uow:
        row = uow.session.get(Client, client_id)
        if row is None or not row.active:
            return False
        row.active = False
        uow.commit()
    return True


def rotate_secret(uow_factory: UnitOfWorkFactory, client_id: str) -> str | None:
    """Give an active local client a new secret (the old one stops at once); None if unknown."""
    secret = new_secret()
    with uow_factory() as uow:
        row = uow.session.get(Client, client_id)
        if row is None or not row.active:
            return None
        row.secret_hash = hash_secret(secret)
        uow.commit()
    return secret
