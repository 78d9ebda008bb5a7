"""Planning system API ``/system/planning/v1``: budgets, budget lines and their consumption.

Budget lines are listed by entity, cost center, fiscal year and period with cursor
pagination. Recording a commitment or an actual against a line needs an ``Idempotency-Key``;
the connector books it under an external reference derived from that key, so a retry after
a platform timeout never books twice. Each booking is audited with the line before and after.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, PathParameter, QueryParameter

from policies.call import current_call, governed
from policies.problems import problem_spec
from policies.services import PolicyServices
from system_apis.canonical import Budget, BudgetConsumption, BudgetLine, CompanyCode, Instant, Money, Page
from system_apis.connectors.kit import PlatformError, call_reference
from system_apis.connectors.planning import BudgetConsumptionRecord, ConsumptionKind, PlanningConnector
from system_apis.paging import Cursor, Limit, list_errors

__all__ = ["PREFIX", "SCOPES", "SUMMARY", "ConsumptionRequest", "routes"]

PREFIX = "/system/planning/v1"
SUMMARY = "Budgets, budget lines per entity, cost center and period, and their consumption, as canonical objects."
SCOPES = {
    "planning:budgets:read": "Read budgets and budget lines with what is consumed.",
    "planning:consumption:read": "List the commitments and actuals booked on a budget line.",
    "planning:consumption:write": "Book commitments and actuals on budget lines.",
}

Connector = NamedDependency[PlanningConnector]
Services = NamedDependency[PolicyServices]
Id = Annotated[
    str,
    PathParameter(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Id of the object in the planning platform.",
    ),
]

PLATFORM_ERRORS = {
    status: problem_spec(text)
    for status, text in (
        (502, "The planning platform answered something malformed, or refused our credentials."),
        (503, "The planning platform is unavailable (maintenance, throttling, circuit open)."),
        (504, "The planning platform did not answer in time."),
    )
}
LIST_ERRORS = list_errors(PLATFORM_ERRORS)
LINE_LIST_ERRORS = list_errors(PLATFORM_ERRORS, also="period is given without fiscal_year")


class ConsumptionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A commitment or an actual to book on a budget line."""

    kind: ConsumptionKind
    """``commitment`` (e.g. an issued PO) or ``actual`` (e.g. a posted invoice)."""
    amount: Money
    """Amount, in the line's currency (negative releases or reverses)."""
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    """Document that consumes the budget (PO, invoice, expense report number)."""
    occurred_at: Instant | None = None
    """When it happened; now when left out."""


def routes(connector: PlanningConnector) -> list[Router]:
    """The API's handlers in one router, with ``connector`` as their dependency."""

    @get(
        "/budget-lines",
        responses=LINE_LIST_ERRORS,
        opt=governed("planning:budgets:read", operation="list_budget_lines"),
    )
    async def list_lines(
        connector: Connector,
        company_code: Annotated[CompanyCode | None, QueryParameter(description="Only this entity.")] = None,
        cost_center: Annotated[
            str | None, QueryParameter(min_length=1, max_length=16, description="Only this cost center.")
        ] = None,
        fiscal_year: Annotated[int | None, QueryParameter(ge=1900, le=2999, description="Only this year.")] = None,
        period: Annotated[
            int | None, QueryParameter(ge=1, le=16, description="Only this period (with fiscal_year).")
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[BudgetLine]:
        """Budget lines with amount and consumption, one page at a time."""
        try:
            return await connector.list_lines(
                company_code=company_code,
                cost_center=cost_center,
                fiscal_year=fiscal_year,
                period=period,
                cursor=cursor,
                limit=limit,
            )
        except PlatformError as exc:
            raise exc.problem() from exc

    @get(
        "/budget-lines/{line_id:str}",
        responses=PLATFORM_ERRORS,
        opt=governed("planning:budgets:read", operation="get_budget_line"),
    )
    async def get_line(request: Request[Any, Any, Any], connector: Connector, line_id: Id) -> BudgetLine:
        """One budget line; ``amount - consumed`` is what is left."""
        current_call(request.scope).resource_ids["budget_line_id"] = line_id
        try:
            return await connector.get_line(line_id)
        except PlatformError as exc:
            raise exc.problem() from exc

    @get(
        "/budgets/{budget_id:str}",
        responses=PLATFORM_ERRORS,
        opt=governed("planning:budgets:read", operation="get_budget"),
    )
    async def get_budget(request: Request[Any, Any, Any], connector: Connector, budget_id: Id) -> Budget:
        """One budget at its active version, with every line."""
        current_call(request.scope).resource_ids["budget_id"] = budget_id
        try:
            return await connector.get_budget(budget_id)
        except PlatformError as exc:
            raise exc.problem() from exc

    @post(
        "/budget-lines/{line_id:str}/consumption",
        status_code=201,
        responses=PLATFORM_ERRORS,
        opt=governed("planning:consumption:write", effect=True, operation="record_budget_consumption"),
    )
    async def record(
        request: Request[Any, Any, Any],
        services: Services,
        connector: Connector,
        line_id: Id,
        data: JSONBody[ConsumptionRequest],
    ) -> BudgetConsumptionRecord:
        """Book a commitment or an actual on a budget line."""
        call = current_call(request.scope)
        call.resource_ids["budget_line_id"] = line_id
        reference = call_reference(call, "planning", "consumption", length=24)
        consumption = BudgetConsumption(amount=data.amount, reference=data.reference, occurred_at=data.occurred_at)
        try:
            before = await connector.get_line(line_id)
            booked = await connector.record_consumption(line_id, data.kind, consumption, external_reference=reference)
            after = await connector.get_line(line_id)
        except PlatformError as exc:
            raise exc.problem() from exc
        await services.audit.record_remote_change(
            call,
            resource_ids={"budget_line_id": line_id, "consumption_id": booked.id},
            before={"budget_line": before},
            after={"budget_line": after, "consumption": booked},
            outcome=201,
        )
        return booked

    @get(
        "/budget-lines/{line_id:str}/consumption",
        responses=LIST_ERRORS,
        opt=governed("planning:consumption:read", operation="list_budget_consumption"),
    )
    async def list_consumption(
        request: Request[Any, Any, Any], connector: Connector, line_id: Id, limit: Limit = 50, cursor: Cursor = None
    ) -> Page[BudgetConsumptionRecord]:
        """Commitments and actuals booked on a line, oldest first."""
        current_call(request.scope).resource_ids["budget_line_id"] = line_id
        try:
            return await connector.list_consumption(line_id, cursor=cursor, limit=limit)
        except PlatformError as exc:
            raise exc.problem() from exc

    return [
        Router(
            path=PREFIX,
            route_handlers=[list_lines, get_line, get_budget, record, list_consumption],
            dependencies={"connector": Provide(lambda: connector, use_cache=True, sync_to_thread=False)},
        )
    ]
