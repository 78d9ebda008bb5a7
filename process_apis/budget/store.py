"""Budget reservations as stored, and the one place that decides whether an amount still fits.

A reservation is decided in one transaction that holds the budget line's lock: it sums the
amounts already held on the line, compares with what the planning platform left, and inserts
the new hold, so two requests racing for the last budget can never both win. On PostgreSQL
the lock is a row of ``budget_line_locks`` (inserted on first use, then ``SELECT ... FOR
UPDATE``), so reservations on different lines do not wait for each other; on SQLite the
``BEGIN IMMEDIATE`` of :mod:`gateway.storage` already serialises every writer of the database.

The planning figures are read *before* the transaction (they come over HTTP and must not hold
a database lock while they travel); only our own holds are read under the lock. That is
sound because only this API adds holds; a commitment booked in planning between the read
and the decision can only make the answer optimistic by that one booking, never let holds
pile up past the budget.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from process_apis.budget.tables import budget_line_locks, budget_reservations

__all__ = [
    "AlreadyHeld",
    "NoSuchReservation",
    "OverBudget",
    "Recorder",
    "ReservationRecord",
    "ReservationStatus",
    "ReservationStore",
    "Reserve",
    "WrongStatus",
    "new_reservation_id",
]

ReservationStatus = Literal["held", "released", "converted"]
"""``held`` counts against the line; ``released`` (requisition cancelled) and ``converted``
(PO issued: the commitment now lives in procurement and planning) no longer do."""

Recorder = Callable[[AsyncConnection, "ReservationRecord | None", "ReservationRecord"], Awaitable[None]]
"""Called inside the transaction of a change with (conn, before, after): the audit record."""


def new_reservation_id() -> str:
    """A new reservation id."""
    return f"rsv_{uuid.uuid4().hex}"


class ReservationRecord(msgspec.Struct, kw_only=True):
    """One reservation, as stored."""

    id: str
    """Reservation id."""
    requisition_id: str
    """Requisition the amount is held for."""
    budget_line_id: str
    """Budget line (planning platform id)."""
    company_code: str
    """Entity of the line."""
    cost_center: str
    """Cost center of the line."""
    fiscal_year: int
    """Fiscal year of the line."""
    period: int
    """Fiscal period of the line."""
    amount: Decimal
    """Amount held, in ``currency``."""
    currency: str
    """Currency of the line and the amount."""
    status: ReservationStatus
    """Where the reservation stands."""
    purchase_order_id: str | None = None
    """PO the reservation was converted into."""
    client_id: str | None = None
    """Client that made the reservation."""
    correlation_id: str
    """Correlation id of the call that made it."""
    created_at: datetime
    """When it was made."""
    updated_at: datetime
    """Last change."""
    released_at: datetime | None = None
    """When it was released."""
    converted_at: datetime | None = None
    """When it was converted."""


@dataclass(frozen=True, slots=True)
class Reserve:
    """What a reservation request asks for, with the planning figures read just before."""

    requisition_id: str
    """Requisition to hold the amount for."""
    budget_line_id: str
    """Budget line."""
    company_code: str
    """Entity of the line."""
    cost_center: str
    """Cost center of the line."""
    fiscal_year: int
    """Fiscal year of the line."""
    period: int
    """Fiscal period of the line."""
    amount: Decimal
    """Amount to hold (positive, in the line's currency)."""
    currency: str
    """The line's currency."""
    unreserved: Decimal
    """Budget minus commitments minus actuals, per the planning platform (before our holds)."""
    client_id: str | None
    """Calling client."""
    correlation_id: str
    """Correlation id of the call."""


class OverBudget(Exception):  # noqa: N818 - an answer, not a defect
    """The amount does not fit what is still available on the line."""

    def __init__(self, available: Decimal) -> None:
        super().__init__(f"{available} available")
        self.available = available


class AlreadyHeld(Exception):  # noqa: N818 - an answer, not a defect
    """The requisition already holds a reservation on the line, for another amount."""

    def __init__(self, existing: ReservationRecord) -> None:
        super().__init__(existing.id)
        self.existing = existing


class NoSuchReservation(Exception):  # noqa: N818 - an answer, not a defect
    """No reservation has that id."""


class WrongStatus(Exception):  # noqa: N818 - an answer, not a defect
    """The change does not apply to the reservation in its current status."""

    def __init__(self, record: ReservationRecord) -> None:
        super().__init__(record.status)
        self.record = record


def _record(row: Any) -> ReservationRecord:
    # Column names come back as a str subclass (quoted names), which msgspec refuses as keys.
    return msgspec.convert({str(name): value for name, value in row._mapping.items()}, ReservationRecord,
                           strict=False)


def _held_sum(rows: Any) -> Decimal:
    # Summed in Python: exact on SQLite too, where the amounts are stored as text.
    return sum((Decimal(value) for (value,) in rows), Decimal(0))


class ReservationStore:
    """Reservations in the gateway's database.

    Args:
        engine: The database (the runtime's ``database``).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def _locked_line(self, line_id: str) -> AsyncIterator[AsyncConnection]:
        """A transaction holding the lock of ``line_id`` until it ends."""
        async with self.engine.begin() as conn:
            is_pg = conn.dialect.name == "postgresql"
            insert = postgresql.insert if is_pg else sqlite.insert
            await conn.execute(
                insert(budget_line_locks)
                .values(budget_line_id=line_id, created_at=datetime.now(UTC))
                .on_conflict_do_nothing(index_elements=[budget_line_locks.c.budget_line_id])
            )
            if is_pg:
                await conn.execute(
                    sa.select(budget_line_locks.c.budget_line_id)
                    .where(budget_line_locks.c.budget_line_id == line_id)
                    .with_for_update()
                )
            yield conn

    @staticmethod
    def _held_query(line_id: str) -> sa.Select[Any]:
        return sa.select(budget_reservations.c.amount).where(
            budget_reservations.c.budget_line_id == line_id, budget_reservations.c.status == "held"
        )

    async def held(self, line_id: str) -> Decimal:
        """Total held on ``line_id`` right now (a snapshot, for checks that decide nothing)."""
        async with self.engine.connect() as conn:
            return _held_sum((await conn.execute(self._held_query(line_id))).all())

    async def reserve(self, request: Reserve, record_change: Recorder) -> tuple[ReservationRecord, bool]:
        """Hold ``request.amount`` on the line if it fits, under the line's lock.

        Args:
            request: The reservation asked for, with the planning figures.
            record_change: Writes the audit record in the same transaction.

        Returns:
            The reservation, and whether it was made now (``False``: the requisition already
            held this very amount on the line, and that reservation is given back).

        Raises:
            AlreadyHeld: The requisition holds a reservation on the line for another amount.
            OverBudget: The amount is more than what is available (which the error carries).
        """
        async with self._locked_line(request.budget_line_id) as conn:
            existing = (
                await conn.execute(
                    sa.select(budget_reservations).where(
                        budget_reservations.c.budget_line_id == request.budget_line_id,
                        budget_reservations.c.requisition_id == request.requisition_id,
                        budget_reservations.c.status == "held",
                    )
                )
            ).first()
            if existing is not None:
                record = _record(existing)
                if record.amount == request.amount and record.currency == request.currency:
                    return record, False
                raise AlreadyHeld(record)
            held = _held_sum((await conn.execute(self._held_query(request.budget_line_id))).all())
            available = request.unreserved - held
            if request.amount > available:
                raise OverBudget(available)
            now = datetime.now(UTC)
            record = ReservationRecord(
                id=new_reservation_id(), requisition_id=request.requisition_id,
                budget_line_id=request.budget_line_id, company_code=request.company_code,
                cost_center=request.cost_center, fiscal_year=request.fiscal_year, period=request.period,
                amount=request.amount, currency=request.currency, status="held", client_id=request.client_id,
                correlation_id=request.correlation_id, created_at=now, updated_at=now,
            )
            await conn.execute(budget_reservations.insert().values(**msgspec.structs.asdict(record)))
            await record_change(conn, None, record)
            return record, True

    async def get(self, reservation_id: str) -> ReservationRecord | None:
        """One reservation, or ``None``."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(budget_reservations).where(budget_reservations.c.id == reservation_id))
            ).first()
        return None if row is None else _record(row)

    async def search(
        self, *, requisition_id: str | None, budget_line_id: str | None, status: str | None, limit: int,
        before: tuple[datetime, str] | None,
    ) -> list[ReservationRecord]:
        """Reservations matching the filters, newest first; ``before`` continues after a page's last item."""
        table = budget_reservations
        query = sa.select(table)
        for column, value in (("requisition_id", requisition_id), ("budget_line_id", budget_line_id),
                              ("status", status)):
            if value is not None:
                query = query.where(table.c[column] == value)
        if before is not None:
            created, last_id = before
            query = query.where(sa.or_(table.c.created_at < created,
                                       sa.and_(table.c.created_at == created, table.c.id < last_id)))
        query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            return [_record(row) for row in (await conn.execute(query)).all()]

    async def end(
        self, reservation_id: str, status: Literal["released", "converted"], record_change: Recorder, *,
        purchase_order_id: str | None = None,
    ) -> tuple[ReservationRecord, bool]:
        """End a held reservation: ``released`` (requisition cancelled) or ``converted`` (PO issued).

        Ending it again the same way is answered with the reservation as it is (a repeated
        release, or a repeated conversion into the same PO), so callers can safely retry.

        Returns:
            The reservation after the change, and whether it changed now.

        Raises:
            NoSuchReservation: No reservation has that id.
            WrongStatus: It already ended the other way (or converted into another PO).
        """
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(budget_reservations)
                    .where(budget_reservations.c.id == reservation_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                raise NoSuchReservation(reservation_id)
            before = _record(row)
            if before.status == status and (status == "released" or before.purchase_order_id == purchase_order_id):
                return before, False
            if before.status != "held":
                raise WrongStatus(before)
            now = datetime.now(UTC)
            changes: dict[str, Any] = {"status": status, "updated_at": now}
            if status == "released":
                changes["released_at"] = now
            else:
                changes["converted_at"] = now
                changes["purchase_order_id"] = purchase_order_id
            await conn.execute(
                budget_reservations.update().where(budget_reservations.c.id == reservation_id).values(**changes)
            )
            after = msgspec.structs.replace(before, **changes)
            await record_change(conn, before, after)
            return after, True
