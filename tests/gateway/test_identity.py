from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from argon2 import PasswordHasher
from joserfc import jwk, jws
from litestar import Litestar
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.catalog import ApiDescriptor, Catalog
from gateway.identity import identity_handlers
from policies.authentication import Authentication, Authorization
from policies.chain import ApiIdentity, PolicyMiddleware
from policies.clients import ClientRecord
from policies.config import (
    AuditConfig,
    AuthConfig,
    IdempotencyConfig,
    PolicyConfig,
    ThreatConfig,
    ThrottlingConfig,
)
from policies.problems import exception_handlers
from policies.services import PolicyServices

ISSUER = "https://gateway.finrail.test"
RATE_LIMIT = 4


def catalog() -> Catalog:
    def describe(name: str, scopes: dict[str, str]) -> ApiDescriptor:
        return ApiDescriptor(
            name=name,
            tier="gateway",
            major=1,
            owner="platform",
            summary=name,
            prefixes=(f"/{name}",),
            scopes=scopes,
            routes=lambda _: identity_handlers,
        )

    return Catalog(
        apis=(
            describe("identity", {"identity:introspect": "Introspect tokens."}),
            describe("erp", {"erp:read": "Read.", "erp:write": "Write."}),
        )
    )


def build_app(services: PolicyServices) -> Litestar:
    known = catalog()
    chain = PolicyMiddleware(
        ApiIdentity("identity", 1, PolicyConfig(), ThreatConfig()),
        [Authentication(services.tokens), Authorization()],
    )
    return Litestar(
        route_handlers=identity_handlers,
        middleware=[chain],
        exception_handlers=exception_handlers,
        dependencies={
            "services": Provide(lambda: services, use_cache=True, sync_to_thread=False),
            "catalog": Provide(lambda: known, use_cache=True, sync_to_thread=False),
        },
    )


@dataclass
class World:
    app: Litestar
    services: PolicyServices
    client: ClientRecord
    secret: str

    def http(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        # httpx's ASGITransport runs the app on the test's event loop (where the engine's
        # connections live) and lets a test choose the caller's address.
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def world(engine: AsyncEngine) -> AsyncIterator[World]:
    services = PolicyServices.create(
        engine,
        auth=AuthConfig(issuer=ISSUER, token_endpoint_rate=f"{RATE_LIMIT}/minute"),
        throttling=ThrottlingConfig(),
        idempotency=IdempotencyConfig(),
        audit=AuditConfig(),
    )
    services.clients.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    await services.start()
    try:
        client, secret = await services.clients.create("ledger", ["erp:read", "erp:write"], "gold")
        yield World(build_app(services), services, client, secret)
    finally:
        await services.close()


def basic(client_id: str, secret: str) -> dict[str, str]:
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def assert_no_store(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert body["error_description"]
    assert set(body) == {"error", "error_description"}
    assert_no_store(response)
    return body


# --- POST /oauth/token -------------------------------------------------------------------


async def test_client_credentials_with_basic_auth(world: World) -> None:
    async with world.http() as http:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "erp:read"},
            headers=basic(world.client.client_id, world.secret),
        )
    assert response.status_code == 200, response.text
    assert_no_store(response)
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "erp:read"
    principal = await world.services.tokens.verify(body["access_token"])
    assert principal.client_id == world.client.client_id
    assert principal.scopes == {"erp:read"}


async def test_client_credentials_with_form_auth(world: World) -> None:
    async with world.http() as http:
        response = await http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": world.client.client_id,
                "client_secret": world.secret,
                "unknown_parameter": "ignored, as RFC 6749 §3.2 requires",
            },
        )
    assert response.status_code == 200, response.text
    assert_no_store(response)
    assert response.json()["scope"] == "erp:read erp:write"


async def test_wrong_secret_is_invalid_client(world: World) -> None:
    async with world.http() as http:
        with_basic = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(world.client.client_id, world.secret + "x"),
        )
        with_form = await http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": world.client.client_id,
                "client_secret": "no",
            },
        )
        unknown = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic("cl_nobody", world.secret),
        )
    oauth_error(with_basic, 401, "invalid_client")
    assert with_basic.headers["www-authenticate"] == 'Basic realm="finrail"'
    oauth_error(with_form, 401, "invalid_client")
    assert "www-authenticate" not in with_form.headers
    assert oauth_error(unknown, 401, "invalid_client") == with_basic.json()  # no hint which ids exist


async def test_no_client_authentication_is_invalid_client(world: World) -> None:
    async with world.http() as http:
        response = await http.post("/oauth/token", data={"grant_type": "client_credentials"})
        garbled = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic !!!"}
        )
    oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"] == 'Basic realm="finrail"'
    oauth_error(garbled, 401, "invalid_client")


async def test_a_disabled_client_gets_no_token(world: World) -> None:
    await world.services.clients.disable(world.client.client_id)
    async with world.http() as http:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(world.client.client_id, world.secret),
        )
    oauth_error(response, 401, "invalid_client")


async def test_unsupported_grant_type(world: World) -> None:
    async with world.http() as http:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "password", "username": "u", "password": "p"},
            headers=basic(world.client.client_id, world.secret),
        )
    oauth_error(response, 400, "unsupported_grant_type")


async def test_missing_grant_type_is_invalid_request(world: World) -> None:
    async with world.http() as http:
        response = await http.post(
            "/oauth/token", data={}, headers=basic(world.client.client_id, world.secret)
        )
    assert "grant_type" in oauth_error(response, 400, "invalid_request")["error_description"]


async def test_a_repeated_parameter_is_invalid_request_not_a_crash(world: World) -> None:
    async with world.http() as http:
        response = await http.post(
            "/oauth/token",
            content="grant_type=client_credentials&grant_type=client_credentials",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                **basic(world.client.client_id, world.secret),
            },
        )
    oauth_error(response, 400, "invalid_request")


async def test_two_authentication_methods_are_invalid_request(world: World) -> None:
    async with world.http() as http:
        response = await http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": world.client.client_id,
                "client_secret": "x",
            },
            headers=basic(world.client.client_id, world.secret),
        )
    oauth_error(response, 400, "invalid_request")


async def test_a_scope_the_client_lacks_is_invalid_scope(world: World) -> None:
    async with world.http() as http:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "erp:read identity:introspect"},
            headers=basic(world.client.client_id, world.secret),
        )
    assert "identity:introspect" in oauth_error(response, 400, "invalid_scope")["error_description"]


async def test_guessing_secrets_is_throttled_per_client_id(world: World) -> None:
    target = world.client.client_id
    statuses = []
    for attempt in range(RATE_LIMIT + 1):
        # A new address for every guess: the per-address limit never applies, the per-client one does.
        async with world.http(f"10.0.0.{attempt + 1}") as http:
            response = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers=basic(target, f"guess-{attempt}"),
            )
        statuses.append(response.status_code)
    assert statuses == [401] * RATE_LIMIT + [429]
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["content-type"] == "application/problem+json"
    assert "this client id" in response.json()["detail"]
    assert_no_store(response)

    # Even the right secret waits until the window passes; another client is unaffected.
    async with world.http("10.0.1.1") as http:
        blocked = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(target, world.secret)
        )
        other, other_secret = await world.services.clients.create("other", ["erp:read"], "gold")
        fine = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(other.client_id, other_secret),
        )
    assert blocked.status_code == 429
    assert fine.status_code == 200


async def test_guessing_is_throttled_per_source_address(world: World) -> None:
    statuses = []
    async with world.http("192.0.2.7") as http:
        for attempt in range(RATE_LIMIT + 1):
            response = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                headers=basic(f"cl_guess{attempt}", "secret"),
            )
            statuses.append(response.status_code)
    assert statuses == [401] * RATE_LIMIT + [429]
    assert "this address" in response.json()["detail"]
    async with world.http("192.0.2.8") as http:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(world.client.client_id, world.secret),
        )
    assert response.status_code == 200


# --- POST /oauth/introspect --------------------------------------------------------------


async def introspector_token(world: World, http: httpx.AsyncClient, scopes: list[str]) -> dict[str, str]:
    client, secret = await world.services.clients.create("resource-server", scopes, "gold")
    response = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic(client.client_id, secret)
    )
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_introspection_of_active_and_inactive_tokens(world: World) -> None:
    async with world.http() as http:
        auth = await introspector_token(world, http, ["identity:introspect"])
        issued = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "erp:write"},
            headers=basic(world.client.client_id, world.secret),
        )
        token = issued.json()["access_token"]
        active = await http.post("/oauth/introspect", data={"token": token}, headers=auth)
        garbage = await http.post("/oauth/introspect", data={"token": "not-a-token"}, headers=auth)
        await world.services.clients.disable(world.client.client_id)
        revoked = await http.post("/oauth/introspect", data={"token": token}, headers=auth)

    assert active.status_code == 200, active.text
    claims = json.loads(jws.extract_compact(token.encode()).payload)
    assert active.json() == {
        "active": True,
        "scope": "erp:write",
        "client_id": world.client.client_id,
        "sub": world.client.client_id,
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": ISSUER,
        "aud": ["finrail"],
        "token_type": "Bearer",
        "jti": claims["jti"],
    }
    assert garbage.status_code == 200
    assert garbage.json() == {"active": False}
    assert revoked.json() == {"active": False}


async def test_introspection_is_governed(world: World) -> None:
    async with world.http() as http:
        anonymous = await http.post("/oauth/introspect", data={"token": "x"})
        unscoped = await http.post(
            "/oauth/introspect",
            data={"token": "x"},
            headers=await introspector_token(world, http, ["erp:read"]),
        )
        missing = await http.post(
            "/oauth/introspect",
            data={},
            headers=await introspector_token(world, http, ["identity:introspect"]),
        )
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert unscoped.status_code == 403
    assert "identity:introspect" in unscoped.json()["detail"]
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


# --- /.well-known ------------------------------------------------------------------------


async def test_jwks_verifies_issued_tokens_and_holds_no_private_parts(world: World) -> None:
    async with world.http() as http:
        keys = (await http.get("/.well-known/jwks.json")).json()["keys"]
        issued = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic(world.client.client_id, world.secret),
        )
    assert [k["kid"] for k in keys] == [world.services.keys.active_kid]
    assert keys[0]["use"] == "sig"
    assert keys[0]["alg"] == "ES256"
    assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(keys[0])
    key = jwk.import_key(keys[0])
    jws.deserialize_compact(issued.json()["access_token"], key, algorithms=["ES256"])

    await world.services.keys.rotate()
    async with world.http() as http:
        rotated = (await http.get("/.well-known/jwks.json")).json()["keys"]
    assert len(rotated) == 2


async def test_authorization_server_metadata(world: World) -> None:
    async with world.http() as http:
        response = await http.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.json() == {
        "issuer": ISSUER,
        "token_endpoint": f"{ISSUER}/oauth/token",
        "jwks_uri": f"{ISSUER}/.well-known/jwks.json",
        "introspection_endpoint": f"{ISSUER}/oauth/introspect",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["erp:read", "erp:write", "identity:introspect"],
        "response_types_supported": [],
    }


def test_every_answer_of_the_token_endpoint_is_documented(world: World) -> None:
    operation = world.app.openapi_schema.to_schema()["paths"]["/oauth/token"]["post"]
    assert set(operation["responses"]) >= {"200", "400", "401", "429"}
    assert "application/x-www-form-urlencoded" in operation["requestBody"]["content"]
    assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OAuthErrorBody"
    }
