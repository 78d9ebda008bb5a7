"""Idempotency keys: the store's claims, and the policy end to end in a small Litestar app."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from litestar import Litestar, get, post
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.storage import create_engine
from policies import problems
from policies.audit import Audit, AuditLog
from policies.call import Call, governed
from policies.chain import ApiIdentity, Policy, PolicyMiddleware
from policies.config import AuditConfig, IdempotencyConfig, PolicyConfig, ThreatConfig
from policies.idempotency import ClaimState, Idempotency, IdempotencyStore, fingerprint, parse_key
from policies.problems import Problem
from policies.tables import idempotency_keys

FP = fingerprint("POST", "/things", b'{"a":1}')
OTHER_FP = fingerprint("POST", "/things", b'{"a":2}')
HEADERS = [(b"content-type", b"application/json")]


@pytest.fixture
def store(engine: AsyncEngine) -> IdempotencyStore:
    return IdempotencyStore(engine, IdempotencyConfig())


# -- store ------------------------------------------------------------------------------


async def test_first_call_claims_retry_in_flight_then_replays(store: IdempotencyStore) -> None:
    assert (await store.begin("c1", "k", "POST", "/things", FP)).state is ClaimState.NEW
    assert (await store.begin("c1", "k", "POST", "/things", FP)).state is ClaimState.IN_FLIGHT

    await store.complete("c1", "k", 201, HEADERS, b'{"id":"t1"}')

    claim = await store.begin("c1", "k", "POST", "/things", FP)
    assert claim.state is ClaimState.REPLAY
    assert (claim.status, claim.headers, claim.body) == (201, HEADERS, b'{"id":"t1"}')


async def test_same_key_different_request_is_a_mismatch(store: IdempotencyStore) -> None:
    await store.begin("c1", "k", "POST", "/things", FP)
    assert (await store.begin("c1", "k", "POST", "/things", OTHER_FP)).state is ClaimState.MISMATCH
    await store.complete("c1", "k", 201, HEADERS, b"{}")
    assert (await store.begin("c1", "k", "POST", "/things", OTHER_FP)).state is ClaimState.MISMATCH


async def test_keys_are_scoped_per_client(store: IdempotencyStore) -> None:
    assert (await store.begin("c1", "k", "POST", "/things", FP)).state is ClaimState.NEW
    assert (await store.begin("c2", "k", "POST", "/things", OTHER_FP)).state is ClaimState.NEW


async def test_released_key_can_be_claimed_again(store: IdempotencyStore) -> None:
    await store.begin("c1", "k", "POST", "/things", FP)
    await store.release("c1", "k")
    assert (await store.begin("c1", "k", "POST", "/things", FP)).state is ClaimState.NEW


async def test_release_never_deletes_a_completed_key(store: IdempotencyStore) -> None:
    await store.begin("c1", "k", "POST", "/things", FP)
    await store.complete("c1", "k", 201, HEADERS, b"{}")
    await store.release("c1", "k")
    assert (await store.begin("c1", "k", "POST", "/things", FP)).state is ClaimState.REPLAY


async def test_abandoned_in_flight_key_is_taken_over_once(
    store: IdempotencyStore, engine: AsyncEngine
) -> None:
    await store.begin("c1", "k", "POST", "/things", FP)
    async with engine.begin() as conn:  # the first process died; its lock ran out
        await conn.execute(
            idempotency_keys.update().values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )

    claims = await asyncio.gather(*(store.begin("c1", "k", "POST", "/things", FP) for _ in range(4)))

    assert sorted(c.state.value for c in claims) == ["in_flight", "in_flight", "in_flight", "new"]


async def test_purge_removes_only_expired_keys(store: IdempotencyStore, engine: AsyncEngine) -> None:
    await store.begin("c1", "old", "POST", "/things", FP)
    await store.complete("c1", "old", 201, HEADERS, b"{}")
    await store.begin("c1", "fresh", "POST", "/things", FP)
    await store.complete("c1", "fresh", 201, HEADERS, b"{}")
    past = datetime.now(UTC) - timedelta(hours=25)
    async with engine.begin() as conn:
        await conn.execute(
            idempotency_keys.update()
            .where(idempotency_keys.c.key == hashlib.sha256(b"old").hexdigest())
            .values(created_at=past, expires_at=past + timedelta(hours=24))
        )

    assert await store.purge_expired() == 1
    assert (await store.begin("c1", "old", "POST", "/things", OTHER_FP)).state is ClaimState.NEW
    assert (await store.begin("c1", "fresh", "POST", "/things", FP)).state is ClaimState.REPLAY


async def test_keys_are_kept_at_least_24_hours(engine: AsyncEngine) -> None:
    store = IdempotencyStore(engine, IdempotencyConfig(retention_hours=1))
    await store.begin("c1", "k", "POST", "/things", FP)
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(idempotency_keys))).one()
    assert row.expires_at - row.created_at >= timedelta(hours=24)


async def test_completed_key_survives_a_restart(engine: AsyncEngine, database_url: str) -> None:
    await IdempotencyStore(engine, IdempotencyConfig()).begin("c1", "k", "POST", "/things", FP)
    await IdempotencyStore(engine, IdempotencyConfig()).complete("c1", "k", 201, HEADERS, b'{"id":"t1"}')
    await engine.dispose()

    restarted = create_engine(database_url, pool_size=2)
    try:
        claim = await IdempotencyStore(restarted, IdempotencyConfig()).begin("c1", "k", "POST", "/things", FP)
    finally:
        await restarted.dispose()
    assert (claim.state, claim.body) == (ClaimState.REPLAY, b'{"id":"t1"}')


async def test_concurrent_first_calls_claim_exactly_once(engine: AsyncEngine, database_url: str) -> None:
    other = create_engine(database_url, pool_size=5)  # a second process, its own connections
    try:
        stores = [IdempotencyStore(e, IdempotencyConfig()) for e in (engine, other)]
        claims = await asyncio.gather(
            *(stores[i % 2].begin("c1", "k", "POST", "/things", FP) for i in range(8))
        )
    finally:
        await other.dispose()
    assert [c.state for c in claims].count(ClaimState.NEW) == 1
    assert {c.state for c in claims} == {ClaimState.NEW, ClaimState.IN_FLIGHT}


# -- header parsing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ('"abc"', "abc"),
        ("abc", "abc"),
        ('"8e03978e-40d5-43e8-bc93-6894a57f9324"', "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        (r'"a\"b\\c"', 'a"b\\c'),
        ('"with space"', "with space"),
        ("  abc ", "abc"),
    ],
)
def test_key_forms_accepted(raw: str, key: str) -> None:
    assert parse_key(raw) == key


@pytest.mark.parametrize(
    "raw", ['""', "", '"abc', '"a"b"', r'"a\nb"', "a b", "caf\u00e9", '"caf\u00e9"', "x" * 256, "a\x01"]
)
def test_bad_keys_rejected_with_400(raw: str) -> None:
    with pytest.raises(Problem) as caught:
        parse_key(raw)
    assert caught.value.status == 400


def test_longest_key_accepted() -> None:
    assert parse_key("k" * 255) == "k" * 255


# -- the policy, end to end -------------------------------------------------------------


class ClientFromHeader(Policy):
    """Test stand-in for authentication: the client id comes from ``X-Client``."""

    name = "authentication"

    async def on_request(self, call: Call) -> None:
        call.client_id = call.header(b"x-client") or "client-a"


class Handler:
    def __init__(self) -> None:
        self.runs = 0
        self.fail = False
        self.entered = asyncio.Event()
        self.gate: asyncio.Event | None = None


@pytest.fixture
async def app_client(engine: AsyncEngine) -> AsyncIterator[tuple[httpx.AsyncClient, Handler, AuditLog]]:
    state = Handler()

    @post("/things", opt=governed("x:write", effect=True), status_code=201)
    async def create_thing(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        state.runs += 1
        state.entered.set()
        if state.gate is not None:
            await state.gate.wait()
        if state.fail:
            raise Problem(503, "the platform is down")
        return {"run": state.runs, "echo": data}

    @get("/things", opt=governed("x:read"))
    async def list_things() -> list[str]:
        return []

    log = AuditLog(engine, AuditConfig())
    chain = [ClientFromHeader(), Idempotency(IdempotencyStore(engine, IdempotencyConfig())), Audit(log)]
    app = Litestar(
        [create_thing, list_things],
        middleware=[PolicyMiddleware(ApiIdentity("t", 1, PolicyConfig(), ThreatConfig()), chain)],
        exception_handlers=problems.exception_handlers,
    )
    # httpx's ASGI transport runs the app in the test's event loop, so requests truly overlap and
    # share the engine; Litestar's AsyncTestClient runs the app in a thread and serialises them.
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, state, log
    await log.close()


async def test_missing_key_is_400_and_handler_not_run(app_client: Any) -> None:
    client, state, _ = app_client
    response = await client.post("/things", json={"a": 1})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in response.json()["detail"]
    assert state.runs == 0


async def test_get_needs_no_key(app_client: Any) -> None:
    client, _, _ = app_client
    assert (await client.get("/things")).status_code == 200


@pytest.mark.parametrize("header", ['"order-1"', "order-1"])
async def test_retry_replays_status_and_body_without_running_again(app_client: Any, header: str) -> None:
    client, state, _ = app_client
    first = await client.post("/things", json={"a": 1}, headers={"Idempotency-Key": header})
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers

    again = await client.post("/things", json={"a": 1}, headers={"Idempotency-Key": header})

    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert state.runs == 1


async def test_quoted_and_unquoted_forms_name_the_same_key(app_client: Any) -> None:
    client, state, _ = app_client
    await client.post("/things", json={"a": 1}, headers={"Idempotency-Key": '"k-1"'})
    again = await client.post("/things", json={"a": 1}, headers={"Idempotency-Key": "k-1"})
    assert again.headers["idempotent-replayed"] == "true"
    assert state.runs == 1


async def test_same_key_different_body_is_422(app_client: Any) -> None:
    client, state, _ = app_client
    await client.post("/things", json={"a": 1}, headers={"Idempotency-Key": "k"})
    response = await client.post("/things", json={"a": 2}, headers={"Idempotency-Key": "k"})
    assert response.status_code == 422
    assert "different request" in response.json()["detail"]
    assert state.runs == 1


async def test_invalid_key_is_400(app_client: Any) -> None:
    client, state, _ = app_client
    response = await client.post("/things", json={"a": 1}, headers={"Idempotency-Key": '""'})
    assert response.status_code == 400
    assert state.runs == 0


async def test_same_key_while_first_call_runs_is_409(app_client: Any) -> None:
    client, state, _ = app_client
    state.gate = asyncio.Event()
    first = asyncio.create_task(client.post("/things", json={"a": 1}, headers={"Idempotency-Key": "k"}))
    await asyncio.wait_for(state.entered.wait(), 5)

    second = await client.post("/things", json={"a": 1}, headers={"Idempotency-Key": "k"})
    state.gate.set()
    first_response = await first

    assert second.status_code == 409
    assert second.headers["retry-after"] == "1"
    assert first_response.status_code == 201
    assert state.runs == 1


async def test_server_error_releases_the_key_for_a_retry(app_client: Any) -> None:
    client, state, _ = app_client
    state.fail = True
    failed = await client.post("/things", json={"a": 1}, headers={"Idempotency-Key": "k"})
    assert failed.status_code == 503

    state.fail = False
    retried = await client.post("/things", json={"a": 1}, headers={"Idempotency-Key": "k"})

    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert state.runs == 2


async def test_two_clients_may_use_the_same_key(app_client: Any) -> None:
    client, state, _ = app_client
    a = await client.post("/things", json={"a": 1}, headers={"Idempotency-Key": "k", "X-Client": "a"})
    b = await client.post("/things", json={"a": 2}, headers={"Idempotency-Key": "k", "X-Client": "b"})
    assert (a.status_code, b.status_code) == (201, 201)
    assert "idempotent-replayed" not in b.headers
    assert state.runs == 2


async def test_every_call_is_audited(app_client: Any) -> None:
    client, _, log = app_client
    await client.get("/things", headers={"X-Client": "reader"})
    await client.post("/things", json={"a": 1}, headers={"X-Client": "writer"})
    await log.flush()

    records = await log.query()

    assert [(r.kind, r.client_id, r.method, r.outcome) for r in records] == [
        ("read", "reader", "GET", 200),
        ("rejected", "writer", "POST", 400),
    ]
    assert records[1].detail is not None
    assert "Idempotency-Key" in records[1].detail
    assert (records[0].api, records[0].version, records[0].operation) == ("t", 1, "list_things")
    assert (await log.verify()).ok
