"""The worker: claims due instances, runs their steps, commits each step before the next.

One loop per process. Each round it dispatches the outbox, starts due scheduled windows,
leases a batch of due instances and advances each as far as it can go while it holds the
lease. A step's result, timeline entries and follow-on starts commit together; a crash
between two commits loses at most the step in flight, which is run again from its start
with the same ``Idempotency-Key`` once the lease expires, so its effect happens once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec

from process_apis.flow.client import SystemClient
from process_apis.flow.model import BusinessError, Flow, Schedule, StepContext, TechnicalError
from process_apis.flow.store import FlowStore, Instance

__all__ = ["FlowEngine", "Worker", "WorkerConfig", "backoff"]

logger = logging.getLogger("finrail.flows")


class WorkerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the flow worker claims and retries work."""

    batch: int = 16
    """Instances leased per round (and advanced concurrently)."""
    lease_seconds: float = 60.0
    """How long a lease lasts before another worker may take the instance over."""
    step_timeout_seconds: float = 30.0
    """Time limit of one step; a step past it is a technical failure (keep it below the lease)."""
    poll_seconds: float = 0.5
    """Pause between rounds when nothing was due."""
    max_attempts: int = 6
    """Attempts of a step that fails technically before the instance is dead-lettered."""
    backoff_base_seconds: float = 1.0
    """First retry delay; doubles with each attempt (with jitter)."""
    run_schedules: bool = True
    """Start the scheduled windows (posting windows, master-data publish); off where another
    worker does it or in tests that start windows themselves."""
    backoff_cap_seconds: float = 300.0
    """Longest retry delay, also when a platform's ``Retry-After`` asks for more."""


def backoff(attempt: int, config: WorkerConfig, retry_after: float | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``.

    Exponential with jitter, at least what the other side asked for (``Retry-After``), and
    never more than ``backoff_cap_seconds``: the operator's cap wins over a platform that
    asks for an hour.
    """
    ceiling = min(config.backoff_cap_seconds, config.backoff_base_seconds * 2 ** max(0, attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not secrecy
    return min(config.backoff_cap_seconds, max(delay, retry_after or 0.0))


@dataclass(slots=True)
class FlowEngine:
    """The flows a deployment runs, their store and the worker settings."""

    store: FlowStore
    """Durable state."""
    flows: dict[str, Flow]
    """Flows by name."""
    config: WorkerConfig = field(default_factory=WorkerConfig)
    """Worker settings."""
    schedules: Sequence[Schedule] = ()
    """Recurring work."""
    wakeup: asyncio.Event | None = None
    """Set when new work was started in this process, so an idle worker looks at once."""

    @classmethod
    def create(cls, store: FlowStore, flows: Sequence[Flow], config: WorkerConfig | None = None,
               schedules: Sequence[Schedule] = ()) -> FlowEngine:
        """An engine for ``flows``; flow names must be unique."""
        by_name: dict[str, Flow] = {}
        for flow in flows:
            if flow.name in by_name:
                raise ValueError(f"flow {flow.name} is registered twice")
            by_name[flow.name] = flow
        return cls(store=store, flows=by_name, config=config or WorkerConfig(), schedules=tuple(schedules))

    def wake(self) -> None:
        """Tell this process's worker that work is due now."""
        if self.wakeup is not None:
            self.wakeup.set()


class Worker:
    """Runs the engine's flows until stopped.

    Args:
        engine: Flows, store and settings.
        system: Client of the system APIs given to every step.
        name: Lease owner name; defaults to host and process id.
    """

    def __init__(self, engine: FlowEngine, system: SystemClient, name: str | None = None) -> None:
        self.engine = engine
        self.system = system
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{random.randrange(16**4):04x}"  # noqa: S311
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> int:
        """One round: outbox, schedules, then a batch of due instances. Returns instances advanced."""
        store = self.engine.store
        await store.dispatch_outbox()
        if self.engine.schedules and self.engine.config.run_schedules:
            await store.start_due(self.engine.schedules)
        claimed = await store.claim(self.name, self.engine.flows, limit=self.engine.config.batch,
                                    lease_seconds=self.engine.config.lease_seconds)
        if claimed:
            await asyncio.gather(*(self._advance(instance) for instance in claimed))
        return len(claimed)

    async def run(self) -> None:
        """Work until :meth:`stop`; a failing round is logged and the loop goes on."""
        wakeup = self.engine.wakeup = asyncio.Event()
        while not self._stop.is_set():
            try:
                advanced = await self.tick()
            except Exception:
                logger.exception("flow worker round failed; retrying")
                advanced = 0
            if advanced == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), self.engine.config.poll_seconds)
                wakeup.clear()

    def start(self) -> None:
        """Run in the background of the current event loop."""
        self._stop.clear()
        self._task = asyncio.create_task(self.run(), name=f"finrail-worker-{self.name}")

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Finish the steps in flight (up to ``grace_seconds``), then stop."""
        self._stop.set()
        self.engine.wake()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace_seconds)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def run_until_idle(self, max_rounds: int = 1000) -> None:
        """Advance every due instance until none is due now (tests and ``finrail demo``)."""
        for _ in range(max_rounds):
            if await self.tick() == 0 and await self.engine.store.dispatch_outbox() == 0:
                return
        raise RuntimeError(f"work was still due after {max_rounds} rounds")

    async def _advance(self, instance: Instance) -> None:
        try:
            while instance.status in ("active", "compensating") and not self._stop.is_set():
                if not await self._step(instance):
                    return
        except Exception:
            logger.exception("flow instance %s could not be advanced; its lease will expire", instance.id)

    async def _step(self, instance: Instance) -> bool:
        """Run the instance's next step (or compensation); True while it should go on."""
        flow = self.engine.flows[instance.flow]
        compensating = instance.status == "compensating"
        if compensating and instance.step < 0:
            instance.status, instance.finished_at = "cancelled", datetime.now(UTC)
            await self.engine.store.save(instance, self.name, [("cancelled", None, "every completed step was undone")],
                                         release=True)
            return False
        step = flow.steps[instance.step]
        decisions = instance.state.get("_decisions", {})
        context = StepContext(
            instance_id=instance.id, flow=flow.name, key=instance.key, step=step.name,
            correlation_id=instance.correlation_id, input=instance.input, state=instance.state,
            attempt=instance.attempt + 1, decision=decisions.get(step.name), now=datetime.now(UTC),
            system=self.system, read_watermark=self.engine.store.watermark,
        )
        events: list[tuple[str, str | None, str | None]] = []
        try:
            async with asyncio.timeout(self.engine.config.step_timeout_seconds):
                if compensating:
                    if step.compensate is not None:
                        context.step = f"{step.name}.undo"
                        await step.compensate(context)
                        events.append(("step-compensated", step.name, None))
                    output = None
                else:
                    output = await step.run(context)
        except BusinessError as error:
            instance.status, instance.reason, instance.detail = "exception", error.reason, error.detail
            events.append(("exception", step.name, f"{error.reason}: {error.detail}"))
            await self.engine.store.save(instance, self.name, events, release=True)
            return False
        except Exception as error:  # technical, or a defect in the step: retried, then dead-lettered
            return await self._failed(instance, flow, step.name, error, events)
        if compensating:
            instance.step -= 1
        else:
            instance.state = {**instance.state, step.name: dict(output or {})}
            instance.step += 1
            events.append(("step-completed", step.name, None))
            if instance.step >= len(flow.steps):
                instance.status, instance.finished_at = "completed", datetime.now(UTC)
                events.append(("completed", None, None))
        instance.attempt, instance.reason, instance.detail = 0, None, None
        done = instance.status == "completed"
        saved = await self.engine.store.save(instance, self.name, events, context.starts, release=done,
                                             lease_seconds=self.engine.config.lease_seconds,
                                             watermarks=context.watermarks)
        if saved and context.starts:
            self.engine.wake()
        return saved and not done

    async def _failed(self, instance: Instance, flow: Flow, step: str, error: Exception,
                      events: list[tuple[str, str | None, str | None]]) -> bool:
        config = self.engine.config
        if isinstance(error, TechnicalError):
            detail, permanent, retry_after = error.detail, error.permanent, error.retry_after
        elif isinstance(error, TimeoutError):
            detail, permanent, retry_after = f"the step took longer than {config.step_timeout_seconds} s", False, None
        else:
            logger.error("step %s of %s failed unexpectedly", step, flow.name, exc_info=error)
            detail, permanent, retry_after = f"unexpected {type(error).__name__}: {error}", False, None
        instance.attempt += 1
        instance.detail = detail
        max_attempts = flow.max_attempts or config.max_attempts
        if permanent or instance.attempt >= max_attempts:
            instance.status, instance.reason = "dead", "technical"
            events.append(("dead-lettered", step, f"after {instance.attempt} attempt(s): {detail}"))
        else:
            delay = backoff(instance.attempt, config, retry_after)
            instance.due_at = datetime.now(UTC) + timedelta(seconds=delay)
            events.append(("retry-scheduled", step, f"attempt {instance.attempt} failed, next in {delay:.1f} s: "
                                                    f"{detail}"))
        await self.engine.store.save(instance, self.name, events, release=True)
        return False
