"""Correlation policy: ids in, ids out, ids on every outbound call."""

from __future__ import annotations

import re
import uuid
from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, get
from litestar.testing import AsyncTestClient

from policies import problems
from policies.call import current_call, governed
from policies.chain import ApiIdentity, PolicyMiddleware
from policies.config import PolicyConfig, ThreatConfig
from policies.correlation import (
    Correlation,
    current_correlation_id,
    outbound_headers,
    parse_traceparent,
    propagate,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{PARENT_ID}-01"
HEX32 = re.compile(r"[0-9a-f]{32}")
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


async def downstream(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    """A platform that answers with the headers it received."""
    assert scope["type"] == "http"
    body = httpx.Response(200, json={k.decode(): v.decode() for k, v in scope["headers"]}).content
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


def make_app() -> Litestar:
    outbound = httpx.AsyncClient(transport=httpx.ASGITransport(app=downstream), base_url="http://platform")
    propagate(outbound)

    @get("/echo", opt=governed("x:read"))
    async def echo(request: Request[Any, Any, Any]) -> dict[str, Any]:
        call = current_call(request.scope)
        seen = (await outbound.get("/")).json()
        explicit = (await outbound.get("/", headers={"X-Correlation-ID": "caller-set"})).json()
        return {
            "correlation_id": call.correlation_id,
            "context_id": current_correlation_id(),
            "traceparent": call.traceparent,
            "downstream": seen,
            "explicit": explicit["x-correlation-id"],
        }

    api = ApiIdentity("t", 1, PolicyConfig(), ThreatConfig())
    return Litestar(
        [echo],
        middleware=[PolicyMiddleware(api, [Correlation()])],
        exception_handlers=problems.exception_handlers,
        on_shutdown=[outbound.aclose],
    )


async def call(headers: dict[str, Any] | None = None) -> httpx.Response:
    async with AsyncTestClient(app=make_app()) as client:
        response = await client.get("/echo", headers=headers)
    assert response.status_code == 200
    return response


async def test_minted_id_is_returned_and_is_the_calls_id() -> None:
    response = await call()
    minted = response.headers["x-correlation-id"]
    assert HEX32.fullmatch(minted)
    assert uuid.UUID(minted).version == 4
    assert response.json()["correlation_id"] == minted
    assert response.json()["context_id"] == minted


async def test_given_id_is_echoed() -> None:
    response = await call({"X-Correlation-ID": "order-42:retry.1_a"})
    assert response.headers["x-correlation-id"] == "order-42:retry.1_a"
    assert response.json()["correlation_id"] == "order-42:retry.1_a"


@pytest.mark.parametrize("bad", [b"has space", b"x" * 129, b"semi;colon", "é".encode(), b"a\x00b"])
async def test_bad_id_is_replaced(bad: bytes) -> None:
    response = await call({"X-Correlation-ID": bad})
    replaced = response.headers["x-correlation-id"]
    assert replaced.encode() != bad
    assert HEX32.fullmatch(replaced)


async def test_valid_traceparent_continues_the_trace() -> None:
    response = await call({"traceparent": VALID})
    match = TRACEPARENT.fullmatch(response.json()["traceparent"])
    assert match is not None
    assert match.group(1) == TRACE_ID
    assert match.group(2) != PARENT_ID  # the gateway's own span
    assert match.group(3) == "01"


@pytest.mark.parametrize(
    "invalid",
    [
        f"00-{TRACE_ID.upper()}-{PARENT_ID}-01",
        f"00-{'0' * 32}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"ff-{TRACE_ID}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",
        f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01",
        "garbage",
    ],
)
async def test_invalid_traceparent_starts_a_new_trace(invalid: str) -> None:
    response = await call({"traceparent": invalid})
    match = TRACEPARENT.fullmatch(response.json()["traceparent"])
    assert match is not None
    assert match.group(1) != TRACE_ID.lower()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (VALID, (TRACE_ID, PARENT_ID, "01")),
        (f"01-{TRACE_ID}-{PARENT_ID}-03-future-fields", (TRACE_ID, PARENT_ID, "03")),
        (f"cc-{TRACE_ID}-{PARENT_ID}-00", (TRACE_ID, PARENT_ID, "00")),
        (f"01-{TRACE_ID}-{PARENT_ID}-01x", None),
        (f"ff-{TRACE_ID}-{PARENT_ID}-01", None),
        (f"00-{TRACE_ID}-{PARENT_ID}-0g", None),
        (f"00-{TRACE_ID}-{PARENT_ID}-01 ", None),
    ],
)
def test_parse_traceparent(value: str, expected: tuple[str, str, str] | None) -> None:
    assert parse_traceparent(value) == expected


async def test_outbound_calls_carry_the_ids_of_the_call_in_flight() -> None:
    response = await call({"X-Correlation-ID": "abc-123", "traceparent": VALID})
    body = response.json()
    seen = body["downstream"]
    assert seen["x-correlation-id"] == "abc-123"
    outbound = TRACEPARENT.fullmatch(seen["traceparent"])
    own = TRACEPARENT.fullmatch(body["traceparent"])
    assert outbound is not None
    assert own is not None
    assert outbound.group(1) == TRACE_ID
    assert outbound.group(3) == "01"
    assert outbound.group(2) not in {PARENT_ID, own.group(2)}  # a fresh span for the outbound call
    assert body["explicit"] == "caller-set"  # a header the caller set is not overwritten


async def test_nothing_leaks_outside_a_call() -> None:
    await call({"X-Correlation-ID": "abc-123"})
    assert current_correlation_id() is None
    assert outbound_headers() == {}


async def test_propagate_twice_installs_one_hook() -> None:
    async with httpx.AsyncClient() as client:
        propagate(client)
        propagate(client)
        assert len(client.event_hooks["request"]) == 1
