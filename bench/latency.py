"""Latency of calls as a user sees them: closed-loop and open-loop measurement (bench only).

Moved here from ``process_apis/budget/latency.py``: it is benchmark code, not product code.

The budget check is synchronous and user-facing (a requisition form waits for it), so its
latency is the figure that matters. :func:`measure_checks` sends checks through an HTTP client
(in-process or over the network) with a bounded number in flight and summarises the
round-trip times; :func:`summarise` does the arithmetic for any list of samples.

:func:`open_loop` is what ``bench/flows.py`` uses: it sends requests on a fixed schedule
(``rate`` a second) whatever the answers, and times each one from the moment it was *due*,
not from when it was sent, so a server that falls behind shows its queueing in the latency
instead of silently slowing the client down (no coordinated omission, as wrk2 does it). Run
as a script it is the load generator process ``flows.py`` starts pinned to its own core::

    python bench/latency.py --url http://127.0.0.1:18140/process/budget/v1/checks \\
        --token TOKEN --body '{"budget_line_id": "...", "amount": {...}}' --rate 200 --seconds 25

and prints one ``LATENCY_JSON {...}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx
import msgspec

__all__ = ["LatencySummary", "OpenLoop", "measure", "measure_checks", "open_loop", "summarise"]


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
    call: Callable[[], Awaitable[bool]],
    *,
    requests: int,
    concurrency: int = 1,
    warmup: int = 0,
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
    http: httpx.AsyncClient,
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    *,
    requests: int = 100,
    concurrency: int = 10,
    warmup: int = 5,
    prefix: str = "/process/budget/v1",
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


class OpenLoop(msgspec.Struct, frozen=True, kw_only=True):
    """What an open-loop run measured (after its warm-up)."""

    rate: float
    """Requests a second asked for."""
    seconds: float
    """Length of the measured part of the schedule."""
    sent: int
    """Requests of the measured part (all were sent, whatever the answers)."""
    statuses: dict[str, int]
    """Answers by HTTP status (``"error: <exception>"`` for a transport error or a timeout)."""
    latency: LatencySummary
    """Times of the 2xx answers, each from the moment its request was due."""
    service: LatencySummary
    """Times of the same answers from the moment the request was actually sent."""
    send_lag_p99_ms: float
    """How late the generator itself sent (99th percentile): must stay well below the latencies."""
    send_lag_max_ms: float
    """The latest send."""
    achieved_rate: float
    """Answers a second over the measured part: equals ``rate`` unless the server fell behind."""
    client_cpu_s: float
    """CPU time of the generator process during the run."""

    @property
    def non_2xx(self) -> int:
        """Answers with a status other than 2xx (transport errors not counted)."""
        return sum(count for status, count in self.statuses.items() if status[:1] in "1345")

    @property
    def errors(self) -> int:
        """Requests that got no answer (transport error or timeout)."""
        return sum(count for status, count in self.statuses.items() if status.startswith("error"))


async def open_loop(
    url: str,
    headers: Mapping[str, str],
    body: Any,
    *,
    rate: float,
    seconds: float,
    warmup_seconds: float = 2.0,
    answer_seconds: float = 15.0,
    max_in_flight: int = 256,
) -> OpenLoop:
    """POST ``body`` to ``url`` ``rate`` times a second for ``warmup_seconds + seconds``.

    Each request is started at its due time (``start + i / rate``) in its own task, whether
    or not earlier ones have been answered; its latency runs from that due time to the end of
    the answer. The warm-up's requests are sent on the same schedule but not counted.
    """
    content = json.dumps(body).encode()
    send_headers = {**headers, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
    warm = round(warmup_seconds * rate)
    total = warm + round(seconds * rate)
    due_ms: list[float] = []
    sent_ms: list[float] = []
    lag_ms: list[float] = []
    statuses: Counter[str] = Counter()
    done_at: list[float] = []

    async with httpx.AsyncClient(limits=limits, timeout=answer_seconds) as http:

        async def one(index: int, due: float) -> None:
            sent = time.perf_counter()
            try:
                answer = await http.post(url, content=content, headers=send_headers)
                status = str(answer.status_code)
            except httpx.HTTPError as error:
                status = f"error: {type(error).__name__}"
            end = time.perf_counter()
            if index < warm:
                return
            statuses[status] += 1
            lag_ms.append((sent - due) * 1000)
            if status.startswith("2"):
                due_ms.append((end - due) * 1000)
                sent_ms.append((end - sent) * 1000)
                done_at.append(end)

        tasks: list[asyncio.Task[None]] = []
        in_flight = 0

        async def tracked(index: int, due: float) -> None:
            nonlocal in_flight
            in_flight += 1
            try:
                await one(index, due)
            finally:
                in_flight -= 1

        cpu_before = time.process_time()
        start = time.perf_counter() + 0.05
        for index in range(total):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if in_flight >= max_in_flight:
                # The server is that far behind: count the request as failed rather than let the
                # generator's own connection pool become what is measured.
                if index >= warm:
                    statuses[f"error: not sent, {max_in_flight} in flight"] += 1
                continue
            tasks.append(asyncio.create_task(tracked(index, due)))
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=answer_seconds + 1)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if pending:
                statuses["error: cancelled at the end"] += len(pending)
        cpu = time.process_time() - cpu_before
    measured_start = start + warm / rate
    wall = (max(done_at) - measured_start) if done_at else seconds
    ordered_lag = sorted(lag_ms)
    return OpenLoop(
        rate=rate,
        seconds=seconds,
        sent=total - warm,
        statuses=dict(sorted(statuses.items())),
        latency=summarise(due_ms, errors=(total - warm) - len(due_ms), wall_seconds=wall),
        service=summarise(sent_ms, errors=(total - warm) - len(sent_ms), wall_seconds=wall),
        send_lag_p99_ms=_percentile(ordered_lag, 0.99),
        send_lag_max_ms=ordered_lag[-1] if ordered_lag else 0.0,
        achieved_rate=len(due_ms) / wall if wall > 0 else 0.0,
        client_cpu_s=cpu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--body", required=True, help="the JSON body of every request")
    parser.add_argument("--rate", type=float, required=True, help="requests a second")
    parser.add_argument("--seconds", type=float, required=True, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds sent first and not counted")
    parser.add_argument("--cpu", type=int, help="the one core this process may run on")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    run = open_loop(
        args.url,
        {"Authorization": f"Bearer {args.token}"},
        json.loads(args.body),
        rate=args.rate,
        seconds=args.seconds,
        warmup_seconds=args.warmup,
    )
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        result = asyncio.run(run)
    else:
        result = uvloop.run(run)
    print("LATENCY_JSON " + msgspec.json.encode(result).decode())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
