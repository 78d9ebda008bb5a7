"""How a flow instance and its timeline look on the wire, the same in every process API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from process_apis.flow.model import Flow, InstanceStatus
from process_apis.flow.store import Instance, TimelineEntry

__all__ = ["InstanceView", "TimelineView", "instance_view", "timeline_view"]


class TimelineView(msgspec.Struct, frozen=True, kw_only=True):
    """One event in an instance's life."""

    at: datetime
    """When (UTC)."""
    kind: str
    """``started``, ``step-completed``, ``retry-scheduled``, ``exception``, ``dead-lettered``,
    ``resolved``, ``retried``, ``replayed``, ``cancel-requested``, ``completed``, ..."""
    step: str | None = None
    """The step concerned, if any."""
    detail: str | None = None
    """What happened."""
    instance_id: str
    """The instance."""


class InstanceView(msgspec.Struct, frozen=True, kw_only=True):
    """A flow instance: where it stands and why."""

    id: str
    """Instance id."""
    flow: str
    """Flow name."""
    key: str
    """Business key (report id, supplier id, ...)."""
    status: InstanceStatus
    """``active`` (running or due), ``exception`` (finance exception queue), ``dead``
    (dead-letter queue), ``compensating``, ``completed`` or ``cancelled``."""
    step: str | None
    """The step it is at (next to run, or stopped at); None once finished."""
    reason: str | None
    """Reason code while it waits in a queue (``period-closed``, ``technical``, ...)."""
    detail: str | None
    """What went wrong last, in words."""
    attempts: int
    """Failed attempts of the current step."""
    correlation_id: str
    """Correlation id: the trace of the whole transaction across tiers."""
    input: dict[str, Any]
    """Input it was started with."""
    outputs: dict[str, Any]
    """Output of each completed step, by step name."""
    created_at: datetime
    """When it started."""
    updated_at: datetime
    """Last change."""
    finished_at: datetime | None
    """When it completed or was cancelled."""
    due_at: datetime
    """When it runs next, while active."""


def instance_view(instance: Instance, flow: Flow | None) -> InstanceView:
    """The wire view of ``instance`` (``flow`` names its current step)."""
    step: str | None = None
    if flow is not None and 0 <= instance.step < len(flow.steps) and instance.status not in ("completed", "cancelled"):
        step = flow.steps[instance.step].name
    return InstanceView(
        id=instance.id, flow=instance.flow, key=instance.key, status=instance.status, step=step,
        reason=instance.reason, detail=instance.detail, attempts=instance.attempt,
        correlation_id=instance.correlation_id, input=instance.input,
        outputs={name: value for name, value in instance.state.items() if not name.startswith("_")},
        created_at=instance.created_at, updated_at=instance.updated_at, finished_at=instance.finished_at,
        due_at=instance.due_at,
    )


def timeline_view(entry: TimelineEntry) -> TimelineView:
    """The wire view of a timeline entry."""
    return TimelineView(at=entry.at, kind=entry.kind, step=entry.step, detail=entry.detail,
                        instance_id=entry.instance_id)
