"""Threat policy: header size, body size, JSON shape; the handler sees the body intact."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, get, post
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient

from policies import problems
from policies.call import governed
from policies.chain import ApiIdentity, PolicyMiddleware
from policies.config import PolicyConfig, ThreatConfig
from policies.correlation import Correlation
from policies.threat import Threat, check_json_shape

LIMITS = ThreatConfig(max_body_bytes=1_000, max_json_depth=4, max_array_length=3, max_header_bytes=2_048)


@post("/echo", opt=governed("x:write"), status_code=200)
async def echo(request: Request[Any, Any, Any]) -> dict[str, Any]:
    body = await request.body()
    return {"body": body.decode("latin-1"), "length": len(body)}


@post("/parsed", opt=governed("x:write"), status_code=200)
async def parsed(data: JSONBody[Any]) -> Any:
    return data


@get("/ping", opt=governed("x:read"))
async def ping() -> str:
    return "pong"


def make_app(limits: ThreatConfig = LIMITS) -> Litestar:
    api = ApiIdentity("t", 1, PolicyConfig(), limits)
    return Litestar(
        [echo, parsed, ping],
        middleware=[PolicyMiddleware(api, [Correlation(), Threat()])],
        exception_handlers=problems.exception_handlers,
    )


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=make_app()) as client:
        yield client


def assert_problem(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    document: dict[str, Any] = response.json()
    assert document["status"] == status
    assert document["type"].endswith("/" + kind)
    assert document["correlation_id"] == response.headers["x-correlation-id"]
    return document


async def test_normal_body_reaches_the_handler_intact(client: AsyncTestClient[Litestar]) -> None:
    payload = b'{"lines": [1, 2, 3], "memo": "caf\xc3\xa9 \\u00e9", "n": {"a": {"b": [true]}}}'
    response = await client.post("/echo", content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json() == {"body": payload.decode("latin-1"), "length": len(payload)}
    response = await client.post("/parsed", content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json() == json.loads(payload)


async def test_non_json_body_is_not_parsed(client: AsyncTestClient[Litestar]) -> None:
    payload = b"[[[[[[[[ not json"
    response = await client.post("/echo", content=payload, headers={"content-type": "text/plain"})
    assert response.status_code == 200
    assert response.json()["body"] == payload.decode()


async def test_get_without_body_passes(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/ping")
    assert response.status_code == 200
    assert response.text == "pong"


async def test_body_over_the_limit_by_content_length(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/echo", content=b"x" * 1_001)
    document = assert_problem(response, 413, "body-too-large")
    assert "1000 bytes" in document["detail"]


async def test_body_at_the_limit_passes(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/echo", content=b"x" * 1_000)
    assert response.status_code == 200
    assert response.json()["length"] == 1_000


async def test_declared_length_over_the_limit_is_refused_without_reading() -> None:
    app = make_app()
    received: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append({"type": "http.request"})
        return {"type": "http.request", "body": b"x" * 100, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/echo",
        "raw_path": b"/echo",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"content-length", b"1000000000")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }
    asgi: Any = app
    await asgi(scope, receive, send)
    assert sent[0]["status"] == 413
    assert received == []


def streaming_client() -> httpx.AsyncClient:
    """A client that sends a body in chunks, with no Content-Length (the test client cannot)."""
    app: Any = make_app()
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def test_streamed_body_without_length_over_the_limit() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * 100

    async with streaming_client() as client:
        response = await client.post("/echo", content=chunks())
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "body-too-large")


async def test_streamed_body_under_the_limit_is_reassembled() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(5):
            yield str(index).encode() * 100

    async with streaming_client() as client:
        response = await client.post("/echo", content=chunks())
    assert response.status_code == 200
    assert response.json()["body"] == "".join(str(i) * 100 for i in range(5))


async def test_headers_over_the_limit(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/ping", headers={"x-padding": "a" * 2_100})
    document = assert_problem(response, 431, "headers-too-large")
    assert "2048" in document["detail"]


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ([[[[[1]]]]], "$[0][0][0][0]"),
        ({"a": {"b": {"c": {"d": {}}}}}, "$.a.b.c.d"),
        ({"a": [{"b": [[1]]}]}, "$.a[0].b[0]"),
    ],
)
async def test_nesting_over_the_limit(client: AsyncTestClient[Litestar], payload: Any, path: str) -> None:
    response = await client.post("/parsed", json=payload)
    document = assert_problem(response, 400, "json-too-deep")
    assert "4 levels" in document["detail"]
    assert path in document["detail"]


async def test_nesting_at_the_limit_passes(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post("/parsed", json={"a": {"b": {"c": [1, 2, 3]}}})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("payload", "path", "param"),
    [
        ({"lines": [1, 2, 3, 4]}, "$.lines", "body.lines"),
        ({"a": [{"b": [1, 2, 3, 4]}]}, "$.a[0].b", "body.a[0].b"),
        ([1, 2, 3, 4], "$", "body"),
    ],
)
async def test_array_over_the_limit(
    client: AsyncTestClient[Litestar], payload: Any, path: str, param: str
) -> None:
    response = await client.post("/parsed", json=payload)
    document = assert_problem(response, 400, "json-array-too-long")
    assert f"at {path} has 4 items, over the limit of 3" in document["detail"]
    assert document["invalid_params"][0]["name"] == param


async def test_structured_json_media_type_is_checked(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post(
        "/echo", content=b'{"lines": [1, 2, 3, 4]}', headers={"content-type": "application/merge-patch+json"}
    )
    assert_problem(response, 400, "json-array-too-long")


async def test_invalid_json(client: AsyncTestClient[Litestar]) -> None:
    response = await client.post(
        "/parsed", content=b'{"a": 1,}', headers={"content-type": "application/json"}
    )
    document = assert_problem(response, 400, "invalid-json")
    assert "JSON is malformed: trailing comma in object (byte 8)" in document["detail"]


@pytest.mark.parametrize("payload", [b"[" * 100_000 + b"]" * 100_000, b"[" * 100_000, b'{"a":' * 50_000])
async def test_pathologically_deep_json_is_a_clean_400(payload: bytes) -> None:
    limits = ThreatConfig(max_body_bytes=1_000_000, max_json_depth=32)
    async with AsyncTestClient(app=make_app(limits)) as client:
        response = await client.post("/parsed", content=payload, headers={"content-type": "application/json"})
    assert response.status_code == 400
    document = response.json()
    assert document["type"].rsplit("/", 1)[1] in {"json-too-deep", "invalid-json"}


def test_walk_is_iterative() -> None:
    document: list[Any] = []
    inner = document
    for _ in range(50_000):  # decoded structures this deep would break a recursive walk
        inner.append([])
        inner = inner[0]
    check_json_shape(document, 100_000, 10)
    with pytest.raises(problems.Problem) as caught:
        check_json_shape(document, 10, 10)
    assert caught.value.status == 400
