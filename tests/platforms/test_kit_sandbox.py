"""The sandbox toolkit: a toy vendor built with build_sandbox gets state, seed, faults and admin routes."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody

from platforms.kit import Faults, SandboxConfig, SandboxState, Store, build_sandbox
from platforms.kit.seeddata import company_name

Sandbox = NamedDependency[SandboxState]


class NewItem(msgspec.Struct):
    name: str


def toy_error(status: int, message: str) -> tuple[str, bytes]:
    return "application/vnd.toy+json", msgspec.json.encode({"fault": {"status": status, "text": message}})


def toy_seed(store: Store, rng: random.Random) -> None:
    for _ in range(3):
        number = store.next_number("item", 1000)
        store.put("items", str(number), {"id": str(number), "name": company_name(rng, "DE")})


@get("/items", sync_to_thread=False)
def list_items(sandbox: Sandbox) -> list[dict[str, Any]]:
    return sandbox.store.all("items")


@get("/items/{item_id:str}", sync_to_thread=False)
def read_item(sandbox: Sandbox, item_id: FromPath[str]) -> dict[str, Any]:
    item = sandbox.store.get("items", item_id)
    if item is None:
        raise NotFoundException(f"item {item_id} does not exist")
    return item


@post("/items", sync_to_thread=False)
def create_item(sandbox: Sandbox, data: JSONBody[NewItem]) -> dict[str, Any]:
    number = str(sandbox.store.next_number("item", 1000))
    item = {"id": number, "name": data.name}
    sandbox.store.put("items", number, item)
    return item


def toy_app(config: SandboxConfig | None = None) -> Litestar:
    return build_sandbox("toy", config, [list_items, read_item, create_item], toy_error, toy_seed)


@pytest.fixture
async def toy() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=toy_app()), base_url="http://toy") as client:
        yield client


def client_for(app: Litestar) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://toy")


async def test_seed_is_deterministic_per_seed() -> None:
    async with client_for(toy_app()) as one, client_for(toy_app()) as two:
        first = (await one.get("/items")).json()
        assert first == (await two.get("/items")).json()
    assert [item["id"] for item in first] == ["1000", "1001", "1002"]
    async with client_for(toy_app(SandboxConfig(seed=7))) as other:
        assert [i["name"] for i in (await other.get("/items")).json()] != [i["name"] for i in first]


async def test_state_survives_a_restart_and_the_seed_runs_only_once(tmp_path: Path) -> None:
    config = SandboxConfig(data_path=str(tmp_path / "toy.sqlite"))
    app = toy_app(config)
    async with client_for(app) as client:
        created = (await client.post("/items", json={"name": "Kept GmbH"})).json()
    app.state.sandbox.store.close()

    restarted = toy_app(config)
    earlier = random.Random(config.seed)
    drawn_before = {earlier.getrandbits(64) for _ in range(100)}
    assert restarted.state.sandbox.rng.getrandbits(64) not in drawn_before  # ids drawn after a restart are new
    async with client_for(restarted) as client:
        items = (await client.get("/items")).json()
        assert len(items) == 4  # three seeded once, plus the created one; no second seed
        assert (await client.get(f"/items/{created['id']}")).json() == created
        assert (await client.post("/items", json={"name": "Next"})).json()["id"] == "1004"


async def test_errors_come_in_the_vendor_format(toy: httpx.AsyncClient) -> None:
    missing = await toy.get("/items/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/vnd.toy+json")
    assert missing.json() == {"fault": {"status": 404, "text": "item nope does not exist"}}

    invalid = await toy.post("/items", json={"title": "no name"})
    assert invalid.status_code == 400
    assert "name" in invalid.json()["fault"]["text"]


async def test_maintenance_answers_503_with_retry_after_until_switched_off(toy: httpx.AsyncClient) -> None:
    assert (await toy.put("/_sandbox/faults", json={"maintenance": True, "retry_after_seconds": 7})).status_code == 200
    down = await toy.get("/items")
    assert down.status_code == 503
    assert down.headers["retry-after"] == "7"
    assert "maintenance" in down.json()["fault"]["text"]
    # The admin routes are never faulted, so the fault can be read and switched off again.
    assert (await toy.get("/_sandbox/faults")).json()["maintenance"] is True
    assert (await toy.put("/_sandbox/faults", json={})).json()["maintenance"] is False
    assert (await toy.get("/items")).status_code == 200


async def test_throttle_and_error_faults_do_not_process_the_request(toy: httpx.AsyncClient) -> None:
    await toy.put("/_sandbox/faults", json={"throttle_rate": 1.0, "retry_after_seconds": 2})
    throttled = await toy.post("/items", json={"name": "A"})
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "2"

    await toy.put("/_sandbox/faults", json={"error_rate": 1.0})
    failed = await toy.post("/items", json={"name": "B"})
    assert failed.status_code == 500
    assert failed.json()["fault"]["status"] == 500

    await toy.put("/_sandbox/faults", json={})
    assert len((await toy.get("/items")).json()) == 3


async def test_seeded_faults_repeat_the_same_sequence(toy: httpx.AsyncClient) -> None:
    async def statuses() -> list[int]:
        await toy.put("/_sandbox/faults", json={"error_rate": 0.5, "seed": 11})
        return [(await toy.get("/items")).status_code for _ in range(20)]

    first = await statuses()
    assert set(first) == {200, 500}
    assert await statuses() == first


async def test_timeout_fault_processes_then_answers_late(toy: httpx.AsyncClient) -> None:
    await toy.put("/_sandbox/faults", json={"timeout_rate": 1.0, "hang_seconds": 0.3})
    started = time.perf_counter()
    late = await toy.post("/items", json={"name": "Late Ltd"})
    assert time.perf_counter() - started >= 0.3
    assert late.status_code == 201
    await toy.put("/_sandbox/faults", json={})
    assert (await toy.get(f"/items/{late.json()['id']}")).json()["name"] == "Late Ltd"


async def test_latency_fault_delays_answers(toy: httpx.AsyncClient) -> None:
    await toy.put("/_sandbox/faults", json={"latency_ms": 150})
    started = time.perf_counter()
    assert (await toy.get("/items")).status_code == 200
    assert time.perf_counter() - started >= 0.15


async def test_faults_are_validated(toy: httpx.AsyncClient) -> None:
    refused = await toy.put("/_sandbox/faults", json={"error_rate": 2})
    assert refused.status_code == 400
    assert (await toy.get("/_sandbox/faults")).json()["error_rate"] == 0


async def test_reset_wipes_and_reseeds(toy: httpx.AsyncClient) -> None:
    await toy.post("/items", json={"name": "Temporary"})
    assert len((await toy.get("/items")).json()) == 4
    assert (await toy.post("/_sandbox/reset")).status_code == 204
    items = (await toy.get("/items")).json()
    assert [item["id"] for item in items] == ["1000", "1001", "1002"]


async def test_faults_configured_at_start_apply() -> None:
    async with client_for(toy_app(SandboxConfig(faults=Faults(maintenance=True)))) as client:
        assert (await client.get("/items")).status_code == 503
