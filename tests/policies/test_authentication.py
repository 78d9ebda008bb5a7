from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from litestar import Litestar, Request, get
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.authentication import Authentication, Authorization
from policies.call import current_call, governed, public
from policies.chain import ApiIdentity, PolicyMiddleware
from policies.clients import ClientRecord, ClientRegistry
from policies.config import AuthConfig, PolicyConfig, ThreatConfig
from policies.keys import KeyStore
from policies.problems import exception_handlers
from policies.tokens import TokenService


@get("/things", opt=governed("things:read"), sync_to_thread=False)
def things(request: Request[Any, Any, Any]) -> dict[str, Any]:
    call = current_call(request.scope)
    return {
        "client_id": call.client_id,
        "subject": call.subject,
        "scopes": sorted(call.scopes),
        "tier": call.tier,
    }


@get("/things/secret", opt=governed("things:read", "things:admin"), sync_to_thread=False)
def secret_things() -> dict[str, str]:
    return {"ok": "yes"}


@get("/open", opt=public(), sync_to_thread=False)
def open_route() -> dict[str, str]:
    return {"ok": "yes"}


@dataclass
class World:
    http: httpx.AsyncClient
    tokens: TokenService
    clients: ClientRegistry
    client: ClientRecord


@pytest.fixture
async def world(engine: AsyncEngine) -> AsyncIterator[World]:
    keys = KeyStore(engine, algorithm="ES256", token_ttl_seconds=300)
    await keys.start()
    registry = ClientRegistry(engine, cache_seconds=60, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    client, _ = await registry.create("reader", ["things:read"], "silver", subject="EMP-7")
    async with httpx.AsyncClient() as outbound:
        tokens = TokenService(keys, registry, AuthConfig(issuer="https://finrail.test"), outbound)
        chain = PolicyMiddleware(
            ApiIdentity("things", 1, PolicyConfig(), ThreatConfig()),
            [Authentication(tokens), Authorization()],
        )
        app = Litestar(
            route_handlers=[things, secret_things, open_route],
            middleware=[chain],
            exception_handlers=exception_handlers,
        )
        # httpx's ASGITransport runs the app on the test's event loop, where the engine's pooled
        # connections live; Litestar's AsyncTestClient would run it on another loop in a thread.
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield World(http, tokens, registry, client)


async def bearer(world: World, scope: str | None = None) -> dict[str, str]:
    issued = await world.tokens.issue(world.client, scope)
    return {"Authorization": f"Bearer {issued.access_token}"}


async def test_a_valid_token_identifies_the_caller(world: World) -> None:
    response = await world.http.get("/things", headers=await bearer(world))
    assert response.status_code == 200
    assert response.json() == {
        "client_id": world.client.client_id,
        "subject": "EMP-7",
        "scopes": ["things:read"],
        "tier": "silver",
    }


async def test_the_scheme_name_is_case_insensitive(world: World) -> None:
    headers = await bearer(world)
    headers["Authorization"] = headers["Authorization"].replace("Bearer", "bearer")
    assert (await world.http.get("/things", headers=headers)).status_code == 200


async def test_no_token_answers_401_with_a_bearer_challenge(world: World) -> None:
    response = await world.http.get("/things")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="finrail"'
    assert response.headers["content-type"] == "application/problem+json"
    assert "Authorization: Bearer" in response.json()["detail"]


async def test_another_scheme_is_not_a_bearer_token(world: World) -> None:
    response = await world.http.get("/things", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="finrail"'


async def test_an_invalid_token_answers_401_invalid_token_without_echoing_it(world: World) -> None:
    headers = await bearer(world)
    token = headers["Authorization"].split()[1]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = await world.http.get("/things", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="finrail", error="invalid_token", error_description="')
    assert "signature" in response.json()["detail"]
    assert forged not in response.text
    assert forged not in challenge


async def test_an_expired_token_says_so(world: World) -> None:
    world.tokens.config = AuthConfig(issuer="https://finrail.test", token_ttl_seconds=-120, leeway_seconds=0)
    headers = await bearer(world)
    response = await world.http.get("/things", headers=headers)
    assert response.status_code == 401
    assert "expired" in response.headers["www-authenticate"]


async def test_a_disabled_clients_token_stops_working(world: World) -> None:
    headers = await bearer(world)
    assert (await world.http.get("/things", headers=headers)).status_code == 200
    await world.clients.disable(world.client.client_id)
    response = await world.http.get("/things", headers=headers)
    assert response.status_code == 401
    assert "disabled" in response.json()["detail"]


async def test_a_missing_scope_answers_403_naming_it(world: World) -> None:
    response = await world.http.get("/things/secret", headers=await bearer(world))
    assert response.status_code == 403
    assert response.json()["detail"].endswith("things:admin")
    assert response.headers["www-authenticate"] == (
        'Bearer realm="finrail", error="insufficient_scope", '
        'error_description="the token lacks a required scope", scope="things:read things:admin"'
    )


async def test_public_routes_need_no_token(world: World) -> None:
    assert (await world.http.get("/open")).status_code == 200
    assert (await world.http.get("/open", headers={"Authorization": "Bearer junk"})).status_code == 200
