"""HTTP Basic authentication of the planning sandbox (the configured sandbox user)."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import TYPE_CHECKING, Any

from platforms.planning.errors import ConcurError

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler

    from platforms.kit.app import SandboxState

__all__ = ["require_basic"]


async def require_basic(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard of every API route: the sandbox user's Basic credentials."""
    state: SandboxState = connection.app.state.sandbox
    scheme, _, encoded = connection.headers.get("authorization", "").partition(" ")
    user = password = ""
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
    if not (hmac.compare_digest(user.encode(), state.config.username.encode())
            and hmac.compare_digest(password.encode(), state.config.password.encode())):
        raise ConcurError(401, "valid Basic credentials are required",
                          headers={"WWW-Authenticate": 'Basic realm="budget"'})
