"""The audit trail: transactional change records, batching, the hash chain and its verification."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from policies.audit import GENESIS_HASH, Audit, AuditLog, AuditRecord, record_hash
from policies.call import Call, RoutePolicy
from policies.config import AuditConfig, ThreatConfig
from policies.tables import audit_head, audit_records, clients

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

ROUTE = RoutePolicy(
    api="admin",
    version=1,
    method="POST",
    template="/admin/v1/clients",
    operation="create_client",
    scopes=("admin:write",),
    public=False,
    effect=True,
    rates=(),
    threat=ThreatConfig(),
)


def make_call(
    client_id: str = "c1",
    *,
    status: int = 200,
    correlation_id: str = "corr",
    at: datetime = T0,
    method: str = "GET",
    path: str = "/admin/v1/clients",
) -> Call:
    scope = {"type": "http", "method": method, "path": path, "headers": [], "client": ("10.0.0.7", 5555)}
    call = Call(scope=scope, route=ROUTE, correlation_id=correlation_id, at=at)  # type: ignore[arg-type]
    call.client_id = client_id
    call.subject = "emp-1"
    call.status = status
    return call


@pytest.fixture
async def log(engine: AsyncEngine) -> AuditLog:
    return AuditLog(engine, AuditConfig(batch_size=7, flush_interval_seconds=0.01))


async def count_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(audit_records))).scalar_one())


async def add_client(conn: AsyncConnection, client_id: str) -> None:
    await conn.execute(
        clients.insert().values(
            client_id=client_id,
            name=client_id,
            secret_hash="x",
            scopes=["a"],
            tier="gold",
            status="active",
            created_at=T0,
            updated_at=T0,
        )
    )


async def test_change_record_commits_with_the_change(log: AuditLog, engine: AsyncEngine) -> None:
    call = make_call(method="POST")
    async with engine.begin() as conn:
        await add_client(conn, "new-client")
        record = await log.record_change(
            conn,
            call,
            resource_ids={"client_id": "new-client"},
            before=None,
            after={"tier": "gold"},
            outcome=201,
        )

    assert call.audited
    assert (record.seq, record.prev_hash, record.kind) == (1, GENESIS_HASH, "change")
    [stored] = await log.query()
    assert stored == record
    assert (stored.before, stored.after, stored.outcome) == (None, {"tier": "gold"}, 201)
    assert (stored.client_id, stored.subject, stored.remote_addr) == ("c1", "emp-1", "10.0.0.7")
    assert stored.resource_ids == {"client_id": "new-client"}


async def test_change_record_vanishes_with_a_rolled_back_change(log: AuditLog, engine: AsyncEngine) -> None:
    class Boom(Exception):
        pass

    async def failing_change() -> None:
        async with engine.begin() as conn:
            await add_client(conn, "doomed")
            ids = {"client_id": "doomed"}
            await log.record_change(conn, make_call(), resource_ids=ids, before=None, after={})
            raise Boom

    with pytest.raises(Boom):
        await failing_change()

    assert await count_rows(engine) == 0
    async with engine.begin() as conn:
        record = await log.record_change(conn, make_call(), resource_ids={}, before=None, after={})
    assert record.seq == 1  # no gap left by the rolled-back transaction
    assert (await log.verify()).ok


async def test_audit_policy_skips_calls_that_recorded_a_change(log: AuditLog) -> None:
    policy = Audit(log)
    changed = make_call()
    changed.audited = True
    await policy.on_finish(changed)
    await policy.on_finish(make_call("reader"))
    rejected = make_call("intruder", status=200)
    rejected.rejected_by = "authorization"
    await policy.on_finish(rejected)
    await policy.on_finish(make_call("unlucky", status=404))
    failed_change = make_call("crashed", status=500)
    failed_change.audited = True  # its change transaction may have rolled back with the record
    await policy.on_finish(failed_change)
    await log.flush()

    assert [(r.kind, r.client_id) for r in await log.query()] == [
        ("read", "reader"),
        ("rejected", "intruder"),
        ("rejected", "unlucky"),
        ("rejected", "crashed"),
    ]


async def test_concurrent_writers_leave_a_gap_free_verified_chain(log: AuditLog, engine: AsyncEngine) -> None:
    await log.start()

    async def change(i: int) -> None:
        async with engine.begin() as conn:
            await add_client(conn, f"client-{i}")
            await asyncio.sleep(0)
            ids = {"client_id": f"client-{i}"}
            await log.record_change(conn, make_call(f"w{i}"), resource_ids=ids, before=None, after={"i": i})

    async def read(i: int) -> None:
        await asyncio.sleep(0.001 * (i % 5))
        log.enqueue(make_call(f"r{i}"))

    await asyncio.gather(*(change(i) if i % 2 else read(i) for i in range(50)))
    await log.close()

    result = await log.verify()
    assert (result.ok, result.records, result.first_broken_seq) == (True, 50, None)
    records = await log.query(limit=1000)
    assert [r.seq for r in records] == list(range(1, 51))
    assert sorted(r.client_id or "" for r in records) == sorted(
        [f"w{i}" for i in range(1, 50, 2)] + [f"r{i}" for i in range(0, 50, 2)]
    )


async def test_close_writes_every_queued_record(engine: AsyncEngine) -> None:
    log = AuditLog(engine, AuditConfig(batch_size=4, flush_interval_seconds=60))
    await log.start()
    for i in range(10):
        log.enqueue(make_call(f"c{i}"))

    await log.close()

    assert log.pending == 0
    assert await count_rows(engine) == 10
    assert (await log.verify()).ok


async def test_background_task_writes_without_an_explicit_flush(log: AuditLog, engine: AsyncEngine) -> None:
    await log.start()
    log.enqueue(make_call())
    for _ in range(200):
        if await count_rows(engine):
            break
        await asyncio.sleep(0.01)
    assert await count_rows(engine) == 1
    await log.close()


async def test_enqueue_does_not_touch_the_database(log: AuditLog, engine: AsyncEngine) -> None:
    log.enqueue(make_call())
    assert (log.pending, await count_rows(engine)) == (1, 0)


async def build_chain(log: AuditLog, n: int = 5) -> None:
    for i in range(1, n + 1):
        log.enqueue(make_call(f"c{i}", at=T0 + timedelta(minutes=i)))
    await log.flush()


async def test_intact_chain_verifies(log: AuditLog) -> None:
    assert (await log.verify()).ok  # empty
    await build_chain(log)
    result = await log.verify()
    assert (result.ok, result.records, result.reason) == (True, 5, "ok")


async def test_hash_covers_the_record_fields(log: AuditLog) -> None:
    await build_chain(log, 1)
    [record] = await log.query()
    assert record_hash(record) == record.hash
    assert record_hash(msgspec.structs.replace(record, outcome=500)) != record.hash


def _swap(a: sa.Row[Any], b: sa.Row[Any]) -> list[tuple[int, dict[str, object]]]:
    fields = [c for c in a._fields if c != "seq"]
    return [(a.seq, {f: getattr(b, f) for f in fields}), (b.seq, {f: getattr(a, f) for f in fields})]


@pytest.mark.parametrize(
    ("tamper", "broken"),
    [("edit", 3), ("edit-hash-too", 3), ("delete-middle", 3), ("delete-last", 5), ("swap", 2)],
)
async def test_tampering_is_reported_at_the_first_broken_seq(
    log: AuditLog, engine: AsyncEngine, tamper: str, broken: int
) -> None:
    await build_chain(log)
    table = audit_records
    async with engine.begin() as conn:
        if tamper == "edit":
            await conn.execute(table.update().where(table.c.seq == 3).values(outcome=204))
        elif tamper == "edit-hash-too":
            # A forger who also recomputes the edited record's hash breaks the next link instead.
            row = (await conn.execute(sa.select(table).where(table.c.seq == 3))).one()
            forged = AuditRecord(**{**row._mapping, "client_id": "someone-else"})
            forged_hash = record_hash(forged)
            await conn.execute(
                table.update().where(table.c.seq == 3).values(client_id="someone-else", hash=forged_hash)
            )
            broken = 4
        elif tamper == "delete-middle":
            await conn.execute(table.delete().where(table.c.seq == 3))
        elif tamper == "delete-last":
            await conn.execute(table.delete().where(table.c.seq == 5))
        else:
            query = sa.select(table).where(table.c.seq.in_([2, 4])).order_by(table.c.seq)
            two, four = (await conn.execute(query)).all()
            for seq, values in _swap(two, four):
                await conn.execute(table.update().where(table.c.seq == seq).values(**values))

    result = await log.verify()

    assert not result.ok
    assert result.first_broken_seq == broken
    assert result.reason


async def test_missing_head_with_records_is_reported(log: AuditLog, engine: AsyncEngine) -> None:
    await build_chain(log, 2)
    async with engine.begin() as conn:
        await conn.execute(audit_head.delete())
    result = await log.verify()
    assert (result.ok, result.first_broken_seq) == (False, 1)


async def test_chain_continues_across_log_objects(engine: AsyncEngine) -> None:
    await build_chain(AuditLog(engine, AuditConfig()), 3)
    await build_chain(AuditLog(engine, AuditConfig()), 2)
    result = await AuditLog(engine, AuditConfig()).verify()
    assert (result.ok, result.records) == (True, 5)


async def test_query_filters_and_pages(log: AuditLog) -> None:
    for i in range(12):
        log.enqueue(
            make_call(
                "alice" if i % 3 else "bob",
                correlation_id=f"corr-{i}",
                at=T0 + timedelta(hours=i),
            )
        )
    await log.flush()

    bob = await log.query(client_id="bob")
    assert [r.correlation_id for r in bob] == ["corr-0", "corr-3", "corr-6", "corr-9"]
    assert [r.seq for r in await log.query(correlation_id="corr-7")] == [8]
    window = await log.query(since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=5))
    assert [r.correlation_id for r in window] == ["corr-2", "corr-3", "corr-4"]

    pages: list[list[int]] = []
    cursor = None
    while page := await log.query(client_id="alice", after_seq=cursor, limit=3):
        pages.append([r.seq for r in page])
        cursor = page[-1].seq
    assert pages == [[2, 3, 5], [6, 8, 9], [11, 12]]


async def test_export_writes_json_lines(log: AuditLog) -> None:
    for i in range(4):
        log.enqueue(make_call(f"c{i}", at=T0 + timedelta(days=i)))
    await log.flush()

    out = io.StringIO()
    assert await log.export(out) == 4
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4]
    assert lines[0]["recorded_at"] == "2026-01-05T09:00:00Z"
    assert lines[0]["client_id"] == "c0"
    assert lines[1]["prev_hash"] == lines[0]["hash"]

    since = io.StringIO()
    assert await log.export(since, since=T0 + timedelta(days=2)) == 2
    assert [json.loads(line)["client_id"] for line in since.getvalue().splitlines()] == ["c2", "c3"]
