from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.clients import ClientRegistry
from policies.tables import clients


@pytest.fixture
def registry(engine: AsyncEngine) -> ClientRegistry:
    return ClientRegistry(engine, cache_seconds=60)


async def test_secret_is_stored_only_as_an_argon2_hash(engine: AsyncEngine, registry: ClientRegistry) -> None:
    record, secret = await registry.create("ledger-sync", ["erp:read", "erp:write"], "gold")
    assert record.client_id.startswith("cl_")
    assert record.scopes == ("erp:read", "erp:write")
    assert record.status == "active"
    assert len(secret) >= 40

    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(clients).where(clients.c.client_id == record.client_id))).one()
    assert row.secret_hash.startswith("$argon2id$")
    assert all(secret not in str(value) for value in row)


async def test_authenticate_accepts_only_the_right_secret(registry: ClientRegistry) -> None:
    record, secret = await registry.create("portal", ["supplier:read"], "silver", subject="SUP-1")
    found = await registry.authenticate(record.client_id, secret)
    assert found is not None
    assert found.client_id == record.client_id
    assert found.subject == "SUP-1"
    assert await registry.authenticate(record.client_id, secret + "x") is None
    assert await registry.authenticate("cl_unknown", secret) is None


async def test_rotate_invalidates_the_old_secret(registry: ClientRegistry) -> None:
    record, old = await registry.create("batch", ["erp:read"], "bronze")
    rotated = await registry.rotate(record.client_id)
    assert rotated is not None
    updated, new = rotated
    assert new != old
    assert updated.updated_at >= record.updated_at
    assert await registry.authenticate(record.client_id, old) is None
    assert await registry.authenticate(record.client_id, new) is not None
    assert await registry.rotate("cl_unknown") is None


async def test_disable_stops_authentication_and_activity(registry: ClientRegistry) -> None:
    record, secret = await registry.create("old-app", ["erp:read"], "bronze")
    assert await registry.active(record.client_id) is not None

    disabled = await registry.disable(record.client_id)
    assert disabled is not None
    assert disabled.status == "disabled"
    assert await registry.authenticate(record.client_id, secret) is None
    assert await registry.active(record.client_id) is None  # the change dropped the cached status
    stored = await registry.get(record.client_id)
    assert stored is not None
    assert stored.status == "disabled"
    assert await registry.disable("cl_unknown") is None


async def test_active_status_is_cached_for_the_configured_time(engine: AsyncEngine) -> None:
    here = ClientRegistry(engine, cache_seconds=0.3)
    elsewhere = ClientRegistry(engine, cache_seconds=0.3)
    record, _ = await here.create("app", ["erp:read"], "gold")
    assert await here.active(record.client_id) is not None

    await elsewhere.disable(record.client_id)  # another process: our cache does not know yet
    assert await here.active(record.client_id) is not None
    await asyncio.sleep(0.35)
    # past the cache time: answered from memory while one read refreshes in the background
    assert await here.active(record.client_id) is not None
    for _ in range(100):
        if await here.active(record.client_id) is None:
            break
        await asyncio.sleep(0.02)
    assert await here.active(record.client_id) is None


async def test_a_status_older_than_twice_the_cache_time_is_read_before_answering(engine: AsyncEngine) -> None:
    here = ClientRegistry(engine, cache_seconds=0.2)
    record, _ = await here.create("app", ["erp:read"], "gold")
    assert await here.active(record.client_id) is not None
    await ClientRegistry(engine, cache_seconds=0.2).disable(record.client_id)
    await asyncio.sleep(0.45)
    assert await here.active(record.client_id) is None


async def test_concurrent_calls_share_one_status_read(engine: AsyncEngine) -> None:
    registry = ClientRegistry(engine, cache_seconds=5)
    record, _ = await registry.create("app", ["erp:read"], "gold")
    registry.forget(record.client_id)
    reads = 0
    original = registry.get

    async def counting_get(client_id: str, conn: object = None) -> object:
        nonlocal reads
        reads += 1
        return await original(client_id)

    registry.get = counting_get  # type: ignore[method-assign,assignment]
    answers = await asyncio.gather(*(registry.active(record.client_id) for _ in range(50)))
    assert all(a is not None for a in answers)
    assert reads == 1


async def test_list_pages_by_client_id_and_filters_by_status(registry: ClientRegistry) -> None:
    created = [(await registry.create(f"app-{i}", ["erp:read"], "bronze"))[0] for i in range(3)]
    ids = sorted(r.client_id for r in created)
    await registry.disable(ids[1])

    first = await registry.list(limit=2)
    assert [r.client_id for r in first] == ids[:2]
    rest = await registry.list(after=first[-1].client_id, limit=2)
    assert [r.client_id for r in rest] == ids[2:]
    assert [r.client_id for r in await registry.list(status="disabled")] == [ids[1]]
    assert [r.client_id for r in await registry.list(status="active")] == [ids[0], ids[2]]


class Abort(Exception):
    """Raised to roll the caller's transaction back."""


async def test_changes_join_the_callers_transaction(engine: AsyncEngine, registry: ClientRegistry) -> None:
    created: list[str] = []

    async def create_then_fail() -> None:
        async with engine.begin() as conn:
            record, _ = await registry.create("rolled-back", ["erp:read"], "gold", conn=conn)
            created.append(record.client_id)
            assert await registry.get(record.client_id, conn=conn) is not None
            raise Abort

    with pytest.raises(Abort):
        await create_then_fail()
    assert await registry.get(created[0]) is None

    kept, _ = await registry.create("kept", ["erp:read"], "gold")

    async def disable_then_fail() -> None:
        async with engine.begin() as conn:
            assert await registry.disable(kept.client_id, conn=conn) is not None
            raise Abort

    with pytest.raises(Abort):
        await disable_then_fail()
    stored = await registry.get(kept.client_id)
    assert stored is not None
    assert stored.status == "active"


async def test_malformed_scopes_are_refused(registry: ClientRegistry) -> None:
    with pytest.raises(ValueError, match="invalid scope"):
        await registry.create("bad", ["erp read"], "gold")
