"""The expense system API (``/system/expense/v1``): expense reports, employees and card transactions.

Canonical objects in and out, whatever expense platform sits behind the connector (SAP Concur
today). Lists page with opaque cursors; a status update (posted to the ERP, paid) needs an
``Idempotency-Key`` and is audited with the report before and after, once the platform has
confirmed it.
"""

# No `from __future__ import annotations`: Litestar and msgspec must see the real types of
# the handler signatures (they are resolved at app build time).

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter

from policies.call import current_call, governed
from policies.problems import Problem, ProblemDocument
from policies.services import PolicyServices
from system_apis.canonical import CardTransaction, Employee, ExpenseReport, Page
from system_apis.canonical.expense import ExpenseReportStatus
from system_apis.connectors.expense import ExpenseConnector
from system_apis.connectors.kit import PlatformError

__all__ = ["PREFIX", "SCOPES", "SUMMARY", "ReportStatusUpdate", "routes"]

PREFIX = "/system/expense/v1"
SUMMARY = "Expense reports with their entries, employees and company card transactions (SAP Concur)."
SCOPES = {
    "expense:reports:read": "Read expense reports and their entries.",
    "expense:reports:write": "Mark expense reports as posted to the ERP or as paid.",
    "expense:employees:read": "Read employees of the expense platform.",
    "expense:cards:read": "Read company card transactions.",
}

Connector = NamedDependency[ExpenseConnector]
Services = NamedDependency[PolicyServices]

ReportId = Annotated[
    str, PathParameter(description="Report id in the expense platform.", min_length=1, max_length=64,
                       pattern=r"^[A-Za-z0-9_-]+$")
]
EmployeeId = Annotated[
    str, PathParameter(description="Employee id (the expense platform's login id).", min_length=1, max_length=128,
                       pattern=r"^[A-Za-z0-9._@+-]+$")
]
StatusFilter = Annotated[ExpenseReportStatus | None, QueryParameter(description="Only reports in this status.")]
Limit = Annotated[int, QueryParameter(ge=1, le=200, description="Page size.")]
Cursor = Annotated[
    str | None, QueryParameter(description="`next_cursor` of the previous page.", min_length=1, max_length=4096)
]


def _problem(status: int, description: str) -> ResponseSpec:
    return ResponseSpec(ProblemDocument, description=description, media_type="application/problem+json")


PLATFORM_ERRORS = {
    502: _problem(502, "The expense platform answered something out of its contract, or refused our credentials."),
    503: _problem(503, "The expense platform is unavailable (maintenance, overload, circuit open)."),
    504: _problem(504, "The expense platform did not answer in time."),
}


class ReportStatusUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A status change of an approved expense report."""

    status: Literal["posted", "paid"]
    """``posted``: the report was posted to the ERP; ``paid``: the employee was reimbursed."""
    erp_document: Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9/_-]+$")] | None = None
    """Document number of the ERP posting; required with ``posted``."""


def _bad_cursor() -> Problem:
    return Problem(400, "query.cursor: not a cursor issued by this API", kind="validation", title="Invalid request")


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Problem(400, f"query.{name}: give an RFC 3339 time with a zone, e.g. 2026-01-01T00:00:00Z",
                      kind="validation", title="Invalid request")
    return value


def routes(connector: ExpenseConnector) -> list[Router]:
    """The API's one router, with ``connector`` injected into its handlers."""

    @get("/reports", opt=governed("expense:reports:read", operation="list_expense_reports"), responses=PLATFORM_ERRORS)
    async def list_reports(
        connector: Connector,
        status: StatusFilter = None,
        employee_id: Annotated[
            str | None, QueryParameter(description="Only reports of this employee.", min_length=1, max_length=128)
        ] = None,
        approved_since: Annotated[
            datetime | None, QueryParameter(description="Only reports finally approved at or after this time.")
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[ExpenseReport]:
        """Expense reports (headers, without entries), filtered, one page at a time."""
        try:
            return await connector.list_reports(
                status=status, employee_id=employee_id, approved_since=_aware("approved_since", approved_since),
                limit=limit, cursor=cursor,
            )
        except PlatformError as exc:
            raise exc.problem() from exc
        except ValueError:
            raise _bad_cursor() from None

    @get(
        "/reports/{report_id:str}",
        opt=governed("expense:reports:read", operation="get_expense_report"),
        responses=PLATFORM_ERRORS,
    )
    async def get_report(connector: Connector, report_id: ReportId) -> ExpenseReport:
        """One expense report with its entries (personal expenses are not part of it)."""
        try:
            return await connector.get_report(report_id)
        except PlatformError as exc:
            raise exc.problem() from exc

    @post(
        "/reports/{report_id:str}/status",
        status_code=200,
        opt=governed("expense:reports:write", effect=True, operation="update_expense_report_status"),
        responses=PLATFORM_ERRORS,
    )
    async def update_status(
        request: Request[Any, Any, Any],
        connector: Connector,
        services: Services,
        report_id: ReportId,
        data: JSONBody[ReportStatusUpdate],
    ) -> ExpenseReport:
        """Mark an approved report as posted to the ERP (with the document number) or as paid.

        Setting a status the report already has changes nothing. A report must be approved
        before it is posted and posted before it is paid (409 otherwise); a report posted
        under one document cannot be posted again under another (409).
        """
        if data.status == "posted" and data.erp_document is None:
            raise Problem(422, "body.erp_document: required when the status is posted", kind="validation",
                          title="Invalid request")
        call = current_call(request.scope)
        call.resource_ids["report_id"] = report_id
        try:
            before = await connector.get_report(report_id, entries=False)
            after = await connector.set_status(report_id, data.status, erp_document=data.erp_document)
        except PlatformError as exc:
            raise exc.problem() from exc
        async with services.engine.begin() as conn:
            await services.audit.record_change(
                conn, call, resource_ids={"report_id": report_id},
                before=msgspec.to_builtins(before),
                after=msgspec.to_builtins(msgspec.structs.replace(after, entries=[])),
            )
        return after

    @get("/employees", opt=governed("expense:employees:read", operation="list_employees"), responses=PLATFORM_ERRORS)
    async def list_employees(
        connector: Connector,
        company_code: Annotated[
            str | None, QueryParameter(description="Only employees of this legal entity.", pattern=r"^[A-Z0-9]{1,10}$")
        ] = None,
        active: Annotated[bool | None, QueryParameter(description="Only active (or only former) employees.")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[Employee]:
        """Employees of the expense platform, filtered, one page at a time."""
        try:
            return await connector.list_employees(company_code=company_code, active=active, limit=limit, cursor=cursor)
        except PlatformError as exc:
            raise exc.problem() from exc
        except ValueError:
            raise _bad_cursor() from None

    @get(
        "/employees/{employee_id:str}",
        opt=governed("expense:employees:read", operation="get_employee"),
        responses=PLATFORM_ERRORS,
    )
    async def get_employee(connector: Connector, employee_id: EmployeeId) -> Employee:
        """One employee."""
        try:
            return await connector.get_employee(employee_id)
        except PlatformError as exc:
            raise exc.problem() from exc

    @get(
        "/card-transactions",
        opt=governed("expense:cards:read", operation="list_card_transactions"),
        responses=PLATFORM_ERRORS,
    )
    async def list_card_transactions(
        connector: Connector,
        employee_id: Annotated[
            str | None, QueryParameter(description="Only this card holder's.", min_length=1, max_length=128)
        ] = None,
        unassigned: Annotated[
            bool | None, QueryParameter(description="true: not yet on an expense entry; false: itemised.")
        ] = None,
        since: Annotated[date | None, QueryParameter(description="Only transactions on or after this date.")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[CardTransaction]:
        """Company card transactions, filtered, one page at a time."""
        try:
            return await connector.list_card_transactions(
                employee_id=employee_id, unassigned=unassigned, since=since, limit=limit, cursor=cursor
            )
        except PlatformError as exc:
            raise exc.problem() from exc
        except ValueError:
            raise _bad_cursor() from None

    return [
        Router(
            path=PREFIX,
            route_handlers=[list_reports, get_report, update_status, list_employees, get_employee,
                            list_card_transactions],
            dependencies={"connector": Provide(lambda: connector, use_cache=True, sync_to_thread=False)},
        )
    ]
