"""The shared toolkit of the connectors: one resilient HTTP client and its error types.

A connector (``system_apis/connectors/<p>/client.py``) owns a :class:`PlatformClient` and
turns its answers into canonical objects; every failure is a :class:`PlatformError` whose
``problem()`` is the RFC 9457 answer for the caller.
"""

from __future__ import annotations

from system_apis.connectors.kit.auth import OAuth2ClientCredentials, TokenAnswer
from system_apis.connectors.kit.breaker import CircuitBreaker, CircuitOpen
from system_apis.connectors.kit.client import PlatformClient, call_reference, external_reference, platform_message
from system_apis.connectors.kit.config import ConnectionConfig
from system_apis.connectors.kit.errors import (
    MalformedAnswer,
    PlatformError,
    PlatformRejected,
    PlatformTimeout,
    PlatformUnavailable,
)
from system_apis.connectors.kit.ratelimit import RateLimiter

__all__ = [
    "CircuitBreaker",
    "CircuitOpen",
    "ConnectionConfig",
    "MalformedAnswer",
    "OAuth2ClientCredentials",
    "PlatformClient",
    "PlatformError",
    "PlatformRejected",
    "PlatformTimeout",
    "PlatformUnavailable",
    "RateLimiter",
    "TokenAnswer",
    "call_reference",
    "external_reference",
    "platform_message",
]
