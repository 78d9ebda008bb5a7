"""OAuth2 client credentials for the treasury sandbox, as Kyriba's gateway does it.

``POST /gateway/oauth/token`` (form ``grant_type=client_credentials``, client authenticated
with HTTP Basic or ``client_id``/``client_secret`` form fields) issues a bearer token valid
for an hour. Tokens are stateless (an expiry signed with HMAC under the client secret), so
they survive a restart of the sandbox, as a real platform's would.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from litestar import Request, Response, post
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import URLEncodedBody

from platforms.treasury.errors import KyribaError
from platforms.treasury.schemas import OAuthError, TokenAnswer, error_specs

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler

    from platforms.kit.app import SandboxState

__all__ = ["TOKEN_PATH", "TOKEN_TTL_SECONDS", "require_token", "token_endpoint"]

TOKEN_PATH = "/gateway/oauth/token"  # noqa: S105 - a path, not a secret
TOKEN_TTL_SECONDS = 3600


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def issue_token(state: SandboxState, now: float | None = None) -> str:
    """A bearer token for the sandbox's client, valid for :data:`TOKEN_TTL_SECONDS`."""
    expires = int((now or time.time()) + TOKEN_TTL_SECONDS)
    payload = f"{state.config.client_id}.{expires}"
    return f"{payload}.{_sign(state.config.client_secret, payload)}"


def _token_valid(state: SandboxState, token: str) -> bool:
    client, _, rest = token.partition(".")
    expires, _, signature = rest.partition(".")
    if client != state.config.client_id or not expires.isdigit():
        return False
    expected = _sign(state.config.client_secret, f"{client}.{expires}")
    return hmac.compare_digest(expected.encode(), signature.encode()) and int(expires) > time.time()


def _oauth_error(status: int, error: str, description: str) -> Response[bytes]:
    body = msgspec.json.encode({"error": error, "error_description": description})
    headers = {"WWW-Authenticate": 'Basic realm="kyriba"'} if status == 401 else {}
    return Response(body, status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store", **headers})


class TokenForm(msgspec.Struct, frozen=True):
    """The token request (form encoded); the client authenticates with Basic or these fields."""

    grant_type: Literal["client_credentials"]
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None


def _form_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    """A form Litestar refused, answered in RFC 6749's shape rather than Kyriba's."""
    messages = [str(item.get("message", "")) for item in exc.extra or [] if isinstance(item, dict)]
    if any("grant_type" not in m and "missing" not in m for m in messages):
        return _oauth_error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
    return _oauth_error(400, "invalid_request", "the form needs grant_type=client_credentials")


def _spec(type_: Any, description: str) -> ResponseSpec:
    return ResponseSpec(type_, description=description, generate_examples=False)


@post(TOKEN_PATH, status_code=200, exception_handlers={ValidationException: _form_error}, responses={
    200: _spec(TokenAnswer, "An access token, valid for an hour."),
    400: _spec(OAuthError, "No grant_type, or one other than client_credentials."),
    401: _spec(OAuthError, "Unknown client or wrong secret."),
    **{status: spec for status, spec in error_specs().items() if status != 400 and status != 401},
})
async def token_endpoint(
    request: Request[Any, Any, Any], data: URLEncodedBody[TokenForm]
) -> Response[bytes]:
    """Client credentials grant (RFC 6749 §4.4); errors in the RFC's own shape."""
    state: SandboxState = request.app.state.sandbox
    client_id, client_secret = data.client_id, data.client_secret
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _oauth_error(401, "invalid_client", "malformed Basic credentials")
    # Bytes, not str: compare_digest refuses non-ASCII text, and a client may send any.
    if not (client_id and client_secret
            and hmac.compare_digest(client_id.encode(), state.config.client_id.encode())
            and hmac.compare_digest(client_secret.encode(), state.config.client_secret.encode())):
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    body = {"access_token": issue_token(state), "token_type": "Bearer", "expires_in": TOKEN_TTL_SECONDS,
            "scope": data.scope or ""}
    return Response(msgspec.json.encode(body), media_type="application/json", headers={"Cache-Control": "no-store"})


async def require_token(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard of every API route: a valid bearer token from the token endpoint."""
    if connection.scope.get("method") == "OPTIONS":  # lists the methods of a path; nothing to protect
        return
    state: SandboxState = connection.app.state.sandbox
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise KyribaError(401, "a bearer access token is required", headers={"WWW-Authenticate": "Bearer"})
    if not _token_valid(state, token.strip()):
        raise KyribaError(401, "the access token is invalid or expired",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
