"""OAuth 2.0 Authorization Server Metadata (RFC 8414) at ``/.well-known/oauth-authorization-server``:
what a client needs to get a token from the metadata alone.

Its URLs are under the gateway's own public origin (``CXG_PUBLIC_URL``, or the address bound),
never under what a request says about its own URL (``Host``, ``Forwarded``). The ``cxg_``
members are this gateway's extensions (RFC 8414 section 2 allows more members); each is
described in the OpenAPI document and in the README ("Access").
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from gateway.service.tokens import GRANT_TYPE, TOKEN_LIFETIME, TokenService
from gateway.signing import SUPPORTED_ALGORITHMS
from gateway.transport.rest._guard import GuardedRoute
from gateway.transport.rest.deps import ServicesDep
from gateway.transport.rest.oauth import TOKEN_PATH
from gateway.trust.assertions import MAX_FUTURE_SKEW, MAX_LIFETIME
from gateway.trust.dpop import MAX_PROOF_AGE, NONCE_WINDOW

METADATA_PATH = "/.well-known/oauth-authorization-server"
JWKS_PATH = "/.well-known/jwks.json"  # served by gateway/transport/rest/app.py (GetJwks)

_STRINGS = {"type": "array", "items": {"type": "string"}}
# (member, JSON schema, description): the document's members, standard ones first.
_MEMBERS: tuple[tuple[str, dict[str, Any], str], ...] = (
    (
        "issuer",
        {"type": "string"},
        "The issuer identifier: every access token's iss and aud, and the one aud a client "
        "assertion may have (the gateway id, CXG_GATEWAY_ID; a host name, not an https URL).",
    ),
    ("token_endpoint", {"type": "string", "format": "uri"}, "POST here for a token."),
    ("jwks_uri", {"type": "string", "format": "uri"}, "The gateway's public signing keys."),
    ("grant_types_supported", _STRINGS, "client_credentials only."),
    ("response_types_supported", _STRINGS, "None: there is no authorization endpoint."),
    (
        "token_endpoint_auth_methods_supported",
        _STRINGS,
        "private_key_jwt (RFC 7523) only, over mutual TLS too: a client certificate binds the "
        "token, it does not authenticate the client (no tls_client_auth).",
    ),
    (
        "token_endpoint_auth_signing_alg_values_supported",
        _STRINGS,
        "Algorithms of client assertions: those of the partners' registered keys.",
    ),
    ("dpop_signing_alg_values_supported", _STRINGS, "Algorithms of DPoP proofs (RFC 9449)."),
    (
        "tls_client_certificate_bound_access_tokens",
        {"type": "boolean"},
        "True when the gateway serves mutual TLS: a token asked for without a DPoP proof is "
        "then bound to the client certificate (RFC 8705).",
    ),
    (
        "cxg_client_assertion_audience",
        {"type": "string"},
        "The aud a client assertion must have: exactly the issuer, one string (not a list, "
        "not the token endpoint's URL; draft-ietf-oauth-rfc7523bis).",
    ),
    (
        "cxg_max_assertion_lifetime_seconds",
        {"type": "integer"},
        "A client assertion's exp may be at most this far ahead of the gateway's clock.",
    ),
    (
        "cxg_max_clock_skew_seconds",
        {"type": "integer"},
        "An assertion's or proof's iat (and nbf) may be at most this far in the future.",
    ),
    ("cxg_access_token_lifetime_seconds", {"type": "integer"}, "expires_in of every token."),
    (
        "cxg_sender_constrained_access_tokens_required",
        {"type": "boolean"},
        "Always true: a token is bound to a DPoP key, or over mutual TLS to the client "
        "certificate; a bare bearer token is never issued.",
    ),
    (
        "cxg_dpop_proof_max_age_seconds",
        {"type": "integer"},
        "A DPoP proof is accepted this long after its iat; each jti once.",
    ),
    (
        "cxg_dpop_nonce",
        {"type": "string", "enum": ["optional", "required"]},
        "Server nonces (RFC 9449 section 8): required, or optional (a proof may carry the "
        "DPoP-Nonce of a token answer, which must then be valid).",
    ),
    (
        "cxg_dpop_nonce_lifetime_seconds",
        {"type": "integer"},
        "A nonce stays valid at least this long after it is sent (and at most twice as long).",
    ),
)
METADATA_SCHEMA = {
    "type": "object",
    "description": "RFC 8414 authorization server metadata; cxg_ members are this gateway's.",
    "required": [name for name, _, _ in _MEMBERS],
    "properties": {name: {**schema, "description": text} for name, schema, text in _MEMBERS},
}

router = APIRouter(route_class=GuardedRoute)


def authorization_server_metadata(tokens: TokenService) -> dict[str, Any]:
    """The metadata document, under the gateway's public origin."""
    base = tokens.origins[0]
    document = {
        "issuer": tokens.issuer,
        "token_endpoint": base + TOKEN_PATH,
        "jwks_uri": base + JWKS_PATH,
        "grant_types_supported": [GRANT_TYPE],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(SUPPORTED_ALGORITHMS),
        "dpop_signing_alg_values_supported": list(SUPPORTED_ALGORITHMS),
        "tls_client_certificate_bound_access_tokens": tokens.mtls,
        "cxg_client_assertion_audience": tokens.issuer,
        "cxg_max_assertion_lifetime_seconds": MAX_LIFETIME,
        "cxg_max_clock_skew_seconds": MAX_FUTURE_SKEW,
        "cxg_access_token_lifetime_seconds": TOKEN_LIFETIME,
        "cxg_sender_constrained_access_tokens_required": True,
        "cxg_dpop_proof_max_age_seconds": MAX_PROOF_AGE,
        "cxg_dpop_nonce": "required" if tokens.nonce_required else "optional",
        "cxg_dpop_nonce_lifetime_seconds": NONCE_WINDOW,
    }
    if list(document) != [name for name, _, _ in _MEMBERS]:  # documented as served
        raise AssertionError("the metadata members and their documentation differ")
    return document


@router.get(
    METADATA_PATH,
    operation_id="GetAuthorizationServerMetadata",
    summary="OAuth 2.0 Authorization Server Metadata (RFC 8414)",
    responses={
        200: {"description": "OK", "content": {"application/json": {"schema": METADATA_SCHEMA}}}
    },
)
async def get_metadata(services: ServicesDep) -> Response:
    return JSONResponse(
        authorization_server_metadata(services.tokens),
        headers={"Cache-Control": "public, max-age=300"},
    )
