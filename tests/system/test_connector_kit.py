"""The connector kit against a real local platform app (ASGI in process, and uvicorn for timeouts)."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from litestar import Litestar, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from platforms.kit import Faults, SandboxConfig, SandboxState, Store, build_sandbox
from system_apis.connectors.kit import (
    ConnectionConfig,
    MalformedAnswer,
    OAuth2ClientCredentials,
    PlatformClient,
    PlatformRejected,
    PlatformTimeout,
    PlatformUnavailable,
    external_reference,
    platform_message,
)


class Item(msgspec.Struct):
    id: str
    name: str


class FakePlatform:
    """A platform whose answers the tests script: counts calls, fails on demand, issues tokens."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.fail_first = 0
        self.token_number = 0
        self.token_fetches = 0
        self.seen_headers: list[dict[str, str]] = []

    def count(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name]

    def app(self) -> Litestar:
        platform = self

        @get("/ok", sync_to_thread=False)
        def ok(request: Request[Any, Any, Any]) -> dict[str, str]:
            platform.count("ok")
            platform.seen_headers.append(dict(request.headers))
            return {"id": "1", "name": "Acme"}

        @get("/flaky", sync_to_thread=False)
        def flaky() -> Response[dict[str, str]]:
            if platform.count("flaky") <= platform.fail_first:
                return Response({"error": {"code": "X", "message": "temporarily broken"}}, status_code=503)
            return Response({"id": "2", "name": "Flaky"})

        @get("/down", sync_to_thread=False)
        def down() -> Response[dict[str, str]]:
            platform.count("down")
            return Response({"message": "boom"}, status_code=500)

        @get("/throttled", sync_to_thread=False)
        def throttled(retry_after: FromQuery[str] = "1") -> Response[dict[str, str]]:
            if platform.count("throttled") == 1:
                return Response({"message": "slow down"}, status_code=429, headers={"Retry-After": retry_after})
            return Response({"id": "3", "name": "Patient"})

        @get("/bad-json", sync_to_thread=False)
        def bad_json() -> Response[str]:
            return Response("<html>oops</html>", media_type="text/html")

        @get("/wrong-shape", sync_to_thread=False)
        def wrong_shape() -> dict[str, int]:
            return {"id": 5}

        @get("/missing", sync_to_thread=False)
        def missing() -> Response[dict[str, Any]]:
            platform.count("missing")
            body = {"error": {"code": "BP/404", "message": {"lang": "en", "value": "Business partner 42 not found"}}}
            return Response(body, status_code=404)

        @post("/items", sync_to_thread=False)
        def create(data: JSONBody[dict[str, Any]]) -> Response[dict[str, Any]]:
            platform.count("create")
            if not data.get("name"):
                error = {"error": {"code": "VALIDATION", "message": "name is mandatory", "target": "name"}}
                return Response(error, status_code=400)
            return Response({"id": "9", "name": data["name"]}, status_code=201)

        @post("/oauth/token", sync_to_thread=False)
        def token(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
            if request.headers.get("authorization") != httpx.BasicAuth("app", "s3cret")._auth_header:
                return Response({"error": "invalid_client"}, status_code=401)
            platform.token_fetches += 1
            platform.token_number += 1
            answer = {"access_token": f"tok-{platform.token_number}", "token_type": "Bearer", "expires_in": 3600}
            return Response(answer)

        @get("/secure", sync_to_thread=False)
        def secure(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
            if request.headers.get("authorization") != f"Bearer tok-{platform.token_number}":
                return Response({"message": "invalid token"}, status_code=401)
            return Response({"id": "4", "name": "Secret"})

        @post("/oauth/revoke", status_code=204, sync_to_thread=False)
        def revoke() -> None:
            platform.token_number += 100  # every token issued so far is now refused

        routes = [ok, flaky, down, throttled, bad_json, wrong_shape, missing, create, token, secure, revoke]
        return Litestar(route_handlers=routes)


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
async def make_client(platform: FakePlatform) -> AsyncIterator[Any]:
    clients: list[PlatformClient] = []
    transport = httpx.ASGITransport(app=platform.app())

    def make(**settings: Any) -> PlatformClient:
        settings.setdefault("backoff_base_seconds", 0.01)
        client = PlatformClient("erp", ConnectionConfig(base_url="http://sandbox.erp", **settings), transport=transport)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_a_5xx_is_retried_until_it_succeeds(make_client: Any, platform: FakePlatform) -> None:
    platform.fail_first = 2
    client: PlatformClient = make_client(retries=3)
    response = await client.request("GET", "/flaky")
    assert client.decode(response, Item) == Item(id="2", name="Flaky")
    assert platform.calls["flaky"] == 3


async def test_retries_exhausted_become_a_503_problem_naming_the_platform(
    make_client: Any, platform: FakePlatform
) -> None:
    client: PlatformClient = make_client(retries=2)
    with pytest.raises(PlatformUnavailable) as caught:
        await client.request("GET", "/down")
    assert platform.calls["down"] == 3
    problem = caught.value.problem()
    assert problem.status == 503
    assert "erp" in problem.detail
    assert "500" in problem.detail
    assert "boom" in problem.detail


async def test_retry_false_sends_once(make_client: Any, platform: FakePlatform) -> None:
    client: PlatformClient = make_client(retries=3)
    with pytest.raises(PlatformUnavailable):
        await client.request("GET", "/down", retry=False)
    assert platform.calls["down"] == 1


async def test_429_waits_for_retry_after(make_client: Any, platform: FakePlatform) -> None:
    client: PlatformClient = make_client(retries=1)
    started = time.monotonic()
    response = await client.request("GET", "/throttled")
    assert time.monotonic() - started >= 0.95
    assert response.json()["name"] == "Patient"
    assert platform.calls["throttled"] == 2


async def test_a_retry_after_beyond_the_cap_fails_fast_and_says_when(make_client: Any, platform: FakePlatform) -> None:
    client: PlatformClient = make_client(retries=3, retry_after_max_seconds=5)
    started = time.monotonic()
    with pytest.raises(PlatformUnavailable) as caught:
        await client.request("GET", "/throttled", params={"retry_after": "120"})
    assert time.monotonic() - started < 1
    assert platform.calls["throttled"] == 1
    assert caught.value.problem().headers == {"Retry-After": "120"}


async def test_the_circuit_opens_fails_fast_half_opens_and_closes(make_client: Any, platform: FakePlatform) -> None:
    client: PlatformClient = make_client(retries=0, breaker_failures=3, breaker_reset_seconds=0.3)
    for _ in range(3):
        with pytest.raises(PlatformUnavailable):
            await client.request("GET", "/down")
    assert client.breaker.state == "open"

    with pytest.raises(PlatformUnavailable) as caught:
        await client.request("GET", "/ok")
    assert "circuit open" in caught.value.problem().detail
    assert "Retry-After" in caught.value.problem().headers
    assert platform.calls["down"] == 3
    assert "ok" not in platform.calls  # failed fast: the platform was not called

    await asyncio.sleep(0.35)
    assert client.breaker.state == "half-open"
    await client.request("GET", "/ok")
    assert client.breaker.state == "closed"


async def test_a_failed_trial_call_opens_the_circuit_again(make_client: Any, platform: FakePlatform) -> None:
    client: PlatformClient = make_client(retries=0, breaker_failures=2, breaker_reset_seconds=0.2)
    for _ in range(2):
        with pytest.raises(PlatformUnavailable):
            await client.request("GET", "/down")
    await asyncio.sleep(0.25)
    with pytest.raises(PlatformUnavailable):
        await client.request("GET", "/down")  # the one trial call
    assert platform.calls["down"] == 3
    assert client.breaker.state == "open"


async def test_the_outbound_rate_limit_delays_calls(make_client: Any, platform: FakePlatform) -> None:
    client: PlatformClient = make_client(rate="5/second")
    started = time.monotonic()
    for _ in range(5):
        await client.request("GET", "/ok")
    assert time.monotonic() - started < 0.5
    await client.request("GET", "/ok")  # the sixth call in the same second waits
    assert time.monotonic() - started >= 0.95
    assert platform.calls["ok"] == 6


@pytest.mark.parametrize("path", ["/bad-json", "/wrong-shape"])
async def test_an_answer_off_contract_is_malformed(make_client: Any, path: str) -> None:
    client: PlatformClient = make_client()
    response = await client.request("GET", path)
    with pytest.raises(MalformedAnswer) as caught:
        client.decode(response, Item)
    problem = caught.value.problem()
    assert problem.status == 502
    assert "erp" in problem.detail
    assert path in problem.detail


async def test_a_404_is_rejected_with_the_platforms_message(make_client: Any, platform: FakePlatform) -> None:
    client: PlatformClient = make_client(retries=3)
    with pytest.raises(PlatformRejected) as caught:
        await client.request("GET", "/missing")
    assert platform.calls["missing"] == 1  # a 4xx is never retried
    assert (caught.value.platform_status, caught.value.code) == (404, "BP/404")
    problem = caught.value.problem()
    assert problem.status == 404
    assert "Business partner 42 not found" in problem.detail
    assert "erp" in problem.detail


async def test_a_400_becomes_422_with_the_platforms_message(make_client: Any, platform: FakePlatform) -> None:
    client: PlatformClient = make_client()
    with pytest.raises(PlatformRejected) as caught:
        await client.request("POST", "/items", json={"name": ""})
    problem = caught.value.problem()
    assert problem.status == 422
    assert "name is mandatory" in problem.detail
    created = await client.request("POST", "/items", json=Item(id="", name="Acme"))
    assert created.status_code == 201


async def test_oauth2_fetches_once_reuses_and_refreshes_on_401(platform: FakePlatform) -> None:
    config = ConnectionConfig(
        base_url="http://sandbox.treasury", client_id="app", client_secret="s3cret", token_path="/oauth/token"
    )
    async with PlatformClient("treasury", config, transport=httpx.ASGITransport(app=platform.app())) as client:
        for _ in range(3):
            assert (await client.request("GET", "/secure")).json()["name"] == "Secret"
        assert platform.token_fetches == 1
        await client.request("POST", "/oauth/revoke")
        assert (await client.request("GET", "/secure")).json()["name"] == "Secret"
        assert platform.token_fetches == 2


async def test_refused_client_credentials_are_the_gateways_problem(platform: FakePlatform) -> None:
    auth = OAuth2ClientCredentials("/oauth/token", "app", "wrong", platform="treasury")
    config = ConnectionConfig(base_url="http://sandbox.treasury")
    transport = httpx.ASGITransport(app=platform.app())
    async with PlatformClient("treasury", config, transport=transport, auth=auth) as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.request("GET", "/secure")
    problem = caught.value.problem()
    assert problem.status == 502
    assert "treasury" in problem.detail
    assert "credentials" in problem.detail


async def test_basic_auth_comes_from_the_config(platform: FakePlatform) -> None:
    config = ConnectionConfig(base_url="http://sandbox.erp", username="finrail", password="sandbox")
    async with PlatformClient("erp", config, transport=httpx.ASGITransport(app=platform.app())) as client:
        await client.request("GET", "/ok")
    assert platform.seen_headers[0]["authorization"] == httpx.BasicAuth("finrail", "sandbox")._auth_header


def test_external_references_are_deterministic() -> None:
    one = external_reference("invoice", "idem-123")
    assert one == external_reference("invoice", "idem-123")
    assert one != external_reference("invoice", "idem-124")
    assert len(one) == 16
    assert one.isalnum()
    assert one.isupper()


# --- over a real socket: timeouts --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served() -> Iterator[Any]:
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def serve(app: Litestar) -> str:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield serve
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


Sandbox = NamedDependency[SandboxState]


class NewThing(msgspec.Struct):
    reference: str
    name: str


@post("/things", sync_to_thread=False)
def create_thing(sandbox: Sandbox, data: JSONBody[NewThing]) -> dict[str, str]:
    thing = {"id": str(sandbox.store.next_number("thing")), "reference": data.reference, "name": data.name}
    sandbox.store.put("things", thing["id"], thing)
    return thing


@get("/things", sync_to_thread=False)
def find_things(sandbox: Sandbox, reference: FromQuery[str]) -> list[dict[str, Any]]:
    return sandbox.store.find("things", reference=reference)


def no_seed(store: Store, rng: random.Random) -> None:
    return None


def things_sandbox() -> Litestar:
    return build_sandbox(
        "things",
        SandboxConfig(faults=Faults(timeout_rate=1.0, hang_seconds=0.5)),
        [create_thing, find_things],
        lambda status, message: ("application/json", msgspec.json.encode({"message": message})),
        no_seed,
    )


async def test_a_hanging_platform_times_out_after_the_retries(served: Any) -> None:
    base_url = served(things_sandbox())
    config = ConnectionConfig(base_url=base_url, timeout_seconds=0.1, retries=1, backoff_base_seconds=0.01)
    async with PlatformClient("things", config) as client:
        started = time.monotonic()
        with pytest.raises(PlatformTimeout) as caught:
            await client.request("GET", "/things", params={"reference": "x"})
        assert 0.2 <= time.monotonic() - started < 0.45  # two attempts of 0.1 s, not the 0.5 s hang
    problem = caught.value.problem()
    assert problem.status == 504
    assert "things" in problem.detail


async def test_a_create_that_timed_out_after_succeeding_is_found_not_sent_again(served: Any) -> None:
    sandbox = things_sandbox()
    base_url = served(sandbox)
    config = ConnectionConfig(base_url=base_url, timeout_seconds=0.2, retries=2, backoff_base_seconds=0.01)
    reference = external_reference("thing", "idem-1")
    async with PlatformClient("things", config) as client:

        async def create() -> dict[str, Any]:
            response = await client.request("POST", "/things", json={"reference": reference, "name": "T"}, retry=False)
            return client.decode(response, dict[str, Any])

        async def find() -> dict[str, Any] | None:
            await asyncio.sleep(0.4)  # the platform finishes the hung request meanwhile
            async with httpx.AsyncClient(base_url=base_url) as direct:
                await direct.put("/_sandbox/faults", json={})
            response = await client.request("GET", "/things", params={"reference": reference})
            found = client.decode(response, list[dict[str, Any]])
            return found[0] if found else None

        thing = await client.create_once(create, find)
    assert thing["reference"] == reference
    assert sandbox.state.sandbox.store.count("things") == 1


async def test_an_unreachable_platform_is_unavailable() -> None:
    config = ConnectionConfig(base_url=f"http://127.0.0.1:{free_port()}", retries=1, backoff_base_seconds=0.01)
    async with PlatformClient("planning", config) as client:
        with pytest.raises(PlatformUnavailable) as caught:
            await client.request("GET", "/budgets")
    assert "planning" in caught.value.problem().detail
    assert "cannot reach" in caught.value.problem().detail


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error": {"code": "X1", "message": {"lang": "en", "value": "OData says no"}}}', ("OData says no", "X1")),
        (b'{"error": {"code": "K-7", "message": "Kyriba says no", "target": "amount"}}', ("Kyriba says no", "K-7")),
        (b'{"errors": {"name": ["can\'t be blank"], "base": ["supplier on hold"]}}',
         ("name: can't be blank; supplier on hold", None)),
        (b'{"errors": [{"code": "E", "message": "first"}]}', ("first", "E")),
        (b'{"detail": "plain detail"}', ("plain detail", None)),
        (b"not json at all", ("not json at all", None)),
        (b"", ("HTTP 400", None)),
    ],
)
def test_platform_messages_are_read_from_every_dialect(body: bytes, expected: tuple[str, str | None]) -> None:
    assert platform_message(httpx.Response(400, content=body)) == expected
