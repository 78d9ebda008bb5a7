"""What a flow is: named steps with optional compensations, and the two kinds of failure.

A flow knows nothing of storage or workers. Each step is an async function that receives a
:class:`StepContext` and returns a JSON-able result (kept as the step's output in the
instance state, so later steps and people can read it). A step signals failure by raising:

* :class:`TechnicalError` — timeouts, 5xx, 429, a platform down: the engine retries with
  backoff and jitter, then moves the instance to the dead-letter queue;
* :class:`BusinessError` — a closed period, an inactive cost center, a suspected duplicate:
  retrying cannot help, so the instance stops in the finance exception queue with the reason
  code until a person resolves it.

Any other exception is a defect in the step; it is treated as technical (retried, then
dead-lettered) so that nothing is lost while the defect is fixed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from process_apis.flow.client import SystemClient

__all__ = [
    "BusinessError",
    "Flow",
    "FlowError",
    "InstanceStatus",
    "Schedule",
    "Start",
    "Step",
    "StepContext",
    "StepOutput",
    "TechnicalError",
]

InstanceStatus = Literal["active", "exception", "dead", "compensating", "completed", "cancelled"]
"""``active`` runs when due; ``exception`` and ``dead`` wait for a person; the rest are final
except ``compensating``, which undoes completed steps before becoming ``cancelled``."""

StepOutput = Mapping[str, Any] | None


class FlowError(Exception):
    """Base of the failures a step reports on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BusinessError(FlowError):
    """The work cannot go on without a person: it stops in the finance exception queue.

    Args:
        reason: Stable reason code (``period-closed``, ``inactive-cost-center``, ...), what
            the queue is filtered and counted by.
        detail: What is wrong with this item, in words a finance user acts on.
        status: HTTP status of the answer that said so, when a system API did.
    """

    def __init__(self, reason: str, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.status = status


class TechnicalError(FlowError):
    """A transient failure: retried with backoff, then dead-lettered.

    Args:
        detail: What failed (which call, which answer).
        retry_after: Seconds the other side asked to wait (``Retry-After``), if it did.
        permanent: Retrying cannot help (a request our side built wrongly, a refused
            credential): dead-letter at once rather than burning the attempts.
        status: HTTP status of the failed answer, if there was one.
    """

    def __init__(
        self, detail: str, *, retry_after: float | None = None, permanent: bool = False, status: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.permanent = permanent
        self.status = status


@dataclass(frozen=True, slots=True)
class Start:
    """A request to start an instance of another flow, committed with the step that makes it."""

    flow: str
    """Name of the flow to start."""
    key: str
    """Business key; a second start with the same flow and key is ignored."""
    input: Mapping[str, Any]
    """Input of the new instance."""


@dataclass(slots=True)
class StepContext:
    """What a step may see and do."""

    instance_id: str
    """The instance's id."""
    flow: str
    """The flow's name."""
    key: str
    """The instance's business key (a report id, a supplier id, ...)."""
    step: str
    """Name of the step running now."""
    correlation_id: str
    """Correlation id of the instance; sent on every call the step makes."""
    input: Mapping[str, Any]
    """The instance's input, as started."""
    state: Mapping[str, Any]
    """Outputs of the steps completed so far, by step name."""
    attempt: int
    """1 on the first try of this step, counting up on each retry."""
    decision: str | None
    """A person's resolution of this step's last business exception (``approve``, ...)."""
    now: datetime
    """The time the step started (UTC)."""
    system: SystemClient
    """Governed HTTP client of the system APIs."""
    starts: list[Start] = field(default_factory=list)
    """Instances to start when this step commits (the outbox); use :meth:`start`."""
    read_watermark: Callable[[str], Awaitable[str | None]] | None = None
    """Reads polling progress recorded under a name (see :meth:`watermark`)."""
    watermarks: dict[str, str] = field(default_factory=dict)
    """Polling progress to record when this step commits; use :meth:`advance`."""

    def idempotency_key(self, suffix: str = "") -> str:
        """``Idempotency-Key`` for a create made by this step: instance and step, stable across retries."""
        return f"{self.instance_id}:{self.step}{':' + suffix if suffix else ''}"

    def start(self, flow: str, key: str, input: Mapping[str, Any]) -> None:
        """Start an instance of ``flow`` once this step commits (never if it fails)."""
        self.starts.append(Start(flow, key, input))

    async def watermark(self, name: str) -> str | None:
        """How far polling under ``name`` got (None before the first poll)."""
        if name in self.watermarks:
            return self.watermarks[name]
        return await self.read_watermark(name) if self.read_watermark is not None else None

    def advance(self, name: str, value: str) -> None:
        """Record polling progress under ``name`` when this step commits, with the starts it made.

        Progress and the work it found commit together: a poll that crashes before its commit
        is run again from the old watermark and finds the same work (whose starts are
        deduplicated by key), so nothing between two polls is lost.
        """
        self.watermarks[name] = value


StepRun = Callable[[StepContext], Awaitable[StepOutput]]


@dataclass(frozen=True, slots=True)
class Step:
    """One named unit of work; its output is committed before the next step starts."""

    name: str
    """Unique within the flow; part of every idempotency key the step sends."""
    run: StepRun
    """Does the work; returns the step's output."""
    compensate: Callable[[StepContext], Awaitable[None]] | None = None
    """Undoes the step's effect when the instance is cancelled after the step completed."""


@dataclass(frozen=True, slots=True)
class Flow:
    """An ordered list of steps under a name."""

    name: str
    """Unique flow name (the process API's name)."""
    steps: tuple[Step, ...]
    """Steps, run in order."""
    summary: str = ""
    """One line for people."""
    max_attempts: int | None = None
    """Attempts per step before dead-lettering; the engine's setting when None."""

    def __post_init__(self) -> None:
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"flow {self.name} has two steps with the same name")
        if not names:
            raise ValueError(f"flow {self.name} has no steps")


@dataclass(frozen=True, slots=True)
class Schedule:
    """Recurring work: an instance of ``flow`` started once per window of ``every_seconds``."""

    name: str
    """Unique schedule name; part of each window's instance key."""
    flow: str
    """Flow started for each window."""
    every_seconds: float
    """Length of a window."""
    input: Mapping[str, Any] = field(default_factory=dict)
    """Input of each instance (``window`` is added: the window's start, ISO 8601)."""
    first_after_seconds: float = 0.0
    """How long after the schedule is first seen its first window is due (0: at once); keeps
    schedules that must not overlap apart from the first start on."""
