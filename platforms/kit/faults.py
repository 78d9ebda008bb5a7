"""Fault injection: make a sandbox slow, flaky, throttled or down, on demand.

Connectors must survive what real platforms do: latency, 500s, 429 with ``Retry-After``,
maintenance windows and — the nasty one — a request that is processed but whose answer never
arrives in time. :func:`fault_middleware` wraps a sandbox's ASGI app and does all of that,
driven by the :class:`Faults` currently set on the sandbox (switchable at run time through
``PUT /_sandbox/faults``). Paths under ``/_sandbox/`` are never faulted, so a test can always
switch faults off again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import msgspec
from litestar.enums import ScopeType

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from platforms.kit.app import SandboxState

__all__ = ["ErrorRenderer", "Faults", "fault_middleware"]

ErrorRenderer = Callable[[int, str], tuple[str, bytes]]
"""Renders ``(status, message)`` in the vendor's error format: ``(content_type, body)``."""

Rate = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Seconds = Annotated[float, msgspec.Meta(ge=0.0, le=600.0)]

ADMIN_PREFIX = "/_sandbox/"


class Faults(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The faults a sandbox injects right now; all off by default."""

    latency_ms: Annotated[int, msgspec.Meta(ge=0, le=600_000)] = 0
    """Extra delay added before every answer, in milliseconds."""
    error_rate: Rate = 0.0
    """Share of requests answered 500 in the vendor's error format, without being processed."""
    throttle_rate: Rate = 0.0
    """Share of requests answered 429 with ``Retry-After``, without being processed."""
    retry_after_seconds: Annotated[int, msgspec.Meta(ge=0, le=3600)] = 1
    """Value of ``Retry-After`` on 429 and maintenance 503 answers."""
    maintenance: bool = False
    """Answer every request 503 with ``Retry-After`` (a maintenance window)."""
    timeout_rate: Rate = 0.0
    """Share of requests that are PROCESSED, then answered only after ``hang_seconds``."""
    hang_seconds: Seconds = 30.0
    """How long a timed-out answer is held back."""
    webhook_duplicate_rate: Rate = 0.0
    """Share of webhooks delivered twice with the same ``webhook-id``."""
    webhook_reorder: bool = False
    """Deliver webhooks emitted close together in reverse order."""
    seed: int | None = None
    """Seed for the fault dice; ``None`` rolls them from the OS (not reproducible)."""


def _error_start(status: int, content_type: str, body: bytes, retry_after: int | None) -> Message:
    headers = [(b"content-type", content_type.encode("latin-1")), (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    return {"type": "http.response.start", "status": status, "headers": headers}


def fault_middleware(state: SandboxState, error_body: ErrorRenderer) -> Callable[[ASGIApp], ASGIApp]:
    """An ASGI middleware factory injecting ``state.faults`` into every non-admin request.

    The dice are rolled in a fixed order (throttle, error, timeout) with ``state.fault_rng``,
    so a seeded :class:`Faults` gives the same fault sequence for the same request sequence.

    Args:
        state: The sandbox's state; its ``faults`` are read on every request, so a change
            made at run time applies to the next request.
        error_body: Renders the sandbox's own error format.

    Returns:
        A callable wrapping an ASGI app, as Litestar's ``middleware=[...]`` accepts.
    """

    def wrap(app: ASGIApp) -> ASGIApp:
        async def send_error(send: Send, status: int, message: str, retry_after: int | None = None) -> None:
            content_type, body = error_body(status, message)
            await send(_error_start(status, content_type, body, retry_after))
            await send({"type": "http.response.body", "body": body, "more_body": False})

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            state.ensure_ready()
            if scope["type"] != ScopeType.HTTP or scope["path"].startswith(ADMIN_PREFIX):
                await app(scope, receive, send)
                return
            faults = state.faults
            rng = state.fault_rng
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            if faults.maintenance:
                await send_error(
                    send, 503, "the system is down for maintenance; try again later", faults.retry_after_seconds
                )
                return
            if faults.throttle_rate and rng.random() < faults.throttle_rate:
                await send_error(send, 429, "too many requests; slow down", faults.retry_after_seconds)
                return
            if faults.error_rate and rng.random() < faults.error_rate:
                await send_error(send, 500, "an internal server error occurred")
                return
            if faults.timeout_rate and rng.random() < faults.timeout_rate:
                held: list[Message] = []

                async def hold(message: Message) -> None:
                    held.append(message)

                await app(scope, receive, hold)  # the platform does the work ...
                await asyncio.sleep(faults.hang_seconds)  # ... and the answer comes too late
                for message in held:
                    await send(message)
                return
            await app(scope, receive, send)

        return middleware

    return wrap
