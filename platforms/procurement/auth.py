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
from typing import Any
from urllib.parse import parse_qs

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import RawBody

from platforms.kit.app import SandboxState
from platforms.procurement.common import CoupaError

__all__ = ["SCOPES", "TOKEN_PATH", "TOKEN_TTL_SECONDS", "authorize", "token_endpoint"]

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


@post(TOKEN_PATH, status_code=200, media_type="application/json", sync_to_thread=False)
def token_endpoint(
    request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxState], body: RawBody
) -> Response[bytes]:
    """Issue a token for the configured client (form or Basic client authentication)."""
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    credentials = _basic(request.headers.get("authorization")) or (
        form.get("client_id", ""), form.get("client_secret", "")
    )
    config = sandbox.config
    good = hmac.compare_digest(credentials[0].encode(), config.client_id.encode()) & hmac.compare_digest(
        credentials[1].encode(), config.client_secret.encode()
    )
    if not good:
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    requested = form.get("scope", "").split() or list(SCOPES)
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
