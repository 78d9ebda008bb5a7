"""How a sandbox is started: where it keeps state, how it is seeded, where its webhooks go."""

from __future__ import annotations

import base64

import msgspec

from platforms.kit.faults import Faults

__all__ = ["DEFAULT_WEBHOOK_SECRET", "SandboxConfig"]

DEFAULT_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"finrail-sandbox-secret!").decode("ascii")
"""The Standard Webhooks secret every sandbox signs with unless told otherwise."""


class SandboxConfig(msgspec.Struct, kw_only=True):
    """Settings of one sandbox instance; the defaults give a reproducible in-memory sandbox."""

    data_path: str | None = None
    """SQLite file holding the sandbox's state; ``None`` keeps it in memory."""
    seed: int = 42
    """Seed of the data generator: the same seed gives the same data set."""
    webhook_url: str | None = None
    """Where webhooks are POSTed; ``None`` logs them without sending."""
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    """Standard Webhooks signing secret (``whsec_`` + base64)."""
    faults: Faults = msgspec.field(default_factory=Faults)
    """Faults injected from the start (switchable later with ``PUT /_sandbox/faults``)."""
    username: str = "finrail"
    """User accepted by sandboxes that use HTTP Basic authentication."""
    password: str = "sandbox"  # noqa: S105 - a public sandbox credential
    """Password of that user."""
    client_id: str = "finrail"
    """OAuth2 client id accepted by sandboxes that use client credentials."""
    client_secret: str = "sandbox-secret"  # noqa: S105
    """OAuth2 client secret of that client."""
    webhook_attempts: int = 5
    """Delivery attempts per webhook before it is marked failed."""
    webhook_backoff_seconds: float = 0.5
    """First retry delay of a webhook; doubles on every further attempt."""
