"""Operations endpoints: liveness, readiness and Prometheus metrics.

``/health/live`` answers as long as the process serves HTTP (restart me if not);
``/health/ready`` answers 200 only when the database and, when configured, Redis answer
(route no traffic to me if not). Each readiness check is bounded by a short timeout, so a
hung dependency makes the probe fail quickly instead of hanging the probe itself.
``/metrics`` serves the counters of :class:`policies.metrics.Metrics`.

The gateway mounts :data:`ops_handlers` and provides the ``services`` and ``settings``
dependencies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import cast

import msgspec
import sqlalchemy as sa
from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.settings import Settings
from policies.call import public
from policies.metrics import METRICS_CONTENT_TYPE
from policies.problems import Problem, problem_spec
from policies.services import PolicyServices

__all__ = [
    "CHECK_TIMEOUT_SECONDS",
    "Liveness",
    "Readiness",
    "ReadinessChecks",
    "health_live",
    "health_ready",
    "metrics",
    "ops_handlers",
]

logger = logging.getLogger("finrail.ops")

CHECK_TIMEOUT_SECONDS = 2.0
"""Longest time one readiness check may take before its dependency counts as unavailable."""

OK = "ok"
NOT_CONFIGURED = "not configured"

_NO_CACHE = CacheControlHeader(no_store=True)


class Liveness(msgspec.Struct, frozen=True):
    """The process is up and serving HTTP."""

    status: str
    """Always ``ok``."""


class ReadinessChecks(msgspec.Struct, frozen=True):
    """The outcome of each dependency check."""

    database: str
    """``ok`` when ``SELECT 1`` succeeded."""
    redis: str
    """``ok`` when every configured Redis answered ``PING``; ``not configured`` without Redis."""


class Readiness(msgspec.Struct, frozen=True):
    """Every dependency the gateway needs to serve calls is reachable."""

    status: str
    """``ok``."""
    checks: ReadinessChecks
    """What was checked."""


_UNAVAILABLE = problem_spec("A dependency is unavailable; the problem's detail names it.")


async def _bounded(name: str, check: Callable[[], Awaitable[None]]) -> str | None:
    """Run ``check``; ``None`` when it passed, otherwise why ``name`` is unavailable."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check()
    except TimeoutError:
        return f"{name}: no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        # The reason goes to the log; the client learns which dependency failed, not its internals.
        logger.warning("readiness check %s failed: %s", name, exc, exc_info=exc)
        return f"{name}: unavailable"
    return None


async def _check_database(services: PolicyServices) -> None:
    async with services.engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))


async def _ping_url(url: str) -> None:
    client = Redis.from_url(
        url,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        await cast("Awaitable[bool]", client.ping())
    finally:
        await client.aclose()


def _redis_checks(services: PolicyServices, settings: Settings) -> list[Callable[[], Awaitable[None]]]:
    """The Redis pings to run: the throttle's own storage, and ``redis_url`` if it differs."""
    checks: list[Callable[[], Awaitable[None]]] = []
    storage = settings.throttling.storage
    throttle_on_redis = settings.throttling.enabled and storage.startswith(("redis://", "rediss://"))
    if throttle_on_redis:

        async def ping_throttle() -> None:
            if not await services.throttle.ping():
                raise ConnectionError("the throttle storage did not answer PING")

        checks.append(ping_throttle)
    redis_url = settings.redis_url
    if redis_url and not (throttle_on_redis and redis_url == storage):
        checks.append(lambda: _ping_url(redis_url))
    return checks


async def _check_redis(checks: list[Callable[[], Awaitable[None]]]) -> None:
    await asyncio.gather(*(check() for check in checks))


@get(
    "/health/live",
    opt=public("health_live"),
    cache_control=_NO_CACHE,
    summary="Liveness",
    description="200 while the process serves HTTP.",
    tags=["operations"],
)
async def health_live() -> Liveness:
    """Answer as long as the process can serve a request."""
    return Liveness(status=OK)


@get(
    "/health/ready",
    opt=public("health_ready"),
    cache_control=_NO_CACHE,
    summary="Readiness",
    description="200 when the database and the configured Redis answer; 503 naming the failing check.",
    tags=["operations"],
    responses={503: _UNAVAILABLE},
)
async def health_ready(
    services: NamedDependency[PolicyServices], settings: NamedDependency[Settings]
) -> Readiness:
    """Check every dependency concurrently, each within :data:`CHECK_TIMEOUT_SECONDS`.

    Raises:
        Problem: 503 whose detail names each failing check.
    """
    redis_checks = _redis_checks(services, settings)
    pending = [_bounded("database", lambda: _check_database(services))]
    if redis_checks:
        pending.append(_bounded("redis", lambda: _check_redis(redis_checks)))
    failures = [failure for failure in await asyncio.gather(*pending) if failure is not None]
    if failures:
        raise Problem(
            503,
            "not ready: " + "; ".join(failures),
            kind="not-ready",
            title="Service not ready",
            headers={"Cache-Control": "no-store", "Retry-After": "5"},
        )
    return Readiness(
        status=OK,
        checks=ReadinessChecks(database=OK, redis=OK if redis_checks else NOT_CONFIGURED),
    )


@get(
    "/metrics",
    opt=public("metrics"),
    media_type=METRICS_CONTENT_TYPE,
    cache_control=_NO_CACHE,
    summary="Prometheus metrics",
    description="Calls by API, route, method, status and client; latency; throttled and rejected calls.",
    tags=["operations"],
)
async def metrics(services: NamedDependency[PolicyServices]) -> bytes:
    """The metrics of this process in the Prometheus text exposition format."""
    body, _content_type = services.metrics.render()
    return body


ops_handlers: list[HTTPRouteHandler] = [health_live, health_ready, metrics]
"""Route handlers to register on the gateway's app (they need ``services`` and ``settings``)."""
