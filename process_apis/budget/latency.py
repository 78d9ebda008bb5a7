"""Latency of the budget check as a user sees it: for benchmarks, not for test thresholds.

The budget check is synchronous and user-facing (a requisition form waits for it), so its
latency is the figure that matters. :func:`measure_checks` sends checks through an HTTP client
(in-process or over the network) with a bounded number in flight and summarises the
round-trip times; :func:`summarise` does the arithmetic for any list of samples.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx
import msgspec

__all__ = ["LatencySummary", "measure", "measure_checks", "summarise"]


class LatencySummary(msgspec.Struct, frozen=True, kw_only=True):
    """Round-trip times of a series of calls, in milliseconds."""

    count: int
    """Calls measured."""
    errors: int
    """Calls that raised or answered a status other than the expected one."""
    mean_ms: float
    """Mean."""
    p50_ms: float
    """Median."""
    p95_ms: float
    """95th percentile."""
    p99_ms: float
    """99th percentile."""
    max_ms: float
    """Slowest call."""
    throughput_per_s: float
    """Calls completed per second of wall time."""


def _percentile(ordered: Sequence[float], share: float) -> float:
    # Nearest-rank percentile: the smallest sample with at least ``share`` of samples at or below it.
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def summarise(samples_ms: Sequence[float], *, errors: int = 0, wall_seconds: float | None = None) -> LatencySummary:
    """Summarise round-trip times (milliseconds) of successful calls.

    Args:
        samples_ms: One sample per successful call.
        errors: Calls that failed (not in ``samples_ms``).
        wall_seconds: Wall time of the whole series, for the throughput; the sum of the
            samples when not given (a sequential series).
    """
    ordered = sorted(samples_ms)
    total = len(ordered)
    wall = wall_seconds if wall_seconds is not None else sum(ordered) / 1000
    return LatencySummary(
        count=total,
        errors=errors,
        mean_ms=sum(ordered) / total if total else 0.0,
        p50_ms=_percentile(ordered, 0.50),
        p95_ms=_percentile(ordered, 0.95),
        p99_ms=_percentile(ordered, 0.99),
        max_ms=ordered[-1] if ordered else 0.0,
        throughput_per_s=(total + errors) / wall if wall > 0 else 0.0,
    )


async def measure(
    call: Callable[[], Awaitable[bool]], *, requests: int, concurrency: int = 1, warmup: int = 0,
) -> LatencySummary:
    """Time ``requests`` runs of ``call`` with at most ``concurrency`` in flight.

    Args:
        call: One request; returns whether it succeeded (a failure counts as an error, not a sample).
        requests: Runs to time.
        concurrency: Runs in flight at once.
        warmup: Untimed runs first (connections, token cache, planning sandbox warm-up).
    """
    for _ in range(warmup):
        await call()
    samples: list[float] = []
    errors = 0
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one() -> None:
        nonlocal errors
        async with gate:
            started = time.perf_counter()
            try:
                ok = await call()
            except Exception:  # a benchmark counts failures, it does not stop on them
                ok = False
            elapsed = (time.perf_counter() - started) * 1000
        if ok:
            samples.append(elapsed)
        else:
            errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(requests)))
    return summarise(samples, errors=errors, wall_seconds=time.perf_counter() - started)


async def measure_checks(
    http: httpx.AsyncClient, headers: Mapping[str, str], body: Mapping[str, Any], *,
    requests: int = 100, concurrency: int = 10, warmup: int = 5, prefix: str = "/process/budget/v1",
) -> LatencySummary:
    """Latency of ``POST {prefix}/checks`` with ``body``, as a client holding ``headers`` sees it.

    Args:
        http: Client whose base URL reaches the gateway.
        headers: Request headers, at least ``Authorization`` with the ``process:budget:read`` scope.
        body: The check, e.g. ``{"budget_line_id": ..., "amount": {"amount": "10.00", "currency": "USD"}}``.
        requests: Checks to time.
        concurrency: Checks in flight at once.
        warmup: Untimed checks first.
        prefix: Base path of the budget API.
    """
    url = f"{prefix}/checks"

    async def check() -> bool:
        answer = await http.post(url, json=dict(body), headers=dict(headers))
        return answer.status_code == 200

    return await measure(check, requests=requests, concurrency=concurrency, warmup=warmup)
