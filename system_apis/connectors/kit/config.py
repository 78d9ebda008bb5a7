"""How a connector reaches its platform: address, time limits, retries, breaker, rate, credentials."""

from __future__ import annotations

import msgspec

__all__ = ["ConnectionConfig"]


class ConnectionConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Connection settings of one platform; the defaults suit a sandbox on the same host."""

    base_url: str
    """Root URL of the platform, e.g. ``http://sandbox.erp`` (embedded) or ``http://127.0.0.1:8101``."""
    timeout_seconds: float = 5.0
    """Time limit of one HTTP exchange (connect, write, read, pool)."""
    retries: int = 3
    """Retries after the first attempt on timeouts, 5xx and 429 (0 = no retry)."""
    backoff_base_seconds: float = 0.2
    """First retry delay bound; doubles per retry (full jitter: a random delay up to the bound)."""
    backoff_max_seconds: float = 5.0
    """Upper bound of a backoff delay."""
    retry_after_max_seconds: float = 30.0
    """Longest ``Retry-After`` honoured by waiting; a longer one fails fast with its value."""
    breaker_failures: int = 5
    """Consecutive failures (timeouts, connection errors, 5xx) that open the circuit."""
    breaker_reset_seconds: float = 30.0
    """How long an open circuit fails fast before one trial call is let through."""
    rate: str = "25/second"
    """Outbound rate limit (``limits`` notation); calls over it wait rather than fail."""
    username: str | None = None
    """HTTP Basic user, for platforms that use Basic authentication."""
    password: str | None = None
    """HTTP Basic password."""
    client_id: str | None = None
    """OAuth2 client-credentials client id."""
    client_secret: str | None = None
    """OAuth2 client secret."""
    token_path: str | None = None
    """Token endpoint, relative to ``base_url`` or absolute (e.g. ``/oauth2/access_tokens``)."""
    scopes: tuple[str, ...] = ()
    """OAuth2 scopes to request."""
