"""OAuth2 client credentials (RFC 6749 §4.4) as an ``httpx.Auth``: fetch once, reuse, refresh.

The token is fetched on the first call, cached until shortly before it expires, shared by all
concurrent calls of the client (one fetch, not one per call), and fetched again when the
platform answers 401 — a token can be revoked before its stated expiry.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncGenerator, Generator, Sequence

import httpx
import msgspec

from system_apis.connectors.kit.errors import MalformedAnswer, PlatformRejected, PlatformUnavailable

__all__ = ["OAuth2ClientCredentials", "TokenAnswer"]


class TokenAnswer(msgspec.Struct):
    """The token endpoint's answer (RFC 6749 §5.1)."""

    access_token: str
    """The bearer token."""
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret
    """Always ``Bearer`` here."""
    expires_in: int | None = None
    """Lifetime in seconds; ``None`` = until the platform refuses it."""


class OAuth2ClientCredentials(httpx.Auth):
    """Bearer auth with a client-credentials token, fetched through the same client.

    Args:
        token_url: Token endpoint, absolute or relative to the request's URL.
        client_id: Client id (sent with HTTP Basic to the token endpoint, RFC 6749 §2.3.1).
        client_secret: Client secret.
        scopes: Scopes to request (space-separated in the ``scope`` parameter).
        platform: Platform name, for error messages.
        leeway_seconds: Refresh this long before the stated expiry.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] = (),
        *,
        platform: str = "platform",
        leeway_seconds: float = 30.0,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = tuple(scopes)
        self.platform = platform
        self.leeway_seconds = leeway_seconds
        self.fetches = 0
        """How many tokens were fetched (observability and tests)."""
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Not supported: connectors are async."""
        msg = "OAuth2ClientCredentials works with httpx.AsyncClient only"
        raise RuntimeError(msg)
        yield request  # pragma: no cover - makes this a generator

    def _token_request(self, request: httpx.Request) -> httpx.Request:
        data = {"grant_type": "client_credentials"}
        if self.scopes:
            data["scope"] = " ".join(self.scopes)
        credentials = f"{self.client_id}:{self.client_secret}".encode()
        basic = "Basic " + base64.b64encode(credentials).decode("ascii")
        return httpx.Request(
            "POST",
            request.url.join(self.token_url),
            data=data,
            headers={"Authorization": basic, "Accept": "application/json"},
        )

    def _accept(self, response: httpx.Response) -> str:
        if response.status_code >= 500 or response.status_code == 429:
            msg = f"token endpoint answered {response.status_code}"
            raise PlatformUnavailable(msg, platform=self.platform)
        if response.status_code >= 400:
            msg = f"token request refused ({response.status_code}); check the connector's client credentials"
            raise PlatformRejected(response.status_code, msg, platform=self.platform)
        try:
            answer = msgspec.json.decode(response.content, type=TokenAnswer)
        except msgspec.DecodeError as exc:
            msg = f"token endpoint answered an unreadable token: {exc}"
            raise MalformedAnswer(msg, platform=self.platform) from exc
        self.fetches += 1
        self._token = answer.access_token
        lifetime = answer.expires_in if answer.expires_in is not None else 10**9
        self._expires_at = time.monotonic() + max(lifetime - self.leeway_seconds, lifetime / 2)
        return answer.access_token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Attach the cached token (fetching one if needed); on 401 fetch a new one and resend once."""
        async with self._lock:
            token = self._token
            if token is None or time.monotonic() >= self._expires_at:
                answer = yield self._token_request(request)
                await answer.aread()
                token = self._accept(answer)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        async with self._lock:
            if self._token == token:  # nobody refreshed it meanwhile
                answer = yield self._token_request(request)
                await answer.aread()
                self._accept(answer)
            token = self._token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request
