"""The identity API: Finrail's own OAuth2 authorization server for machine clients.

* ``POST /oauth/token`` — the client credentials grant (RFC 6749 §4.4) with
  ``client_secret_basic`` or ``client_secret_post`` authentication, answering RFC 9068 JWTs;
  errors in the RFC 6749 §5.2 format, throttled per client id and per source address so
  that secrets cannot be guessed at speed.
* ``POST /oauth/introspect`` — RFC 7662 introspection for resource servers (governed).
* ``GET /.well-known/jwks.json`` and ``GET /.well-known/oauth-authorization-server`` —
  the public keys and the RFC 8414 metadata.

The handlers carry their full paths; the gateway mounts them under ``/oauth`` and
``/.well-known`` together with the policy chain.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal
from urllib.parse import unquote_plus

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body

from gateway.dependencies import CatalogDependency, Services
from policies.call import current_call, governed, public
from policies.problems import Problem, problem_response, problem_spec
from policies.services import PolicyServices
from policies.throttling import too_many
from policies.tokens import InvalidScopeError, IssuedToken

__all__ = [
    "AuthorizationServerMetadata",
    "IntrospectionRequest",
    "IntrospectionResponse",
    "JsonWebKey",
    "JsonWebKeySet",
    "OAuthError",
    "OAuthErrorBody",
    "TokenRequest",
    "identity_handlers",
]

REALM = "finrail"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
"""RFC 6749 §5.1: token responses must not be cached anywhere."""

ErrorCode = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
]


class OAuthErrorBody(msgspec.Struct, frozen=True, omit_defaults=True):
    """An OAuth2 error response (RFC 6749 §5.2)."""

    error: ErrorCode
    """Error code defined by RFC 6749 §5.2."""
    error_description: str | None = None
    """What went wrong, for the developer of the client."""


class OAuthError(Exception):
    """Raised by the identity handlers to answer in the RFC 6749 §5.2 format."""

    def __init__(
        self, status: int, error: ErrorCode, description: str, *, basic_challenge: bool = False
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error: ErrorCode = error
        self.description = description
        self.basic_challenge = basic_challenge


def _oauth_error_response(_: Request[Any, Any, Any], exc: OAuthError) -> Response[OAuthErrorBody]:
    headers = dict(NO_STORE)
    if exc.basic_challenge:
        headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
    return Response(
        OAuthErrorBody(error=exc.error, error_description=exc.description),
        status_code=exc.status,
        headers=headers,
    )


def _bad_form_response(request: Request[Any, Any, Any], exc: ValidationException) -> Response[OAuthErrorBody]:
    # msgspec names the offending form field in its message ("... - at `$.grant_type`").
    items = exc.extra if isinstance(exc.extra, list) else []
    reasons = sorted(
        {
            f"{item['key']}: {item.get('message', 'invalid')}" if item.get("key") not in (None, "data")
            else str(item.get("message", "invalid"))
            for item in items
            if isinstance(item, dict)
        }
    )
    detail = "; ".join(reasons) if reasons else "the form parameters are malformed"
    detail += "; send grant_type=client_credentials, each parameter once, as text"
    return _oauth_error_response(request, OAuthError(400, "invalid_request", detail))


def _no_store_problem(request: Request[Any, Any, Any], exc: Problem) -> Response[bytes]:
    response = problem_response(exc, request)
    response.headers.update(NO_STORE)
    return response


_OAUTH_EXCEPTION_HANDLERS: dict[Any, Any] = {
    OAuthError: _oauth_error_response,
    ValidationException: _bad_form_response,
    Problem: _no_store_problem,
}


class TokenRequest(msgspec.Struct, frozen=True):
    """A token request (RFC 6749 §4.4.2), sent as ``application/x-www-form-urlencoded``."""

    grant_type: Annotated[str, msgspec.Meta(min_length=1)]
    """Must be ``client_credentials``, the only grant Finrail supports."""
    scope: str | None = None
    """Scopes wanted, space separated; all of the client's scopes when omitted."""
    client_id: str | None = None
    """Client id, when the client authenticates in the body (``client_secret_post``)
    instead of HTTP Basic."""
    client_secret: str | None = None
    """Client secret, with ``client_id``, for ``client_secret_post``."""


class IntrospectionRequest(msgspec.Struct, frozen=True):
    """An introspection request (RFC 7662 §2.1), sent as ``application/x-www-form-urlencoded``."""

    token: Annotated[str, msgspec.Meta(min_length=1)]
    """The access token to introspect."""
    token_type_hint: str | None = None
    """Optional hint (``access_token``); Finrail only issues access tokens."""


class IntrospectionResponse(msgspec.Struct, frozen=True, omit_defaults=True):
    """An introspection answer (RFC 7662 §2.2); just ``{"active": false}`` for a bad token."""

    active: bool
    """Whether the token is valid, unexpired, for this audience and of an active client."""
    scope: str | None = None
    """Granted scopes, space separated."""
    client_id: str | None = None
    """Client the token was issued to."""
    sub: str | None = None
    """Subject of the token."""
    exp: int | None = None
    """Expiry (Unix time)."""
    iat: int | None = None
    """Issue time (Unix time)."""
    iss: str | None = None
    """Issuer."""
    aud: list[str] | None = None
    """Audiences."""
    token_type: str | None = None
    """``Bearer``."""
    jti: str | None = None
    """Unique id of the token."""


class JsonWebKey(msgspec.Struct, frozen=True, omit_defaults=True):
    """A public JSON Web Key (RFC 7517); never holds private members."""

    kty: str
    """Key type: ``EC`` or ``RSA``."""
    kid: str
    """Key id; access tokens name it in their header."""
    use: Literal["sig"]
    """Always ``sig``: the keys verify signatures."""
    alg: str | None = None
    """Algorithm the key signs with: ``ES256`` or ``RS256``."""
    crv: str | None = None
    """Curve of an EC key."""
    x: str | None = None
    """X coordinate of an EC key."""
    y: str | None = None
    """Y coordinate of an EC key."""
    n: str | None = None
    """Modulus of an RSA key."""
    e: str | None = None
    """Exponent of an RSA key."""


class JsonWebKeySet(msgspec.Struct, frozen=True):
    """The public keys that verify Finrail's tokens (RFC 7517 §5)."""

    keys: list[JsonWebKey]
    """The active key, and retired keys until the tokens they signed have expired."""


class AuthorizationServerMetadata(msgspec.Struct, frozen=True):
    """Authorization server metadata (RFC 8414 §2)."""

    issuer: str
    """The ``iss`` of Finrail's tokens."""
    token_endpoint: str
    """Where clients get tokens."""
    jwks_uri: str
    """Where the public keys are published."""
    introspection_endpoint: str
    """Where resource servers introspect tokens."""
    grant_types_supported: list[str]
    """Only ``client_credentials``."""
    token_endpoint_auth_methods_supported: list[str]
    """``client_secret_basic`` and ``client_secret_post``."""
    scopes_supported: list[str]
    """Every scope of every API in the catalog."""
    response_types_supported: list[str]
    """Empty: no authorization endpoint, machine clients only."""


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        detail = "the Basic credentials are not valid base64"
        raise OAuthError(401, "invalid_client", detail, basic_challenge=True) from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        detail = "the Basic credentials lack the ':' between client id and secret"
        raise OAuthError(401, "invalid_client", detail, basic_challenge=True)
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)


def _source_address(request: Request[Any, Any, Any]) -> str:
    try:
        address = current_call(request.scope).remote_addr
    except LookupError:
        address = ""
    if not address and request.client is not None:
        address = request.client.host
    return address or "unknown"


async def _throttle(services: PolicyServices, namespace: str, key: str, rate: str, who: str) -> None:
    decision = await services.throttle.hit_key(namespace, key, rate)
    if not decision.allowed:
        raise too_many(decision, f"too many token requests from {who}; retry after {decision.retry_after} s")


_TOKEN_RESPONSES = {
    400: ResponseSpec(
        OAuthErrorBody,
        description="`invalid_request`, `unsupported_grant_type` or `invalid_scope` (RFC 6749 §5.2).",
        generate_examples=False,
    ),
    401: ResponseSpec(
        OAuthErrorBody,
        description="`invalid_client`: unknown client, wrong secret or disabled client (RFC 6749 §5.2).",
        generate_examples=False,
    ),
    429: problem_spec("Too many token requests for this client id or from this address."),
}

_FORM = Body(media_type=RequestEncodingType.URL_ENCODED, title="Token request")


@post(
    "/oauth/token",
    opt=public("token"),
    status_code=200,
    summary="Get an access token (client credentials)",
    description=(
        "RFC 6749 §4.4 client credentials grant. Authenticate with HTTP Basic "
        "(`client_secret_basic`) or with `client_id` and `client_secret` in the form "
        "(`client_secret_post`), not both. The token is an RFC 9068 JWT verifiable with the "
        "keys at `/.well-known/jwks.json`."
    ),
    tags=["identity"],
    exception_handlers=_OAUTH_EXCEPTION_HANDLERS,
    responses=_TOKEN_RESPONSES,
    response_headers=[
        ResponseHeader(name="Cache-Control", value="no-store", description="Tokens are never cached."),
        ResponseHeader(name="Pragma", value="no-cache", description="Tokens are never cached (HTTP/1.0)."),
    ],
)
async def token(
    request: Request[Any, Any, Any],
    data: Annotated[TokenRequest, _FORM],
    services: Services,
) -> Response[IssuedToken]:
    """Issue an access token to a client that proves its identity with its secret."""
    rate = services.tokens.config.token_endpoint_rate
    await _throttle(services, "token-address", _source_address(request), rate, "this address")
    if not data.grant_type:
        raise OAuthError(400, "invalid_request", "grant_type is required; use client_credentials")
    if data.grant_type != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", "only the client_credentials grant is supported")
    authorization = request.headers.get("authorization")
    basic = _basic_credentials(authorization) if authorization else None
    if basic is not None and (data.client_id is not None or data.client_secret is not None):
        detail = "authenticate with HTTP Basic or with form credentials, not both"
        raise OAuthError(400, "invalid_request", detail)
    if basic is not None:
        client_id, secret = basic
    elif data.client_id and data.client_secret is not None:
        client_id, secret = data.client_id, data.client_secret
    else:
        raise OAuthError(
            401,
            "invalid_client",
            "client authentication is required: HTTP Basic, or client_id and client_secret in the form",
            basic_challenge=True,
        )
    await _throttle(services, "token-client", client_id, rate, "this client id")
    client = await services.clients.authenticate(client_id, secret)
    if client is None:
        raise OAuthError(
            401,
            "invalid_client",
            "client authentication failed: unknown client, wrong secret or disabled client",
            basic_challenge=basic is not None,
        )
    try:
        issued = await services.tokens.issue(client, data.scope)
    except InvalidScopeError as exc:
        raise OAuthError(400, "invalid_scope", exc.detail) from None
    return Response(issued, headers=NO_STORE)


@post(
    "/oauth/introspect",
    opt=governed("identity:introspect"),
    status_code=200,
    summary="Introspect an access token",
    description=(
        "RFC 7662 token introspection. Any token that is not valid here (malformed, forged, "
        'expired, another audience, a disabled client) answers exactly `{"active": false}`.'
    ),
    tags=["identity"],
    exception_handlers=_OAUTH_EXCEPTION_HANDLERS,
    responses={
        400: ResponseSpec(
            OAuthErrorBody,
            description="`invalid_request`: the token parameter is missing.",
            generate_examples=False,
        )
    },
    response_headers=[ResponseHeader(name="Cache-Control", value="no-store", description="Never cached.")],
)
async def introspect(
    data: Annotated[IntrospectionRequest, Body(media_type=RequestEncodingType.URL_ENCODED)],
    services: Services,
) -> IntrospectionResponse:
    """Tell a resource server whether a token is active, and what it grants."""
    if not data.token:
        raise OAuthError(400, "invalid_request", "the token parameter is required")
    return msgspec.convert(await services.tokens.introspect(data.token), IntrospectionResponse)


@get(
    "/.well-known/jwks.json",
    opt=public("jwks"),
    summary="Public signing keys (JWKS)",
    description="Keys that verify Finrail's access tokens, by `kid`; public parts only.",
    tags=["identity"],
    sync_to_thread=False,
)
def jwks(services: Services) -> JsonWebKeySet:
    """The published keys, so that any resource server can verify tokens offline."""
    return msgspec.convert(services.keys.jwks(), JsonWebKeySet)


@get(
    "/.well-known/oauth-authorization-server",
    opt=public("metadata"),
    summary="Authorization server metadata (RFC 8414)",
    tags=["identity"],
    sync_to_thread=False,
)
def metadata(services: Services, catalog: CatalogDependency) -> AuthorizationServerMetadata:
    """Where the endpoints are and what they support, for clients that discover them."""
    issuer = services.tokens.config.issuer
    base = issuer.rstrip("/")
    return AuthorizationServerMetadata(
        issuer=issuer,
        token_endpoint=f"{base}/oauth/token",
        jwks_uri=f"{base}/.well-known/jwks.json",
        introspection_endpoint=f"{base}/oauth/introspect",
        grant_types_supported=["client_credentials"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
        scopes_supported=sorted(catalog.scopes),
        response_types_supported=[],
    )


identity_handlers: list[Any] = [token, introspect, jwks, metadata]
"""Route handlers of the identity API, with their full paths."""
