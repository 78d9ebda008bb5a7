"""The figures finance operations watch, computed from the flow engine's own tables.

Nothing is kept on the side: every figure is read from ``flow_instances`` and
``flow_timeline`` when asked, so it agrees with the queues and timelines the same API shows.
Figures over time use a window (instances started, or completed, since a moment); queue sizes
and instance counts are as they stand now.

* **Posting lag** — for instances that completed in the window, ``finished_at - created_at``
  (from the start of the instance, usually the source platform's approval event, to the last
  step's commit, usually the ERP's confirmation), per flow: the median and the 95th
  percentile, nearest-rank, in seconds. Time spent waiting in a queue for a person counts:
  that is the lag finance sees.
* **Exception rate** — per flow and reason code: instances started in the window that stopped
  in the finance exception queue at least once with that reason (resolved since or not),
  divided by the instances of that flow started in the window.
* **Master-data mismatches** — instances whose business exception has a reason code starting
  with ``master-data`` (the convention for a record one platform has and another lacks or
  holds differently: an unknown cost center in expense, a supplier missing in the ERP): those
  waiting in the exception queue now, by reason, and those that stopped so in the window.
* **Queue sizes and counts** — the exception queue, the dead-letter queue, and instances by
  flow, status and reason.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from process_apis.flow.store import FlowStore
from process_apis.flow.tables import flow_instances, flow_timeline

__all__ = [
    "MASTER_DATA_PREFIX",
    "ExceptionRate",
    "InstanceCount",
    "Kpis",
    "MasterDataMismatches",
    "PostingLag",
    "compute_kpis",
    "exception_reason",
    "percentile",
]

MASTER_DATA_PREFIX = "master-data"
"""Reason codes of business exceptions that count as master-data mismatches start with this."""


class PostingLag(msgspec.Struct, frozen=True, kw_only=True):
    """How long the instances of one flow took from start to completion."""

    flow: str
    """Flow name."""
    completed: int
    """Instances of the flow that completed in the window."""
    p50_seconds: float
    """Median lag, in seconds (nearest rank)."""
    p95_seconds: float
    """95th percentile of the lag, in seconds (nearest rank)."""


class ExceptionRate(msgspec.Struct, frozen=True, kw_only=True):
    """How often one flow stops in the finance exception queue for one reason."""

    flow: str
    """Flow name."""
    reason: str
    """Reason code of the business exception."""
    exceptions: int
    """Instances started in the window that stopped with this reason at least once."""
    started: int
    """Instances of the flow started in the window."""
    rate: float
    """``exceptions / started``, rounded to four places."""


class MasterDataMismatches(msgspec.Struct, frozen=True, kw_only=True):
    """Business exceptions whose reason code starts with ``master-data``."""

    open: int
    """Instances waiting in the exception queue now with such a reason."""
    open_by_reason: dict[str, int]
    """The same, by reason code."""
    stopped_in_window: int
    """Instances started in the window that stopped with such a reason at least once."""


class InstanceCount(msgspec.Struct, frozen=True, kw_only=True):
    """Number of instances of one flow in one status (and reason)."""

    flow: str
    """Flow name."""
    status: str
    """Instance status."""
    reason: str | None
    """Reason code, for instances waiting in a queue."""
    count: int
    """How many."""


class Kpis(msgspec.Struct, frozen=True, kw_only=True):
    """Every figure at once."""

    since: datetime
    """Start of the window the lag and rates cover (UTC)."""
    generated_at: datetime
    """When the figures were read (UTC); also the end of the window."""
    posting_lag: list[PostingLag]
    """Posting lag per flow, for flows with instances completed in the window."""
    exception_rate: list[ExceptionRate]
    """Exception rate per flow and reason, for reasons seen in the window."""
    exception_queue: int
    """Instances waiting in the finance exception queue now."""
    dead_letters: int
    """Instances waiting in the dead-letter queue now."""
    master_data_mismatches: MasterDataMismatches
    """Master-data mismatches: open now, and stopped in the window."""
    instances: list[InstanceCount]
    """Every instance by flow, status and reason, as it stands now."""


def percentile(ordered: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of ``ordered`` (ascending, not empty): no interpolation, a real value."""
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def exception_reason(detail: str | None) -> str:
    """The reason code of an ``exception`` timeline entry (the worker writes ``"<reason>: <detail>"``)."""
    if not detail:
        return "unknown"
    return detail.partition(":")[0].strip() or "unknown"


async def compute_kpis(database: AsyncEngine, store: FlowStore, *, since: datetime, now: datetime) -> Kpis:
    """Every figure, for the window ``[since, now]``.

    Args:
        database: The database holding the flow tables.
        store: The flow store (for the counts it already knows how to read).
        since: Start of the window.
        now: End of the window (the time the figures are read).
    """
    instances, timeline = flow_instances, flow_timeline
    completed = sa.select(instances.c.flow, instances.c.created_at, instances.c.finished_at).where(
        instances.c.status == "completed", instances.c.finished_at.is_not(None), instances.c.finished_at >= since)
    started = sa.select(instances.c.flow, sa.func.count()).where(instances.c.created_at >= since).group_by(
        instances.c.flow)
    stopped = (
        sa.select(instances.c.flow, timeline.c.instance_id, timeline.c.detail)
        .select_from(timeline.join(instances, instances.c.id == timeline.c.instance_id))
        .where(timeline.c.kind == "exception", instances.c.created_at >= since)
    )
    async with database.connect() as db:
        lags: dict[str, list[float]] = defaultdict(list)
        for row in (await db.execute(completed)).all():
            lags[row.flow].append(max(0.0, (row.finished_at - row.created_at).total_seconds()))
        started_by_flow = {str(row[0]): int(row[1]) for row in (await db.execute(started)).all()}
        exceptions: dict[tuple[str, str], set[str]] = defaultdict(set)
        for row in (await db.execute(stopped)).all():
            exceptions[(row.flow, exception_reason(row.detail))].add(row.instance_id)
    counts = await store.counts()

    posting_lag = []
    for flow, values in sorted(lags.items()):
        values.sort()
        posting_lag.append(PostingLag(flow=flow, completed=len(values), p50_seconds=round(percentile(values, 0.5), 3),
                                      p95_seconds=round(percentile(values, 0.95), 3)))
    exception_rate = [
        ExceptionRate(flow=flow, reason=reason, exceptions=len(ids), started=started_by_flow.get(flow, len(ids)),
                      rate=round(len(ids) / max(1, started_by_flow.get(flow, len(ids))), 4))
        for (flow, reason), ids in sorted(exceptions.items())
    ]
    open_by_reason: dict[str, int] = defaultdict(int)
    for (_, status, reason), count in counts.items():
        if status == "exception" and reason is not None and reason.startswith(MASTER_DATA_PREFIX):
            open_by_reason[reason] += count
    mismatched = {instance for (_, reason), ids in exceptions.items() if reason.startswith(MASTER_DATA_PREFIX)
                  for instance in ids}
    return Kpis(
        since=since,
        generated_at=now,
        posting_lag=posting_lag,
        exception_rate=exception_rate,
        exception_queue=sum(count for (_, status, _), count in counts.items() if status == "exception"),
        dead_letters=sum(count for (_, status, _), count in counts.items() if status == "dead"),
        master_data_mismatches=MasterDataMismatches(
            open=sum(open_by_reason.values()), open_by_reason=dict(sorted(open_by_reason.items())),
            stopped_in_window=len(mismatched)),
        instances=[InstanceCount(flow=flow, status=status, reason=reason, count=count)
                   for (flow, status, reason), count in sorted(counts.items(), key=lambda item: (
                       item[0][0], item[0][1], item[0][2] or ""))],
    )
