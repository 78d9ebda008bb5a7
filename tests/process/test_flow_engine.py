"""The flow engine on a real database (SQLite and PostgreSQL): steps, retries, queues, leases.

The flows here are toys that record what ran; the engine knows no domain, and what it
promises (each step committed once, retries then the dead-letter queue, business stops in
the exception queue, compensation newest first, leases taken over) is checked on them.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from process_apis.flow.client import SystemClient
from process_apis.flow.model import BusinessError, Flow, Schedule, Step, StepContext, StepOutput, TechnicalError
from process_apis.flow.queues import InstanceBusy, act
from process_apis.flow.store import FlowStore
from process_apis.flow.tables import flow_instances
from process_apis.flow.worker import FlowEngine, Worker, WorkerConfig

FAST = WorkerConfig(backoff_base_seconds=0.0, backoff_cap_seconds=0.0, max_attempts=3, lease_seconds=30)


async def _no_token() -> str:
    return "unused"


def _worker(engine: FlowEngine, name: str = "w1") -> Worker:
    return Worker(engine, SystemClient(httpx.AsyncClient(base_url="http://unused"), _no_token), name=name)


class Recorder:
    """Steps that record each run, failing on demand."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()
        self.undone: list[str] = []
        self.failures: dict[str, list[Exception]] = {}

    def step(self, name: str, *, undo: bool = False) -> Step:
        async def run(context: StepContext) -> StepOutput:
            self.runs[name] += 1
            pending = self.failures.get(name)
            if pending:
                raise pending.pop(0)
            return {"ran": name, "attempt": context.attempt, "decision": context.decision}

        async def compensate(context: StepContext) -> None:
            self.undone.append(name)

        return Step(name, run, compensate if undo else None)


def _flow(recorder: Recorder, *names: str, undo: bool = False) -> Flow:
    return Flow("toy", tuple(recorder.step(name, undo=undo) for name in names))


async def test_a_flow_runs_its_steps_in_order_and_keeps_each_output(engine: AsyncEngine) -> None:
    recorder = Recorder()
    flows = FlowEngine.create(FlowStore(engine), [_flow(recorder, "a", "b", "c")], FAST)
    instance, created = await flows.store.start("toy", "order-1", {"amount": "10.00"})
    again, created_again = await flows.store.start("toy", "order-1", {"amount": "99.00"})
    assert created
    assert not created_again
    assert again.id == instance.id

    await _worker(flows).run_until_idle()

    done = await flows.store.get(instance.id)
    assert done is not None
    assert done.status == "completed"
    assert done.finished_at is not None
    assert [done.state[name]["ran"] for name in "abc"] == ["a", "b", "c"]
    assert recorder.runs == Counter({"a": 1, "b": 1, "c": 1})
    kinds = [entry.kind for entry in await flows.store.timeline(instance_id=instance.id)]
    assert kinds == ["started", "step-completed", "step-completed", "step-completed", "completed"]


async def test_technical_failures_retry_then_land_in_the_dead_letter_queue(engine: AsyncEngine) -> None:
    recorder = Recorder()
    recorder.failures["b"] = [TechnicalError("ERP answered 503", retry_after=0)] * 3
    flows = FlowEngine.create(FlowStore(engine), [_flow(recorder, "a", "b")], FAST)
    instance, _ = await flows.store.start("toy", "k", {})

    await _worker(flows).run_until_idle()

    dead = await flows.store.get(instance.id)
    assert dead is not None
    assert (dead.status, dead.reason, dead.attempt) == ("dead", "technical", 3)
    assert "503" in (dead.detail or "")
    assert recorder.runs["a"] == 1
    assert recorder.runs["b"] == 3

    retried = await act(flows, instance.id, "retry", actor="ops", note="ERP is back")
    assert retried is not None
    assert retried.status == "active"
    await _worker(flows).run_until_idle()
    finished = await flows.store.get(instance.id)
    assert finished is not None
    assert finished.status == "completed"
    assert recorder.runs["a"] == 1, "a completed step never runs again"


async def test_a_permanent_technical_failure_is_dead_lettered_at_once(engine: AsyncEngine) -> None:
    recorder = Recorder()
    recorder.failures["a"] = [TechnicalError("401 from the ERP", permanent=True)]
    flows = FlowEngine.create(FlowStore(engine), [_flow(recorder, "a")], FAST)
    instance, _ = await flows.store.start("toy", "k", {})
    await _worker(flows).run_until_idle()
    dead = await flows.store.get(instance.id)
    assert dead is not None
    assert dead.status == "dead"
    assert recorder.runs["a"] == 1


async def test_a_step_that_crashes_is_retried_like_a_technical_failure(engine: AsyncEngine) -> None:
    recorder = Recorder()
    recorder.failures["a"] = [KeyError("missing field")]
    flows = FlowEngine.create(FlowStore(engine), [_flow(recorder, "a")], FAST)
    instance, _ = await flows.store.start("toy", "k", {})
    await _worker(flows).run_until_idle()
    done = await flows.store.get(instance.id)
    assert done is not None
    assert done.status == "completed"
    assert recorder.runs["a"] == 2
    entries = await flows.store.timeline(instance_id=instance.id)
    assert any(e.kind == "retry-scheduled" and "KeyError" in (e.detail or "") for e in entries)


async def test_a_business_stop_waits_for_a_decision_and_never_retries(engine: AsyncEngine) -> None:
    recorder = Recorder()
    recorder.failures["check"] = [BusinessError("suspected-duplicate", "same IBAN as supplier 1000017")]
    flows = FlowEngine.create(FlowStore(engine), [_flow(recorder, "check", "create")], FAST)
    instance, _ = await flows.store.start("toy", "supplier-9", {})
    await _worker(flows).run_until_idle()

    stopped = await flows.store.get(instance.id)
    assert stopped is not None
    assert (stopped.status, stopped.reason) == ("exception", "suspected-duplicate")
    assert recorder.runs["check"] == 1

    with pytest.raises(ValueError, match="decision"):
        await act(flows, instance.id, "resolve", actor="ana")
    await act(flows, instance.id, "resolve", actor="ana", decision="approve", note="different company")
    await _worker(flows).run_until_idle()
    done = await flows.store.get(instance.id)
    assert done is not None
    assert done.status == "completed"
    assert done.state["check"]["decision"] == "approve"
    with pytest.raises(InstanceBusy, match="completed"):
        await act(flows, instance.id, "retry", actor="ana")
    resolved = [e for e in await flows.store.timeline(instance_id=instance.id) if e.kind == "resolved"]
    assert resolved
    assert "ana" in (resolved[0].detail or "")
    assert "different company" in (resolved[0].detail or "")


async def test_cancel_undoes_completed_steps_newest_first(engine: AsyncEngine) -> None:
    recorder = Recorder()
    recorder.failures["c"] = [BusinessError("over-budget", "no budget left")]
    flows = FlowEngine.create(FlowStore(engine), [_flow(recorder, "a", "b", "c", undo=True)], FAST)
    instance, _ = await flows.store.start("toy", "k", {})
    await _worker(flows).run_until_idle()

    await act(flows, instance.id, "cancel", actor="ops")
    await _worker(flows).run_until_idle()

    cancelled = await flows.store.get(instance.id)
    assert cancelled is not None
    assert cancelled.status == "cancelled"
    assert recorder.undone == ["b", "a"], "the step that stopped never completed, so only a and b are undone"


async def test_replay_runs_the_flow_again_from_its_first_step(engine: AsyncEngine) -> None:
    recorder = Recorder()
    flows = FlowEngine.create(FlowStore(engine), [_flow(recorder, "a", "b")], FAST)
    instance, _ = await flows.store.start("toy", "k", {})
    await _worker(flows).run_until_idle()
    await act(flows, instance.id, "replay", actor="ops")
    await _worker(flows).run_until_idle()
    assert recorder.runs == Counter({"a": 2, "b": 2})


async def test_a_step_starts_another_flow_only_when_it_commits(engine: AsyncEngine) -> None:
    recorder = Recorder()

    async def hand_over(context: StepContext) -> StepOutput:
        context.start("follow-up", f"after-{context.key}", {"from": context.instance_id})
        if context.attempt == 1:
            raise TechnicalError("lost the answer")
        return None

    flows = FlowEngine.create(FlowStore(engine), [
        Flow("first", (Step("hand-over", hand_over),)),
        Flow("follow-up", (recorder.step("x"),)),
    ], FAST)
    instance, _ = await flows.store.start("first", "k", {}, correlation_id="corr-1")
    await _worker(flows).run_until_idle()

    follow_up = await flows.store.find("follow-up", "after-k")
    assert follow_up is not None
    assert follow_up.status == "completed"
    assert follow_up.correlation_id == "corr-1"
    assert follow_up.input == {"from": instance.id}
    assert recorder.runs["x"] == 1
    trace = await flows.store.timeline(correlation_id="corr-1")
    assert {entry.instance_id for entry in trace} == {instance.id, follow_up.id}


async def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_write(engine: AsyncEngine) -> None:
    recorder = Recorder()
    store = FlowStore(engine)
    flows = FlowEngine.create(store, [_flow(recorder, "a", "b")], WorkerConfig(lease_seconds=0.2))
    instance, _ = await store.start("toy", "k", {})

    (held,) = await store.claim("crashed", ["toy"], limit=10, lease_seconds=0.2)
    assert await store.claim("w2", ["toy"], limit=10, lease_seconds=30) == [], "a live lease is respected"
    await asyncio.sleep(0.3)

    await _worker(flows, "w2").run_until_idle()
    done = await store.get(instance.id)
    assert done is not None
    assert done.status == "completed"
    kinds = [entry.kind for entry in await store.timeline(instance_id=instance.id)]
    assert "lease-taken-over" in kinds

    held.step, held.state = 1, {"a": {"stale": True}}
    assert await store.save(held, "crashed", [("step-completed", "a", None)], release=True) is False
    after = await store.get(instance.id)
    assert after is not None
    assert after.status == "completed"
    assert "stale" not in after.state["a"]


async def test_concurrent_workers_never_claim_the_same_instance(engine: AsyncEngine) -> None:
    store = FlowStore(engine)
    for number in range(40):
        await store.start("toy", f"k{number}", {})
    batches = await asyncio.gather(*(store.claim(f"w{n}", ["toy"], limit=15, lease_seconds=30) for n in range(4)))
    claimed = [instance.id for batch in batches for instance in batch]
    assert len(claimed) == len(set(claimed)) == 40


async def test_a_worker_resumes_after_the_last_committed_step(engine: AsyncEngine) -> None:
    """A crash between steps: the next worker starts at the first step not committed."""
    recorder = Recorder()
    store = FlowStore(engine)
    flows = FlowEngine.create(store, [_flow(recorder, "a", "b", "c")], FAST)
    instance, _ = await store.start("toy", "k", {})
    async with engine.begin() as conn:  # what a worker killed after committing step a leaves behind
        await conn.execute(flow_instances.update().where(flow_instances.c.id == instance.id).values(
            step=1, state={"a": {"ran": "a"}}, lease_owner="killed",
            lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    await _worker(flows).run_until_idle()
    assert recorder.runs == Counter({"b": 1, "c": 1})


async def test_each_scheduled_window_starts_exactly_once(engine: AsyncEngine) -> None:
    store = FlowStore(engine)
    schedule = Schedule("posting-window-us01", "toy", every_seconds=3600, input={"entity": "US01"})
    now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert await store.start_due([schedule], now=now) == 1
    assert await store.start_due([schedule], now=now + timedelta(minutes=30)) == 0
    assert await store.start_due([schedule], now=now + timedelta(hours=1)) == 1
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(flow_instances.c.key, flow_instances.c.input))).all()
    assert sorted(row.key for row in rows) == ["posting-window-us01@20261121T100000Z",
                                               "posting-window-us01@20261121T110000Z"]
    assert all(row.input["entity"] == "US01" for row in rows)


async def test_watermarks_remember_polling_progress(engine: AsyncEngine) -> None:
    store = FlowStore(engine)
    assert await store.watermark("expense.reports") is None
    await store.set_watermark("expense.reports", "2026-11-21T10:00:00Z")
    await store.set_watermark("expense.reports", "2026-11-21T11:00:00Z")
    assert await store.watermark("expense.reports") == "2026-11-21T11:00:00Z"


async def test_polling_progress_commits_with_the_step_or_not_at_all(engine: AsyncEngine) -> None:
    seen: list[str | None] = []

    async def poll(context: StepContext) -> StepOutput:
        seen.append(await context.watermark("platform.changes"))
        context.advance("platform.changes", f"page-{context.attempt}")
        if context.attempt == 1:
            raise TechnicalError("the platform went away mid-poll")
        return None

    flows = FlowEngine.create(FlowStore(engine), [Flow("poll", (Step("poll", poll),))], FAST)
    await flows.store.set_watermark("platform.changes", "page-0")
    await flows.store.start("poll", "w1", {})
    await _worker(flows).run_until_idle()

    assert seen == ["page-0", "page-0"], "the failed attempt's progress was never recorded"
    assert await flows.store.watermark("platform.changes") == "page-2"
