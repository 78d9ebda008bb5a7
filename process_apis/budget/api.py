"""Budget check process API ``/process/budget/v1``: is the money there, and hold it until the PO.

Synchronous and user-facing (DESIGN.md §6). For a budget line (one entity, cost center and
fiscal period of the planning platform) the available amount is

    available = budget - commitments - actuals - amounts held by active reservations

where budget, commitments and actuals come from the planning system API (a governed call
with the caller's correlation id) and the reservations are this API's own. A check answers
without any effect; a reservation holds an amount for a requisition until the requisition is
cancelled (release) or its PO is issued (convert: the commitment then lives in procurement and
planning). Reservations are decided under a per-line lock (see :mod:`process_apis.budget.store`),
so concurrent requests for the last of a budget never overspend it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncConnection

from policies.call import Call, current_call, governed
from policies.problems import Problem, problem_spec
from policies.services import PolicyServices
from process_apis.budget.store import (
    AlreadyHeld,
    NoSuchReservation,
    OverBudget,
    Recorder,
    ReservationRecord,
    ReservationStatus,
    ReservationStore,
    Reserve,
    WrongStatus,
)
from process_apis.flow.model import BusinessError, TechnicalError
from process_apis.flow.runtime import Runtime
from system_apis.canonical import BudgetLine, CompanyCode, Money, Page
from system_apis.paging import Cursor, Limit, cursor_page, foreign_cursor, list_errors, read_cursor

__all__ = [
    "NAME",
    "PREFIX",
    "SCOPES",
    "SUMMARY",
    "BudgetCheck",
    "BudgetFigures",
    "BudgetLineRef",
    "CheckRequest",
    "ConvertRequest",
    "Reservation",
    "ReservationRequest",
    "routes",
]

NAME = "budget"
PREFIX = "/process/budget/v1"
SUMMARY = "Available budget per budget line, and reservations that hold it for a requisition until its PO."
SCOPES = {
    "process:budget:read": "Check available budget and read reservations.",
    "process:budget:write": "Reserve budget for requisitions, release and convert reservations.",
}

PLANNING = "/system/planning/v1"
_CONSUMPTION_PAGES = 100
"""Pages of consumption read per line at most (200 records each); more is a platform defect."""

T = TypeVar("T")
Services = NamedDependency[PolicyServices]

_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"
LineId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_ID_PATTERN)]
DocumentId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_ID_PATTERN)]
ReservationId = Annotated[
    str,
    PathParameter(min_length=1, max_length=64, pattern=_ID_PATTERN, description="Id of the reservation."),
]

RequisitionQuery = Annotated[
    str | None, QueryParameter(min_length=1, max_length=64, pattern=_ID_PATTERN, description="Only this requisition's.")
]
LineQuery = Annotated[
    str | None, QueryParameter(min_length=1, max_length=64, pattern=_ID_PATTERN, description="Only on this line.")
]
StatusQuery = Annotated[ReservationStatus | None, QueryParameter(description="Only in this status.")]


class _Position(msgspec.Struct, frozen=True, kw_only=True):
    """Where a reservation list goes on, and the filters it was for."""

    created_at: datetime
    id: str
    filters: tuple[str | None, str | None, str | None]


# -- wire ------------------------------------------------------------------------------------


class _LineSelector(msgspec.Struct, frozen=True, kw_only=True):
    budget_line_id: LineId | None = None
    """The budget line's id in the planning platform; or give entity, cost center, year and period."""
    company_code: CompanyCode | None = None
    """Entity of the line (with ``cost_center``, ``fiscal_year`` and ``period``)."""
    cost_center: Annotated[str, msgspec.Meta(min_length=1, max_length=16)] | None = None
    """Cost center of the line."""
    fiscal_year: Annotated[int, msgspec.Meta(ge=1900, le=2999)] | None = None
    """Fiscal year of the line."""
    period: Annotated[int, msgspec.Meta(ge=1, le=16)] | None = None
    """Fiscal period of the line."""

    def _check_selector(self) -> None:
        key = (self.company_code, self.cost_center, self.fiscal_year, self.period)
        given = sum(part is not None for part in key)
        if self.budget_line_id is not None and given:
            raise ValueError("give either budget_line_id or company_code/cost_center/fiscal_year/period, not both")
        if self.budget_line_id is None and given != len(key):
            raise ValueError("give budget_line_id, or all of company_code, cost_center, fiscal_year and period")


class CheckRequest(_LineSelector, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Is this amount available on this budget line?"""

    amount: Money
    """Amount to check, in the line's currency (above zero)."""

    def __post_init__(self) -> None:
        self._check_selector()
        if not self.amount.is_positive():
            raise ValueError("amount must be above zero")


class ReservationRequest(_LineSelector, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Hold an amount of a budget line for a requisition."""

    requisition_id: DocumentId
    """Requisition the amount is for; it holds at most one reservation per line."""
    amount: Money
    """Amount to hold, in the line's currency (above zero)."""

    def __post_init__(self) -> None:
        self._check_selector()
        if not self.amount.is_positive():
            raise ValueError("amount must be above zero")


class ConvertRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The PO that now carries the reserved amount as a commitment."""

    purchase_order_id: DocumentId
    """Id of the issued purchase order."""


class BudgetLineRef(msgspec.Struct, frozen=True, kw_only=True):
    """Which budget line: its id and the entity, cost center and period it budgets."""

    id: str
    """Id in the planning platform."""
    company_code: str
    """Entity."""
    cost_center: str
    """Cost center."""
    fiscal_year: int
    """Fiscal year."""
    period: int
    """Fiscal period, 1-16."""


class BudgetFigures(msgspec.Struct, frozen=True, kw_only=True):
    """A budget line's figures at the time of the answer."""

    budget_line: BudgetLineRef
    """The line."""
    budget: Money
    """Budgeted amount."""
    commitments: Money
    """Commitments booked in planning (issued POs)."""
    actuals: Money
    """Actuals booked in planning (posted invoices, expenses)."""
    reserved: Money
    """Held by active reservations of requisitions that have no PO yet."""
    available: Money
    """``budget - commitments - actuals - reserved`` (negative when overspent)."""


class BudgetCheck(BudgetFigures, frozen=True, kw_only=True):
    """The answer to a budget check."""

    requested: Money
    """Amount asked about."""
    sufficient: bool
    """Whether ``requested`` fits in ``available``."""
    checked_at: datetime
    """When the figures were read (UTC)."""


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    """An amount held on a budget line for a requisition."""

    id: str
    """Reservation id."""
    requisition_id: str
    """Requisition the amount is held for."""
    budget_line: BudgetLineRef
    """The line it is held on."""
    amount: Money
    """Amount held."""
    status: ReservationStatus
    """``held`` (counts against the line), ``released`` (requisition cancelled) or ``converted``
    (PO issued; the commitment now lives in procurement and planning)."""
    purchase_order_id: str | None
    """PO it was converted into."""
    correlation_id: str
    """Correlation id of the call that made it."""
    created_at: datetime
    """When it was made."""
    updated_at: datetime
    """Last change."""
    released_at: datetime | None
    """When it was released."""
    converted_at: datetime | None
    """When it was converted."""


def reservation_view(record: ReservationRecord) -> Reservation:
    """The wire view of a stored reservation."""
    return Reservation(
        id=record.id, requisition_id=record.requisition_id,
        budget_line=BudgetLineRef(id=record.budget_line_id, company_code=record.company_code,
                                  cost_center=record.cost_center, fiscal_year=record.fiscal_year,
                                  period=record.period),
        amount=Money(record.amount, record.currency), status=record.status,
        purchase_order_id=record.purchase_order_id, correlation_id=record.correlation_id,
        created_at=record.created_at, updated_at=record.updated_at, released_at=record.released_at,
        converted_at=record.converted_at,
    )


# -- reading the planning figures ------------------------------------------------------------


class _Consumption(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    amount: Money


async def _planning(call: Awaitable[T], what: str) -> T:
    """Await a planning call, turning its failures into this API's problems."""
    try:
        return await call
    except BusinessError as exc:
        if exc.status == 404:
            raise Problem(404, f"{what} does not exist in the planning platform",
                          kind="budget-line-not-found", title="Budget line not found") from exc
        raise Problem(502, f"the planning system API refused to give {what}: {exc.detail}",
                      kind="planning-refused", title="Planning refused the request") from exc
    except TechnicalError as exc:
        if exc.permanent:
            raise Problem(502, f"reading {what} failed: {exc.detail}", kind="planning-failed",
                          title="Planning answer unusable") from exc
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))} if exc.retry_after else None
        raise Problem(503, f"the planning platform cannot be reached right now ({exc.detail}); retry later",
                      kind="planning-unavailable", title="Planning unavailable", headers=headers) from exc


class _Planned(msgspec.Struct, frozen=True, kw_only=True):
    line: BudgetLine
    commitments: Money
    actuals: Money

    @property
    def unreserved(self) -> Money:
        """Budget minus what planning says is consumed, before our reservations.

        The line's own ``consumed`` and the sum of its consumption records should agree; when
        they do not (a platform lagging behind itself), the larger one is used, so a check
        never promises money that one of the two says is gone.
        """
        consumed = max(self.line.consumed.amount, (self.commitments + self.actuals).amount)
        return self.line.amount - Money(consumed, self.line.amount.currency)


async def _line(runtime: Runtime, selector: _LineSelector, correlation_id: str) -> BudgetLine:
    if selector.budget_line_id is not None:
        return await _planning(
            runtime.system.get(f"{PLANNING}/budget-lines/{selector.budget_line_id}", type=BudgetLine,
                               correlation_id=correlation_id),
            f"budget line {selector.budget_line_id}",
        )
    what = (f"a budget line for {selector.company_code} / {selector.cost_center} / "
            f"{selector.fiscal_year}-{selector.period:02d}")
    page = await _planning(
        runtime.system.get(
            f"{PLANNING}/budget-lines", type=Page[BudgetLine], correlation_id=correlation_id,
            params={"company_code": selector.company_code, "cost_center": selector.cost_center,
                    "fiscal_year": selector.fiscal_year, "period": selector.period, "limit": 2},
        ),
        what,
    )
    if not page.items:
        raise Problem(404, f"{what} does not exist in the planning platform", kind="budget-line-not-found",
                      title="Budget line not found")
    if len(page.items) > 1:
        raise Problem(422, f"{what} is split into several lines (by GL account); give budget_line_id",
                      kind="ambiguous-budget-line", title="Ambiguous budget line")
    return page.items[0]


async def _consumption(runtime: Runtime, line_id: str, correlation_id: str) -> list[_Consumption]:
    """Every consumption record of the line, page after page."""
    records: list[_Consumption] = []
    cursor: str | None = None
    for _ in range(_CONSUMPTION_PAGES):
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = await _planning(
            runtime.system.get(f"{PLANNING}/budget-lines/{line_id}/consumption", type=Page[_Consumption],
                               params=params, correlation_id=correlation_id),
            f"budget line {line_id}",
        )
        records.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return records
    raise Problem(502, f"budget line {line_id} has more consumption than one check can read",
                  kind="planning-failed", title="Planning answer unusable")


async def _planned(runtime: Runtime, selector: _LineSelector, correlation_id: str) -> _Planned:
    """The line with its commitments and actuals (read side by side when the line id is given)."""
    if selector.budget_line_id is not None:
        line, records = await asyncio.gather(
            _line(runtime, selector, correlation_id),
            _consumption(runtime, selector.budget_line_id, correlation_id),
        )
    else:
        line = await _line(runtime, selector, correlation_id)
        records = await _consumption(runtime, line.id, correlation_id)
    currency = line.amount.currency
    commitments = actuals = Money.zero(currency)
    for item in records:
        if item.amount.currency != currency:
            raise Problem(502, f"budget line {line.id} has consumption in {item.amount.currency}, budget in "
                          f"{currency}", kind="planning-failed", title="Planning answer unusable")
        if item.kind == "commitment":
            commitments += item.amount
        elif item.kind == "actual":
            actuals += item.amount
    return _Planned(line=line, commitments=commitments, actuals=actuals)


def _ref(line: BudgetLine) -> BudgetLineRef:
    return BudgetLineRef(id=line.id, company_code=line.company_code, cost_center=line.cost_center,
                         fiscal_year=line.fiscal_year, period=line.period)


def _same_currency(line: BudgetLine, amount: Money) -> None:
    if amount.currency != line.amount.currency:
        raise Problem(422, f"budget line {line.id} is budgeted in {line.amount.currency}; give the amount in "
                      f"{line.amount.currency}, not {amount.currency}", kind="currency-mismatch",
                      title="Currency mismatch")


def _recorder(services: PolicyServices, call: Call, outcome: int) -> Recorder:
    """Writes the audit record of a reservation change inside the change's transaction."""

    async def record(conn: AsyncConnection, before: ReservationRecord | None, after: ReservationRecord) -> None:
        await services.audit.record_change(
            conn, call,
            resource_ids={"reservation_id": after.id, "budget_line_id": after.budget_line_id,
                          "requisition_id": after.requisition_id},
            before=None if before is None else reservation_view(before),
            after=reservation_view(after), outcome=outcome,
        )

    return record


# -- routes ----------------------------------------------------------------------------------

PLANNING_ERRORS = {
    502: problem_spec("The planning platform refused the read or answered something unusable."),
    503: problem_spec("The planning platform cannot be reached right now (`Retry-After` when known)."),
}
LINE_ERRORS = {
    404: problem_spec("No such budget line in the planning platform."),
    422: problem_spec(
        "The request breaks a rule (amount not above zero, line given both or neither way), the amount is "
        "in another currency than the line (`currency-mismatch`), or entity/cost center/period name "
        "several lines (`ambiguous-budget-line`)."
    ),
    **PLANNING_ERRORS,
}
RESERVE_ERRORS = {
    200: ResponseSpec(Reservation, description="The requisition already holds this amount on the line: that "
                      "reservation, unchanged."),
    404: LINE_ERRORS[404],
    409: problem_spec("The requisition already holds a reservation on this line, for another amount."),
    422: problem_spec(
        "The amount does not fit (`over-budget`; the detail names the available amount), or the request "
        "breaks a rule (see the budget check)."
    ),
    **PLANNING_ERRORS,
}
NOT_FOUND = {404: problem_spec("No reservation has that id.")}
END_ERRORS = {
    **NOT_FOUND,
    409: problem_spec("The reservation already ended the other way (or was converted into another PO)."),
}


def routes(runtime: Runtime) -> list[Router]:
    """The API's handlers in one router; reservations live in the runtime's database."""
    store = ReservationStore(runtime.database)

    @post(
        "/checks",
        status_code=200,
        responses=LINE_ERRORS,
        opt=governed("process:budget:read", operation="check_budget"),
    )
    async def check(request: Request[Any, Any, Any], data: JSONBody[CheckRequest]) -> BudgetCheck:
        """Whether an amount is available on a budget line, with the figures behind the answer; no effect."""
        call = current_call(request.scope)
        planned = await _planned(runtime, data, call.correlation_id)
        line = planned.line
        call.resource_ids["budget_line_id"] = line.id
        _same_currency(line, data.amount)
        reserved = Money(await store.held(line.id), line.amount.currency)
        available = planned.unreserved - reserved
        return BudgetCheck(
            budget_line=_ref(line), budget=line.amount, commitments=planned.commitments, actuals=planned.actuals,
            reserved=reserved, available=available, requested=data.amount,
            sufficient=data.amount.amount <= available.amount, checked_at=datetime.now(UTC),
        )

    @post(
        "/reservations",
        status_code=201,
        responses=RESERVE_ERRORS,
        opt=governed("process:budget:write", effect=True, operation="reserve_budget"),
    )
    async def reserve(
        request: Request[Any, Any, Any], services: Services, data: JSONBody[ReservationRequest]
    ) -> Response[Reservation]:
        """Hold an amount of a budget line for a requisition, if it is available (201)."""
        call = current_call(request.scope)
        call.resource_ids["requisition_id"] = data.requisition_id
        planned = await _planned(runtime, data, call.correlation_id)
        line = planned.line
        call.resource_ids["budget_line_id"] = line.id
        _same_currency(line, data.amount)
        wanted = Reserve(
            requisition_id=data.requisition_id, budget_line_id=line.id, company_code=line.company_code,
            cost_center=line.cost_center, fiscal_year=line.fiscal_year, period=line.period,
            amount=data.amount.amount, currency=data.amount.currency, unreserved=planned.unreserved.amount,
            client_id=call.client_id, correlation_id=call.correlation_id,
        )
        try:
            record, created = await store.reserve(wanted, _recorder(services, call, 201))
        except OverBudget as exc:
            available = Money(exc.available, line.amount.currency)
            raise Problem(422, f"{data.amount} does not fit budget line {line.id}: {available} available",
                          kind="over-budget", title="Over budget") from exc
        except AlreadyHeld as exc:
            held = exc.existing
            raise Problem(409, f"requisition {data.requisition_id} already holds reservation {held.id} of "
                          f"{Money(held.amount, held.currency)} on budget line {line.id}; release it first",
                          kind="reservation-exists", title="Reservation exists") from exc
        call.resource_ids["reservation_id"] = record.id
        return Response(reservation_view(record), status_code=201 if created else 200,
                        headers={"Location": f"{PREFIX}/reservations/{record.id}"})

    @get(
        "/reservations",
        responses=list_errors({}),
        opt=governed("process:budget:read", operation="list_reservations"),
    )
    async def list_reservations(
        requisition_id: RequisitionQuery = None,
        budget_line_id: LineQuery = None,
        status: StatusQuery = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[Reservation]:
        """Reservations, newest first: a requisition's holds, a budget line's, those still held."""
        filters = (requisition_id, budget_line_id, status)
        position = read_cursor(cursor, _Position)
        if position is not None and position.filters != filters:
            raise foreign_cursor("it was issued for other filters")
        found = await store.search(requisition_id=requisition_id, budget_line_id=budget_line_id, status=status,
                                   limit=limit + 1,
                                   before=(position.created_at, position.id) if position is not None else None)
        shown = found[:limit]
        following = None
        if len(found) > limit:
            following = _Position(created_at=shown[-1].created_at, id=shown[-1].id, filters=filters)
        return cursor_page([reservation_view(record) for record in shown], following)

    @get(
        "/reservations/{reservation_id:str}",
        responses=NOT_FOUND,
        opt=governed("process:budget:read", operation="get_reservation"),
    )
    async def get_reservation(request: Request[Any, Any, Any], reservation_id: ReservationId) -> Reservation:
        """One reservation with its status."""
        current_call(request.scope).resource_ids["reservation_id"] = reservation_id
        record = await store.get(reservation_id)
        if record is None:
            raise Problem(404, f"no reservation {reservation_id}")
        return reservation_view(record)

    async def _end(
        request: Request[Any, Any, Any], services: PolicyServices, reservation_id: str,
        status: str, purchase_order_id: str | None = None,
    ) -> Reservation:
        call = current_call(request.scope)
        call.resource_ids["reservation_id"] = reservation_id
        try:
            record, _ = await store.end(reservation_id, "released" if status == "released" else "converted",
                                        _recorder(services, call, 200), purchase_order_id=purchase_order_id)
        except NoSuchReservation as exc:
            raise Problem(404, f"no reservation {reservation_id}") from exc
        except WrongStatus as exc:
            now = exc.record
            detail = f"reservation {reservation_id} is {now.status}"
            if now.purchase_order_id:
                detail += f" (into PO {now.purchase_order_id})"
            raise Problem(409, detail, kind=f"reservation-{now.status}", title=f"Reservation {now.status}") from exc
        return reservation_view(record)

    @post(
        "/reservations/{reservation_id:str}/release",
        status_code=200,
        responses=END_ERRORS,
        opt=governed("process:budget:write", effect=True, operation="release_reservation"),
    )
    async def release(
        request: Request[Any, Any, Any], services: Services, reservation_id: ReservationId
    ) -> Reservation:
        """Free the amount of a reservation (the requisition was cancelled); repeating it changes nothing."""
        return await _end(request, services, reservation_id, "released")

    @post(
        "/reservations/{reservation_id:str}/convert",
        status_code=200,
        responses=END_ERRORS,
        opt=governed("process:budget:write", effect=True, operation="convert_reservation"),
    )
    async def convert(
        request: Request[Any, Any, Any], services: Services, reservation_id: ReservationId,
        data: JSONBody[ConvertRequest],
    ) -> Reservation:
        """End a reservation because its PO was issued: the commitment now lives in procurement and planning."""
        return await _end(request, services, reservation_id, "converted", data.purchase_order_id)

    return [Router(path=PREFIX, route_handlers=[check, reserve, list_reservations, get_reservation, release, convert])]
