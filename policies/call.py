"""The governed call: what the policies learn about one request as it passes the chain.

Handlers declare their needs with :func:`governed` (scopes, whether they create an effect);
the chain resolves that declaration together with the settings into a :class:`RoutePolicy`
once per route, and fills a :class:`Call` for every request. A handler reaches the call of
its request through :func:`current_call`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from litestar.types import Receive, Scope

from policies.config import ThreatConfig

__all__ = [
    "CALL_STATE_KEY",
    "Call",
    "RoutePolicy",
    "current_call",
    "governed",
    "public",
]

CALL_STATE_KEY = "finrail.call"
OPT_KEY = "finrail"


def governed(*scopes: str, effect: bool = False, operation: str | None = None) -> dict[str, Any]:
    """Route ``opt`` for a governed route.

    Args:
        *scopes: OAuth2 scopes a token must carry (all of them) to call the route.
        effect: The route creates an effect (a POST that must carry ``Idempotency-Key``).
        operation: Name recorded in audit records; the handler's name when not given.

    Returns:
        The ``opt`` mapping to pass to the Litestar route decorator.
    """
    if not scopes:
        raise ValueError("a governed route must declare at least one scope")
    return {OPT_KEY: {"scopes": tuple(scopes), "effect": effect, "operation": operation}}


def public(operation: str | None = None) -> dict[str, Any]:
    """Route ``opt`` for one of the few routes anyone may call without a token."""
    return {OPT_KEY: {"scopes": (), "public": True, "effect": False, "operation": operation}}


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """The resolved policy of one route: code declarations merged with settings."""

    api: str
    """Catalog name of the API."""
    version: int
    """Major version of the API."""
    method: str
    """HTTP method."""
    template: str
    """Path template, e.g. ``/admin/v1/clients/{client_id}``."""
    operation: str
    """Operation name recorded in audit records."""
    scopes: tuple[str, ...]
    """Scopes required (all of them)."""
    public: bool
    """No token needed."""
    effect: bool
    """Creates an effect: ``Idempotency-Key`` required."""
    rates: tuple[str, ...]
    """Extra per-client limits of this API and route, in ``limits`` notation."""
    threat: ThreatConfig
    """Threat limits in force."""
    media_types: tuple[str, ...] = ("application/json",)
    """Request body media types the route decodes."""

    @property
    def key(self) -> str:
        """``"METHOD /template"``: how settings name this route."""
        return f"{self.method} {self.template}"


@dataclass(slots=True)
class Call:
    """Mutable state of one request as it passes the policies; lives in ``scope["state"]``."""

    scope: Scope
    route: RoutePolicy
    receive: Receive | None = None
    correlation_id: str = ""
    traceparent: str | None = None
    started: float = field(default_factory=time.perf_counter)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    remote_addr: str = ""
    client_id: str | None = None
    subject: str | None = None
    scopes: frozenset[str] = frozenset()
    tier: str | None = None
    body: bytes | None = None
    json_body: Any = None
    status: int = 0
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    idempotency_key: str | None = None
    replay: Any = None
    capture: bool = False
    captured_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    captured_body: list[bytes] = field(default_factory=list)
    audited: bool = False
    resource_ids: dict[str, str] = field(default_factory=dict)
    outcome_detail: str | None = None
    throttled: bool = False
    rejected_by: str | None = None

    def add_header(self, name: str, value: str) -> None:
        """Add a header to the response, whatever the handler answers."""
        self.response_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))

    def header(self, name: bytes) -> str | None:
        """The first request header called ``name`` (lower-case bytes), decoded."""
        for key, value in self.scope["headers"]:
            if key == name:
                return value.decode("latin-1")
        return None

    @property
    def outbound_headers(self) -> dict[str, str]:
        """Headers every outbound call made on behalf of this call must carry."""
        headers = {"x-correlation-id": self.correlation_id}
        if self.traceparent:
            headers["traceparent"] = self.traceparent
        return headers


def current_call(scope: Scope) -> Call:
    """The governed call of a request (raises ``LookupError`` outside the chain)."""
    call = scope.get("state", {}).get(CALL_STATE_KEY)
    if call is None:
        raise LookupError("this request did not pass the policy chain")
    return call  # type: ignore[no-any-return]
