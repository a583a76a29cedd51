"""Public discovery: the conformance resources and SMART configuration (issue 21).

``GET /fhir/{CodeSystem|StructureDefinition|OperationDefinition|NamingSystem}`` (searchset,
``?url=`` resolves a canonical) and ``/{id}`` (read) answer every canonical the node emits
(``gateway.http.conformance``). ``GET /.well-known/smart-configuration`` is SMART App Launch 2.0
discovery for SMART Backend Services: the token endpoint, ``client_credentials``, the two
client authentication methods and the scopes a token can carry (``gateway.http.scopes``).
"""

from __future__ import annotations

from flask import Blueprint, Response, json, request

from contract.errors import NotFound
from gateway.current import node_of
from gateway.fhir import searchset
from gateway.fhir.fhirjson import fhir_response
from gateway.http import conformance, scopes
from gateway.http.openapi import CONFORMANCE_TYPES

bp = Blueprint("conformance", __name__)
KINDS = f"<any({', '.join(CONFORMANCE_TYPES)}):kind>"


@bp.get(f"/fhir/{KINDS}")
def search(kind: str) -> Response:
    pg = searchset.page(request.args, known={"url"}, prefer=request.headers.get("Prefer", ""))
    found = conformance.search(kind, request.args.get("url"))
    base = node_of().config.node.url.rstrip("/")
    return fhir_response(
        searchset.bundle(
            found[pg.offset : pg.offset + pg.count],
            len(found),
            pg,
            self_url=f"{base}/fhir/{kind}",
            params=searchset.params_of(request.args, {"url"}),
            full_url=lambda r: conformance.canonical_of(r),
        )
    )


@bp.get(f"/fhir/{KINDS}/<rid>")
def read(kind: str, rid: str) -> Response:
    found = conformance.read(kind, rid)
    if found is None:
        raise NotFound(f"{kind}/{rid[:64]} wordt door deze node niet gepubliceerd.")
    return fhir_response(found)


@bp.get("/.well-known/smart-configuration")
def smart_configuration() -> Response:
    cfg = node_of().config
    body = {
        "issuer": cfg.node.url.rstrip("/"),
        "jwks_uri": cfg.node.url.rstrip("/") + "/.well-known/jwks.json",
        "token_endpoint": cfg.token_url,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "EdDSA"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": scopes.supported(),
        "capabilities": ["client-confidential-asymmetric", "client-confidential-symmetric", "permission-v2"],
        "code_challenge_methods_supported": [],
    }
    resp = Response(json.dumps(body), mimetype="application/json")
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp
