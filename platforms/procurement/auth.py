"""OAuth2 client credentials, Coupa style: ``POST /oauth2/access_tokens`` and scoped tokens.

A token carries the scopes it was granted; every API route names the one scope it needs.
A missing, unknown or expired token answers 401 with ``WWW-Authenticate: Bearer``; a token
without the route's scope answers 403. Tokens are kept in the sandbox store, so they survive
a restart like the real platform's would (and a reset forgets them).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import time
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import Body

from platforms.kit.app import SandboxState
from platforms.procurement.common import CoupaError, CoupaErrors

__all__ = ["SCOPES", "TOKEN_PATH", "TOKEN_TTL_SECONDS", "OAuthError", "TokenRequest", "authorize", "token_endpoint"]

TOKEN_PATH = "/oauth2/access_tokens"  # noqa: S105 - a path, not a secret
TOKEN_TTL_SECONDS = 86_399
SCOPES = (
    "core.supplier.read",
    "core.supplier.write",
    "core.requisition.read",
    "core.requisition.write",
    "core.purchase_order.read",
    "core.purchase_order.write",
    "core.invoice.read",
    "core.invoice.write",
    "core.budget.read",
    "core.common.read",
    "core.common.write",
)
COLLECTION = "oauth2_tokens"


class TokenAnswer(msgspec.Struct):
    """RFC 6749 §5.1 token answer."""

    access_token: str
    """The bearer token."""
    token_type: str
    """Always ``bearer``."""
    expires_in: int
    """Lifetime in seconds."""
    scope: str
    """Scopes granted, space-separated."""


def _oauth_error(status: int, error: str, description: str) -> Response[bytes]:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="coupa"'
    body = msgspec.json.encode({"error": error, "error_description": description})
    return Response(content=body, status_code=status, media_type="application/json", headers=headers)


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


class TokenRequest(msgspec.Struct, kw_only=True):
    """RFC 6749 §4.4.2 client credentials request (form encoded); other parameters are ignored."""

    grant_type: Literal["client_credentials"]
    """The grant: only client credentials."""
    client_id: str | None = None
    """The client, unless it authenticates with HTTP Basic."""
    client_secret: str | None = None
    """The client's secret, unless it authenticates with HTTP Basic."""
    scope: str | None = None
    """Space-separated scopes wanted (all of them when left out)."""


class OAuthError(msgspec.Struct, frozen=True):
    """RFC 6749 §5.2 error answer."""

    error: str
    """Error code, e.g. ``invalid_client``."""
    error_description: str
    """What is wrong."""


def _invalid_request(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    """A token request that is not a client credentials form: RFC 6749's ``invalid_request``."""
    items = [item for item in exc.extra if isinstance(item, dict)] if isinstance(exc.extra, list) else []
    if any(item.get("key") == "grant_type" for item in items):
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    detail = "; ".join(f"{item.get('key') or 'body'}: {item.get('message')}" for item in items)
    return _oauth_error(400, "invalid_request", detail or "the request is not a client credentials form")


def _oauth_spec(description: str) -> ResponseSpec:
    return ResponseSpec(OAuthError, description=description, generate_examples=False)


@post(
    TOKEN_PATH, status_code=200, media_type="application/json", sync_to_thread=False,
    exception_handlers={ValidationException: _invalid_request},
    responses={
        400: _oauth_spec("Not a client credentials grant (`invalid_request`, `unsupported_grant_type`), "
                         "or an unknown scope (`invalid_scope`)."),
        401: _oauth_spec("Unknown client or wrong secret (`invalid_client`)."),
        429: ResponseSpec(CoupaErrors, description="Injected fault: too many requests.", generate_examples=False),
        500: ResponseSpec(CoupaErrors, description="Injected fault: internal error.", generate_examples=False),
        503: ResponseSpec(CoupaErrors, description="Injected fault: maintenance.", generate_examples=False),
    },
)
def token_endpoint(
    request: Request[Any, Any, Any],
    sandbox: NamedDependency[SandboxState],
    data: Annotated[TokenRequest, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[bytes]:
    """Issue a token for the configured client (form or Basic client authentication)."""
    credentials = _basic(request.headers.get("authorization")) or (data.client_id or "", data.client_secret or "")
    config = sandbox.config
    good = hmac.compare_digest(credentials[0].encode(), config.client_id.encode()) & hmac.compare_digest(
        credentials[1].encode(), config.client_secret.encode()
    )
    if not good:
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    requested = (data.scope or "").split() or list(SCOPES)
    unknown = [s for s in requested if s not in SCOPES]
    if unknown:
        return _oauth_error(400, "invalid_scope", f"unknown scope {unknown[0]}")
    token = secrets.token_urlsafe(32)
    sandbox.store.put(COLLECTION, token, {"scopes": requested, "expires": time.time() + TOKEN_TTL_SECONDS})
    answer = TokenAnswer(token, "bearer", TOKEN_TTL_SECONDS, " ".join(requested))
    return Response(content=msgspec.json.encode(answer), media_type="application/json",
                    headers={"Cache-Control": "no-store"})


def authorize(request: Request[Any, Any, Any], sandbox: SandboxState, scope: str) -> None:
    """Check the bearer token of ``request`` carries ``scope``.

    Raises:
        CoupaError: 401 without a valid token, 403 without the scope.
    """
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    grant = sandbox.store.get(COLLECTION, token) if token else None
    if grant is None or grant["expires"] < time.time():
        raise CoupaError(401, "invalid or expired access token", {"WWW-Authenticate": 'Bearer realm="coupa"'})
    if scope not in grant["scopes"]:
        raise CoupaError(
            403, f"the access token lacks the scope {scope}",
            {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )
