"""Policy settings: the knobs an operator turns per gateway, per API and per route.

These Structs are parsed from the ``[policies]`` and ``[apis.<name>]`` tables of the settings
file. They live here, not in the gateway, so that the policy chain can be configured without
the policies importing any tier.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "INTERNAL_TIER",
    "AuditConfig",
    "AuthConfig",
    "IdempotencyConfig",
    "PolicyConfig",
    "RoutePolicyConfig",
    "ThreatConfig",
    "ThrottlingConfig",
    "TrustedIssuer",
]


INTERNAL_TIER = "internal"
"""Tier of Finrail's own service clients (the flow worker): only per-route limits apply to it,
so the traffic of every flow together is not throttled as if it were one partner application."""


class _Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base for settings Structs: immutable, and unknown keys are an error, not a silent typo."""


class ThreatConfig(_Config, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Limits that stop hostile or broken payloads before any handler sees them."""

    max_body_bytes: int = 1_048_576
    """Largest request body accepted; a larger one is answered with 413."""
    max_json_depth: int = 32
    """Deepest nesting of JSON objects and arrays accepted in a request body."""
    max_array_length: int = 1_000
    """Longest JSON array accepted anywhere in a request body."""
    max_header_bytes: int = 16_384
    """Largest total size of the request headers; larger is answered with 431."""


class TrustedIssuer(_Config, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """An external OAuth2 issuer whose RFC 9068 access tokens are accepted besides our own."""

    issuer: str
    """Exact ``iss`` value the issuer puts in its tokens."""
    jwks_url: str
    """Where the issuer publishes its public keys (JWKS)."""
    audience: str | None = None
    """Expected ``aud``; defaults to the gateway's own audience."""


class AuthConfig(_Config, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How bearer tokens are issued and verified."""

    issuer: str = "http://127.0.0.1:8000"
    """The ``iss`` of tokens Finrail issues; set it to the public base URL of the gateway."""
    audience: str = "finrail"
    """The ``aud`` every access token must carry."""
    token_ttl_seconds: int = 900
    """Lifetime of an issued access token."""
    algorithm: str = "ES256"
    """Signing algorithm for issued tokens: ES256 or RS256 (asymmetric only)."""
    leeway_seconds: int = 30
    """Clock skew tolerated when checking ``exp``, ``iat`` and ``nbf``."""
    client_cache_seconds: float = 5.0
    """How long a client's status is trusted before it is read again (bounds revocation delay)."""
    token_cache_size: int = 10_000
    """Verified tokens kept in memory, so a signature is checked once, not on every call."""
    token_endpoint_rate: str = "30/minute"  # noqa: S105 - a rate, not a secret
    """Token requests allowed per client id and, separately, per source address."""
    trusted_issuers: tuple[TrustedIssuer, ...] = ()
    """External issuers whose tokens are accepted (issuer + JWKS URL)."""


class ThrottlingConfig(_Config, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Rate limits, evaluated with the ``limits`` library."""

    storage: str = "memory://"
    """Counter storage: ``memory://`` for one process, ``redis://host:port/db`` to share limits."""
    tiers: dict[str, str] = msgspec.field(
        default_factory=lambda: {"gold": "6000/minute", "silver": "1200/minute", "bronze": "300/minute"}
    )
    """Per-client limit by SLA tier, in ``limits`` notation (``N/second|minute|hour|day``)."""
    default_tier: str = "bronze"
    """Tier used for a client whose tier is not listed in ``tiers``."""
    spike: str = "50/second"
    """Burst limit per client, on top of its tier limit."""
    enabled: bool = True
    """Switch throttling off entirely (for benchmarks of the bare chain)."""


class IdempotencyConfig(_Config, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How ``Idempotency-Key`` requests are remembered."""

    retention_hours: int = 24
    """How long a completed key is kept and replayed; never below 24."""
    lock_seconds: int = 60
    """How long an in-flight key blocks a retry before it is considered abandoned."""


class AuditConfig(_Config, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How audit records of read calls are batched (records of changes are never batched)."""

    batch_size: int = 200
    """Read records written in one transaction."""
    flush_interval_seconds: float = 0.25
    """Longest time a read record waits in memory before it is written."""


class RoutePolicyConfig(_Config, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Overrides for one route, keyed ``"METHOD /path/template"`` in the settings."""

    rate: str | None = None
    """An extra limit for this route per client, e.g. ``"10/minute"``."""
    scopes: tuple[str, ...] | None = None
    """Replace the scopes the route declares in code."""
    max_body_bytes: int | None = None
    """Replace the body size limit for this route."""


class PolicyConfig(_Config, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Policies of one API; every field falls back to the gateway-wide value when unset."""

    enabled: tuple[str, ...] | None = None
    """Names of the policies to run for this API; all of them when unset."""
    rate: str | None = None
    """An extra limit for every route of this API per client."""
    threat: ThreatConfig | None = None
    """Threat limits for this API."""
    routes: dict[str, RoutePolicyConfig] = msgspec.field(default_factory=dict)
    """Per-route overrides."""
