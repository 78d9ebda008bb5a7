"""Health and metrics endpoints, against real databases and a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.di import Provide
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

import gateway.ops
from gateway.ops import ops_handlers
from gateway.settings import Settings
from gateway.storage import create_engine
from policies.call import Call, RoutePolicy
from policies.config import AuditConfig, AuthConfig, IdempotencyConfig, ThreatConfig, ThrottlingConfig
from policies.problems import exception_handlers
from policies.services import PolicyServices

CLOSED_PORT_PG = "postgresql+asyncpg://postgres@127.0.0.1:1/finrail"
CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"

Client = httpx.AsyncClient
Serve = Callable[..., AbstractAsyncContextManager[tuple[Client, PolicyServices]]]


@pytest.fixture
def serve() -> Serve:
    """Start the ops handlers on a small app with real services; yields a client and the services."""

    @asynccontextmanager
    async def start(
        engine: AsyncEngine, settings: Settings | None = None
    ) -> AsyncIterator[tuple[Client, PolicyServices]]:
        settings = settings or Settings()
        services = PolicyServices.create(
            engine,
            auth=AuthConfig(),
            throttling=settings.throttling,
            idempotency=IdempotencyConfig(),
            audit=AuditConfig(),
        )
        # Only the throttle is started: the handlers touch engine, metrics and throttle.ping(),
        # and a readiness probe must work even when the database is down.
        await services.throttle.start()
        app = Litestar(
            route_handlers=ops_handlers,
            dependencies={
                "services": Provide(lambda: services, sync_to_thread=False),
                "settings": Provide(lambda: settings, sync_to_thread=False),
            },
            exception_handlers=exception_handlers,
        )
        # httpx's ASGITransport runs the app on the test's own event loop; Litestar's
        # AsyncTestClient runs each request on a fresh loop in a thread, where the pooled
        # database and Redis connections of the services cannot be used.
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]  # Litestar types scopes narrower
                base_url="http://testserver",
            ) as client:
                yield client, services
        finally:
            await services.throttle.close()
            await services.http.aclose()

    return start


def redis_settings(storage: str = "memory://", redis_url: str | None = None) -> Settings:
    return Settings(throttling=ThrottlingConfig(storage=storage), redis_url=redis_url)


async def test_live_answers_ok(engine: AsyncEngine, serve: Serve) -> None:
    async with serve(engine) as (client, _services):
        response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


async def test_ready_checks_the_database(engine: AsyncEngine, serve: Serve) -> None:
    async with serve(engine) as (client, _services):
        response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "not configured"}}


async def test_ready_checks_redis_of_the_throttle_and_of_the_settings(
    engine: AsyncEngine, serve: Serve, redis_url: str
) -> None:
    for settings in (
        redis_settings(storage=redis_url),
        redis_settings(redis_url=redis_url),
        redis_settings(storage=redis_url, redis_url=redis_url),
    ):
        async with serve(engine, settings) as (client, _services):
            response = await client.get("/health/ready")
        assert response.status_code == 200, settings
        assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


async def test_ready_fails_naming_the_database(serve: Serve) -> None:
    engine = create_engine(CLOSED_PORT_PG, pool_size=1)
    try:
        async with serve(engine) as (client, _services):
            response = await client.get("/health/ready")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 503
    assert "database" in problem["detail"]
    assert "redis" not in problem["detail"]
    assert "Traceback" not in response.text
    assert "127.0.0.1" not in response.text


@pytest.mark.parametrize("where", ["redis_url", "throttle"])
async def test_ready_fails_naming_redis(engine: AsyncEngine, serve: Serve, where: str) -> None:
    if where == "redis_url":
        settings = redis_settings(redis_url=CLOSED_PORT_REDIS)
    else:
        settings = redis_settings(storage=CLOSED_PORT_REDIS)
    async with serve(engine, settings) as (client, _services):
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    detail = response.json()["detail"]
    assert "redis" in detail
    assert "database" not in detail


async def test_ready_does_not_hang_on_a_silent_dependency(
    engine: AsyncEngine, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Redis that accepts connections but never answers fails the probe within the timeout."""
    accepted: list[asyncio.StreamWriter] = []

    async def swallow(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(gateway.ops, "CHECK_TIMEOUT_SECONDS", 0.3)
    settings = redis_settings(redis_url=f"redis://127.0.0.1:{port}/0")
    try:
        async with serve(engine, settings) as (client, _services):
            started = time.monotonic()
            response = await client.get("/health/ready")
            elapsed = time.monotonic() - started
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert response.status_code == 503
    assert "redis" in response.json()["detail"]
    assert elapsed < 2.0


async def test_metrics_are_served_as_prometheus_text(engine: AsyncEngine, serve: Serve) -> None:
    route = RoutePolicy(
        api="admin",
        version=1,
        method="GET",
        template="/admin/v1/clients",
        operation="list_clients",
        scopes=("admin:read",),
        public=False,
        effect=False,
        rates=(),
        threat=ThreatConfig(),
    )
    scope: Any = {"type": "http", "method": "GET", "path": "/admin/v1/clients", "headers": [], "state": {}}
    async with serve(engine) as (client, services):
        services.metrics.observe(Call(scope=scope, route=route, client_id="ops-app", status=200))
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    values = {
        (sample.name, sample.labels.get("client")): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert values[("finrail_requests_total", "ops-app")] == 1


async def test_openapi_declares_the_problem_answer_of_readiness(engine: AsyncEngine, serve: Serve) -> None:
    async with serve(engine) as (client, _services):
        document = (await client.get("/schema/openapi.json")).json()
    ready = document["paths"]["/health/ready"]["get"]["responses"]
    assert "application/json" in ready["200"]["content"]
    assert "application/problem+json" in ready["503"]["content"]
    assert "text/plain" in next(iter(document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]))
