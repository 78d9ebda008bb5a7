"""OAuth2 as the Concur sandbox does it: a token endpoint and bearer tokens on every API call.

``POST /oauth2/v0/token`` takes the client credentials grant (client id and secret in the
form, or as HTTP Basic) and answers a bearer token valid for an hour. Tokens are
self-contained (HMAC-signed with the client secret), so they stay valid across a restart of
the sandbox, as a real platform's do, and an expired or forged token is refused with 401.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import TYPE_CHECKING, Any, Literal

from litestar import Request, Response, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import URLEncodedBody

from platforms.expense.wire import OAuthError, TokenAnswer, TokenRequest

if TYPE_CHECKING:
    from platforms.kit.app import SandboxState

__all__ = ["TOKEN_PATH", "TOKEN_TTL_SECONDS", "issue_token", "require_bearer", "token_endpoint"]

TOKEN_PATH = "/oauth2/v0/token"  # noqa: S105 - a path, not a secret
TOKEN_TTL_SECONDS = 3600
SCOPES = "expense.report.read expense.report.readwrite user.read"


def _sign(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue_token(client_id: str, secret: str, now: float | None = None, ttl: int = TOKEN_TTL_SECONDS) -> str:
    """A bearer token for ``client_id`` that expires ``ttl`` seconds after ``now``."""
    expires = int((now if now is not None else time.time()) + ttl)
    payload = base64.urlsafe_b64encode(f"{client_id}:{expires}".encode()).decode().rstrip("=")
    return f"{payload}.{_sign(secret, payload)}"


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison; on ``str`` ``compare_digest`` raises for non-ASCII input, so compare bytes."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


def _valid(token: str, client_id: str, secret: str) -> bool:
    payload, _, signature = token.partition(".")
    if not _same(signature, _sign(secret, payload)):
        return False
    try:
        who, _, expires = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().partition(":")
        return who == client_id and int(expires) > time.time()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False


def _state(connection: ASGIConnection[Any, Any, Any, Any]) -> SandboxState:
    state: SandboxState = connection.app.state.sandbox
    return state


async def require_bearer(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard: the request must carry a valid bearer token of the configured client."""
    config = _state(connection).config
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not _valid(token.strip(), config.client_id, config.client_secret):
        raise NotAuthorizedException(
            "a valid bearer token is required", headers={"WWW-Authenticate": 'Bearer realm="concur"'}
        )


OAuthErrorCode = Literal["invalid_request", "invalid_client", "unsupported_grant_type"]


def _oauth_error(status: int, error: OAuthErrorCode, description: str) -> Response[Any]:
    return Response(OAuthError(error=error, error_description=description), status_code=status,
                    headers={"Cache-Control": "no-store"})


def _invalid_request(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """A malformed token request is answered in OAuth2's format (RFC 6749 5.2), not Concur's."""
    return _oauth_error(400, "invalid_request", "the form needs grant_type (and the client credentials)")


def _oauth_spec(description: str) -> ResponseSpec:
    return ResponseSpec(OAuthError, description=description, generate_examples=False)


@post(
    TOKEN_PATH,
    status_code=200,
    summary="Get an access token (client credentials)",
    exception_handlers={ValidationException: _invalid_request},
    responses={
        400: _oauth_spec("A malformed request (invalid_request) or a grant other than client_credentials."),
        401: _oauth_spec("Unknown client or wrong secret (invalid_client)."),
    },
)
async def token_endpoint(
    request: Request[Any, Any, Any],
    data: URLEncodedBody[TokenRequest],
) -> Response[TokenAnswer]:
    """Issue a bearer token for the configured client (``grant_type=client_credentials``)."""
    config = _state(request).config
    client_id, client_secret = data.client_id, data.client_secret
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _oauth_error(401, "invalid_client", "malformed Basic credentials")
    if data.grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    if not (
        client_id is not None
        and client_secret is not None
        and _same(client_id, config.client_id)
        and _same(client_secret, config.client_secret)
    ):
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    answer = TokenAnswer(
        access_token=issue_token(config.client_id, config.client_secret),
        token_type="Bearer",  # noqa: S106 - a token type, not a secret
        expires_in=TOKEN_TTL_SECONDS,
        scope=SCOPES,
        geolocation=str(request.base_url).rstrip("/"),
    )
    return Response(answer, headers={"Cache-Control": "no-store"})
