"""Durable state of flow instances: start, claim with a lease, commit a step, act on queues.

Everything a step changes (the instance's position and state, its timeline entries and the
instances it starts) is written in one transaction, and only while the writer still holds
the instance's lease: a worker whose lease expired (it hung, or was killed and another took
over) cannot overwrite its successor's progress. Claims use ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so many workers share the queue without blocking each other; on SQLite the
``BEGIN IMMEDIATE`` of :mod:`gateway.storage` serialises them on one node.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from process_apis.flow.model import InstanceStatus, Schedule, Start
from process_apis.flow.tables import flow_instances, flow_outbox, flow_schedules, flow_timeline, watermarks

__all__ = ["FlowStore", "Instance", "InstanceBusy", "InstanceFilter", "TimelineEntry", "new_id"]

WAITING: tuple[InstanceStatus, ...] = ("exception", "dead")
RUNNABLE: tuple[InstanceStatus, ...] = ("active", "compensating")
FINAL: tuple[InstanceStatus, ...] = ("completed", "cancelled")


class InstanceBusy(Exception):  # noqa: N818 - a state, not a failure of ours
    """An action does not apply to the instance in its current status, or a worker holds it."""


def new_id() -> str:
    """A new instance or correlation id."""
    return uuid.uuid4().hex


class Instance(msgspec.Struct, kw_only=True):
    """One run of a flow, as stored."""

    id: str
    """Instance id."""
    flow: str
    """Flow name."""
    key: str
    """Business key, unique per flow."""
    status: InstanceStatus
    """Where the instance stands."""
    step: int
    """Index of the next step to run (or, while compensating, to undo)."""
    attempt: int
    """Failed attempts of that step so far."""
    input: dict[str, Any]
    """Input as started."""
    state: dict[str, Any]
    """Outputs of completed steps by name; ``_decisions`` holds people's resolutions."""
    correlation_id: str
    """Correlation id shared by every call and record of this transaction."""
    reason: str | None
    """Reason code of the exception, or ``technical`` in the dead-letter queue."""
    detail: str | None
    """What went wrong last."""
    due_at: datetime
    """When the instance may run next."""
    lease_owner: str | None
    """Worker holding the instance."""
    lease_until: datetime | None
    """When that lease expires."""
    created_at: datetime
    """When the instance was started."""
    updated_at: datetime
    """Last change."""
    finished_at: datetime | None
    """When it completed or was cancelled."""


class TimelineEntry(msgspec.Struct, kw_only=True):
    """One event in an instance's life."""

    instance_id: str
    """The instance."""
    at: datetime
    """When (UTC)."""
    kind: str
    """``started``, ``step-completed``, ``retry-scheduled``, ``exception``, ``dead-lettered``, ..."""
    step: str | None
    """The step concerned, if any."""
    detail: str | None
    """What happened, in words."""
    correlation_id: str
    """Correlation id of the instance."""


class InstanceFilter(msgspec.Struct, kw_only=True):
    """Which instances a list shows."""

    flow: str | None = None
    """Only this flow."""
    status: str | None = None
    """Only this status."""
    reason: str | None = None
    """Only this reason code."""
    correlation_id: str | None = None
    """Only this correlation id."""
    key: str | None = None
    """Only this business key."""


def _columns(row: Any) -> dict[str, Any]:
    # ``key`` is a reserved word, so SQLAlchemy names it with a str subclass msgspec refuses.
    return {str(name): value for name, value in row._mapping.items()}


def _instance(row: Any) -> Instance:
    return msgspec.convert(_columns(row), Instance, strict=False)


def _event(instance_id: str, correlation_id: str, at: datetime, kind: str, step: str | None,
           detail: str | None) -> dict[str, Any]:
    return {"instance_id": instance_id, "correlation_id": correlation_id, "at": at, "kind": kind, "step": step,
            "detail": detail[:4000] if detail else None}


class FlowStore:
    """Reads and writes flow instances.

    Args:
        engine: The database.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def _begin(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        if conn is not None:
            yield conn
            return
        async with self.engine.begin() as own:
            yield own

    def _insert_new(self, table: sa.Table) -> Any:
        dialect = postgresql if self.postgres else sqlite
        return dialect.insert(table)

    async def start(
        self,
        flow: str,
        key: str,
        input: Mapping[str, Any],
        *,
        correlation_id: str | None = None,
        due_at: datetime | None = None,
        conn: AsyncConnection | None = None,
    ) -> tuple[Instance, bool]:
        """Start ``flow`` for ``key`` unless an instance for that key exists.

        Returns:
            The instance, and whether this call created it.
        """
        now = datetime.now(UTC)
        instance_id = new_id()
        correlation = correlation_id or instance_id
        values = {
            "id": instance_id, "flow": flow, "key": key, "status": "active", "step": 0, "attempt": 0,
            "input": dict(input), "state": {}, "correlation_id": correlation, "reason": None, "detail": None,
            "due_at": due_at or now, "lease_owner": None, "lease_until": None, "created_at": now,
            "updated_at": now, "finished_at": None,
        }
        async with self._begin(conn) as db:
            inserted = await db.execute(
                self._insert_new(flow_instances).values(**values).on_conflict_do_nothing(index_elements=["flow", "key"])
            )
            created = inserted.rowcount == 1
            if created:
                await db.execute(flow_timeline.insert().values(
                    _event(instance_id, correlation, now, "started", None, f"started for {key}")))
            row = (await db.execute(
                sa.select(flow_instances).where(flow_instances.c.flow == flow, flow_instances.c.key == key)
            )).one()
        return _instance(row), created

    async def claim(self, owner: str, flows: Iterable[str], *, limit: int, lease_seconds: float) -> list[Instance]:
        """Lease up to ``limit`` due instances of ``flows`` to ``owner``; expired leases are taken over."""
        now = datetime.now(UTC)
        table = flow_instances
        due = (
            sa.select(table.c.id)
            .where(
                table.c.status.in_(RUNNABLE),
                table.c.flow.in_(list(flows)),
                table.c.due_at <= now,
                sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now),
            )
            .order_by(table.c.due_at)
            .limit(limit)
        )
        if self.postgres:
            due = due.with_for_update(skip_locked=True)
        async with self.engine.begin() as db:
            ids = list((await db.execute(due)).scalars())
            if not ids:
                return []
            taken = list(await db.execute(
                sa.select(table.c.id, table.c.correlation_id, table.c.lease_owner)
                .where(table.c.id.in_(ids), table.c.lease_owner.is_not(None))
            ))
            await db.execute(
                table.update().where(table.c.id.in_(ids))
                .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds))
            )
            if taken:
                await db.execute(flow_timeline.insert(), [
                    _event(row.id, row.correlation_id, now, "lease-taken-over", None,
                           f"{owner} took over from {row.lease_owner}, whose lease expired")
                    for row in taken
                ])
            rows = (await db.execute(sa.select(table).where(table.c.id.in_(ids)).order_by(table.c.due_at))).all()
        return [_instance(row) for row in rows]

    async def save(
        self,
        instance: Instance,
        owner: str,
        events: Sequence[tuple[str, str | None, str | None]],
        starts: Sequence[Start] = (),
        *,
        release: bool,
        lease_seconds: float = 0.0,
        watermarks: Mapping[str, str] | None = None,
    ) -> bool:
        """Commit ``instance`` as changed by a step, with its timeline entries and starts.

        Args:
            instance: The instance with its new position, state and status.
            owner: The worker that must still hold the lease.
            events: Timeline entries ``(kind, step, detail)``.
            starts: Instances to start in the same transaction (the outbox).
            release: Give the lease up (the instance waits, or is finished).
            lease_seconds: When keeping the lease, renew it for this long from now.
            watermarks: Polling progress the step recorded, by name.

        Returns:
            False when the lease was lost: nothing was written.
        """
        now = datetime.now(UTC)
        table = flow_instances
        values: dict[str, Any] = {
            "status": instance.status, "step": instance.step, "attempt": instance.attempt,
            "state": instance.state, "reason": instance.reason, "detail": instance.detail,
            "due_at": instance.due_at, "updated_at": now, "finished_at": instance.finished_at,
        }
        if release:
            values.update(lease_owner=None, lease_until=None)
        else:
            values.update(lease_until=now + timedelta(seconds=lease_seconds))
        async with self.engine.begin() as db:
            result = await db.execute(
                table.update().where(table.c.id == instance.id, table.c.lease_owner == owner).values(**values)
            )
            if result.rowcount != 1:
                await db.rollback()
                return False
            if events:
                await db.execute(flow_timeline.insert(), [
                    _event(instance.id, instance.correlation_id, now, kind, step, detail)
                    for kind, step, detail in events
                ])
            for name, value in (watermarks or {}).items():
                await self.set_watermark(name, value, conn=db)
            if starts:
                await db.execute(flow_outbox.insert(), [
                    {"source_id": instance.id, "flow": start.flow, "key": start.key, "input": dict(start.input),
                     "correlation_id": instance.correlation_id, "created_at": now, "dispatched_at": None}
                    for start in starts
                ])
        return True

    async def dispatch_outbox(self, limit: int = 100) -> int:
        """Start the instances the outbox asks for; each message is dispatched exactly once."""
        table = flow_outbox
        query = sa.select(table).where(table.c.dispatched_at.is_(None)).order_by(table.c.id).limit(limit)
        if self.postgres:
            query = query.with_for_update(skip_locked=True)
        async with self.engine.begin() as db:
            rows = (await db.execute(query)).all()
            for row in rows:
                await self.start(row.flow, row.key, row.input, correlation_id=row.correlation_id, conn=db)
            if rows:
                await db.execute(table.update().where(table.c.id.in_([row.id for row in rows]))
                                 .values(dispatched_at=datetime.now(UTC)))
        return len(rows)

    async def get(self, instance_id: str) -> Instance | None:
        """The instance, or None."""
        async with self.engine.connect() as db:
            row = (await db.execute(sa.select(flow_instances).where(flow_instances.c.id == instance_id))).first()
        return _instance(row) if row is not None else None

    async def find(self, flow: str, key: str) -> Instance | None:
        """The instance of ``flow`` for ``key``, or None."""
        async with self.engine.connect() as db:
            row = (await db.execute(sa.select(flow_instances).where(
                flow_instances.c.flow == flow, flow_instances.c.key == key))).first()
        return _instance(row) if row is not None else None

    async def instances(self, where: InstanceFilter, *, limit: int, before: tuple[datetime, str] | None = None,
                   ) -> list[Instance]:
        """Instances matching ``where``, newest first; ``before`` continues after a page's last item."""
        table = flow_instances
        query = sa.select(table)
        for name in ("flow", "status", "reason", "correlation_id", "key"):
            value = getattr(where, name)
            if value is not None:
                query = query.where(table.c[name] == value)
        if before is not None:
            created, last_id = before
            query = query.where(sa.or_(table.c.created_at < created,
                                       sa.and_(table.c.created_at == created, table.c.id < last_id)))
        query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
        async with self.engine.connect() as db:
            return [_instance(row) for row in (await db.execute(query)).all()]

    async def timeline(self, *, instance_id: str | None = None, correlation_id: str | None = None,
                       ) -> list[TimelineEntry]:
        """Timeline entries of one instance, or of every instance of one correlation id, oldest first."""
        query = sa.select(flow_timeline).order_by(flow_timeline.c.at, flow_timeline.c.id)
        if instance_id is not None:
            query = query.where(flow_timeline.c.instance_id == instance_id)
        if correlation_id is not None:
            query = query.where(flow_timeline.c.correlation_id == correlation_id)
        async with self.engine.connect() as db:
            rows = (await db.execute(query)).all()
        return [msgspec.convert(_columns(row), TimelineEntry, strict=False) for row in rows]

    async def counts(self) -> dict[tuple[str, str, str | None], int]:
        """Number of instances by flow, status and reason."""
        table = flow_instances
        query = sa.select(table.c.flow, table.c.status, table.c.reason, sa.func.count()).group_by(
            table.c.flow, table.c.status, table.c.reason)
        async with self.engine.connect() as db:
            return {(row[0], row[1], row[2]): int(row[3]) for row in (await db.execute(query)).all()}

    async def change(
        self, instance_id: str, expect: Sequence[str], kind: str, detail: str,
        values: Callable[[Instance], Mapping[str, Any]],
    ) -> Instance | None:
        """Apply a person's action to an instance no worker holds, and record it on the timeline.

        Args:
            instance_id: The instance.
            expect: Statuses the action applies to.
            kind: Timeline entry kind (``retried``, ``resolved``, ...).
            detail: Timeline entry text.
            values: Column values to write, computed from the instance as it stands.

        Returns:
            The changed instance, or None when it does not exist.

        Raises:
            InstanceBusy: The instance is in another status, or a worker holds it right now.
        """
        now = datetime.now(UTC)
        table = flow_instances
        query = sa.select(table).where(table.c.id == instance_id)
        if self.postgres:
            query = query.with_for_update()
        async with self.engine.begin() as db:
            row = (await db.execute(query)).first()
            if row is None:
                return None
            instance = _instance(row)
            if instance.status not in expect:
                raise InstanceBusy(f"instance {instance_id} is {instance.status}; this action needs it to be "
                                   + " or ".join(expect))
            if instance.lease_until is not None and instance.lease_until > now:
                raise InstanceBusy(f"instance {instance_id} is being worked on right now; try again shortly")
            await db.execute(table.update().where(table.c.id == instance_id).values(
                updated_at=now, **values(instance)))
            await db.execute(flow_timeline.insert().values(
                _event(instance_id, instance.correlation_id, now, kind, None, detail)))
            changed = (await db.execute(sa.select(table).where(table.c.id == instance_id))).one()
        return _instance(changed)

    async def lease_holder(self, instance_id: str) -> str | None:
        """The worker holding a live lease on the instance, if any."""
        now = datetime.now(UTC)
        async with self.engine.connect() as db:
            row = (await db.execute(sa.select(flow_instances.c.lease_owner, flow_instances.c.lease_until).where(
                flow_instances.c.id == instance_id))).first()
        if row is None or row.lease_owner is None or row.lease_until is None or row.lease_until < now:
            return None
        return str(row.lease_owner)

    async def start_due(self, schedules: Sequence[Schedule], *, now: datetime | None = None) -> int:
        """Start one instance per schedule whose window is due; each window starts exactly once.

        The instance key names the window (``<schedule>@<due time>``), so two workers racing
        for the same window start it once between them.
        """
        now = now or datetime.now(UTC)
        started = 0
        for schedule in schedules:
            async with self.engine.begin() as db:
                first = now + timedelta(seconds=schedule.first_after_seconds)
                await db.execute(self._insert_new(flow_schedules).values(
                    name=schedule.name, due_at=first, updated_at=now).on_conflict_do_nothing(index_elements=["name"]))
                query = sa.select(flow_schedules.c.due_at).where(flow_schedules.c.name == schedule.name)
                if self.postgres:
                    query = query.with_for_update()
                due_at: datetime = (await db.execute(query)).scalar_one()
                if due_at > now:
                    continue
                window = due_at.strftime("%Y%m%dT%H%M%SZ")
                _, created = await self.start(
                    schedule.flow, f"{schedule.name}@{window}", {**schedule.input, "window": due_at.isoformat()},
                    conn=db)
                started += created
                every = timedelta(seconds=schedule.every_seconds)
                following = due_at + every
                if following <= now:  # skip the windows missed while nothing ran
                    following = now + every
                await db.execute(flow_schedules.update().where(flow_schedules.c.name == schedule.name)
                                 .values(due_at=following, updated_at=now))
        return started

    async def watermark(self, name: str) -> str | None:
        """The last value recorded under ``name`` (polling progress), or None."""
        async with self.engine.connect() as db:
            return (await db.execute(sa.select(watermarks.c.value).where(watermarks.c.name == name))).scalar()

    async def set_watermark(self, name: str, value: str, conn: AsyncConnection | None = None) -> None:
        """Record polling progress under ``name``."""
        now = datetime.now(UTC)
        async with self._begin(conn) as db:
            statement = self._insert_new(watermarks).values(name=name, value=value, updated_at=now)
            await db.execute(statement.on_conflict_do_update(
                index_elements=["name"], set_={"value": value, "updated_at": now}))
