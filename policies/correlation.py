"""Correlation: one id and one trace follow a call in, through the logs, and out again.

Every call gets an ``X-Correlation-ID`` (the caller's when it is sane, a fresh one otherwise)
and a W3C trace context (the caller's ``traceparent`` when it is valid, a new trace otherwise).
Both are kept in :mod:`contextvars`, so log records and every outbound HTTP call made while
the call is in flight carry them without being handed the :class:`~policies.call.Call`:
:func:`propagate` installs an ``httpx`` hook that adds :func:`outbound_headers` to each
request of a client.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar, Token
from dataclasses import dataclass

import httpx

from policies.call import Call
from policies.chain import Policy

__all__ = [
    "CORRELATION_HEADER",
    "Correlation",
    "TraceContext",
    "current_correlation_id",
    "current_trace",
    "outbound_headers",
    "parse_traceparent",
    "propagate",
]

CORRELATION_HEADER = "X-Correlation-ID"

_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
# W3C Trace Context §3.2: version-traceid-parentid-flags, lower-case hex only.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_TRACEPARENT_LENGTH = 55
_STATE_KEY = "finrail.correlation.token"


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The correlation id and W3C trace of the call in flight."""

    correlation_id: str
    """Value of ``X-Correlation-ID`` for this call."""
    trace_id: str
    """32 lower-case hex digits shared by every span of the trace."""
    span_id: str
    """16 lower-case hex digits: the gateway's own span for this call."""
    flags: str
    """2 hex digits of trace flags (``01`` = sampled), passed on unchanged."""

    @property
    def traceparent(self) -> str:
        """``traceparent`` naming the gateway's span as the parent."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


_current: ContextVar[TraceContext | None] = ContextVar("finrail_trace", default=None)


def parse_traceparent(value: str) -> tuple[str, str, str] | None:
    """Validate a ``traceparent`` header per W3C Trace Context level 1.

    Version ``00`` must be exactly 55 characters. A higher version (but not the forbidden
    ``ff``) may be longer, with a ``-`` after the flags; its first four fields are read as
    version ``00`` fields, as §4.3 tells a vendor to do with a version it does not know.

    Args:
        value: The header value as received.

    Returns:
        ``(trace_id, parent_id, flags)``, or ``None`` when the header must be ignored.
    """
    match = _TRACEPARENT.match(value)
    if match is None:
        return None
    version, trace_id, parent_id, flags = match.groups()
    if version == "00":
        if len(value) != _TRACEPARENT_LENGTH:
            return None
    elif version == "ff" or (len(value) > _TRACEPARENT_LENGTH and value[_TRACEPARENT_LENGTH] != "-"):
        return None
    if trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return trace_id, parent_id, flags


def _span_id() -> str:
    return os.urandom(8).hex()


def _uuid4_hex(random_hex: str) -> str:
    """A version-4 UUID in hex form from 32 random hex digits (``uuid.uuid4().hex`` is 5x slower)."""
    variant = "89ab"[int(random_hex[16], 16) & 3]
    return f"{random_hex[:12]}4{random_hex[13:16]}{variant}{random_hex[17:32]}"


class Correlation(Policy):
    """Accept or mint the correlation id and trace context; answer with the correlation id."""

    name = "correlation"

    async def on_request(self, call: Call) -> None:
        """Read both headers in one pass, keep the valid ones, mint the rest."""
        correlation_id: str | None = None
        traceparent: str | None = None
        for key, value in call.scope["headers"]:
            if key == b"x-correlation-id":
                if correlation_id is None:
                    correlation_id = value.decode("latin-1")
            elif key == b"traceparent" and traceparent is None:
                traceparent = value.decode("latin-1")
        random_hex = os.urandom(40).hex()  # one system call for every id this call may need
        if correlation_id is None or _CORRELATION_ID.fullmatch(correlation_id) is None:
            correlation_id = _uuid4_hex(random_hex)
        span_id = random_hex[32:48]
        parsed = parse_traceparent(traceparent) if traceparent else None
        if parsed is None:
            trace = TraceContext(correlation_id, random_hex[48:80], span_id, "00")
        else:
            trace = TraceContext(correlation_id, parsed[0], span_id, parsed[2])
        call.correlation_id = correlation_id
        call.traceparent = trace.traceparent
        call.add_header(CORRELATION_HEADER, correlation_id)
        call.scope["state"][_STATE_KEY] = _current.set(trace)

    async def on_finish(self, call: Call) -> None:
        """Forget the call's ids, so nothing later in this task is mislabelled."""
        token: Token[TraceContext | None] | None = call.scope["state"].pop(_STATE_KEY, None)
        if token is not None:
            try:
                _current.reset(token)
            except ValueError:
                # Finished in another context than it started: that context dies with it.
                _current.set(None)


def current_trace() -> TraceContext | None:
    """The trace context of the call in flight, if any."""
    return _current.get()


def current_correlation_id() -> str | None:
    """The correlation id of the call in flight, for log records; ``None`` outside a call."""
    trace = _current.get()
    return trace.correlation_id if trace is not None else None


def outbound_headers() -> dict[str, str]:
    """Headers an outbound call made now must carry (empty outside a call).

    The ``traceparent`` keeps the trace id and flags and names a fresh span id: the outbound
    call is a new child span of the gateway's span.
    """
    trace = _current.get()
    if trace is None:
        return {}
    return {
        "x-correlation-id": trace.correlation_id,
        "traceparent": f"00-{trace.trace_id}-{_span_id()}-{trace.flags}",
    }


async def _add_outbound_headers(request: httpx.Request) -> None:
    for name, value in outbound_headers().items():
        if name not in request.headers:
            request.headers[name] = value


def propagate(client: httpx.AsyncClient) -> None:
    """Make every request of ``client`` carry the correlation id and trace of the call in flight.

    Headers the caller sets explicitly on a request are left alone. Installing twice is
    harmless.
    """
    hooks = client.event_hooks
    if _add_outbound_headers not in hooks["request"]:
        hooks["request"] = [*hooks["request"], _add_outbound_headers]
        client.event_hooks = hooks
