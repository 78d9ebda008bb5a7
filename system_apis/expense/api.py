"""The expense system API (``/system/expense/v1``): expense reports, employees and card transactions.

Canonical objects in and out, whatever expense platform sits behind the connector (SAP Concur
today). Lists page with opaque cursors; a status update (posted to the ERP, paid) needs an
``Idempotency-Key`` and is audited with the report before and after, once the platform has
confirmed it.
"""

# No `from __future__ import annotations`: Litestar and msgspec must see the real types of
# the handler signatures (they are resolved at app build time).

from collections.abc import Awaitable
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, PathParameter, QueryParameter

from policies.call import current_call, governed
from policies.problems import Problem, problem_spec
from policies.services import PolicyServices
from system_apis.canonical import CardTransaction, Employee, ExpenseReport, Page
from system_apis.canonical.expense import ExpenseReportStatus
from system_apis.connectors.expense import ExpenseConnector
from system_apis.connectors.kit import PlatformError
from system_apis.expense.lists import SCOPES as LIST_SCOPES
from system_apis.expense.lists import list_handlers
from system_apis.paging import Cursor, Limit, foreign_cursor, list_errors

__all__ = ["PREFIX", "SCOPES", "SUMMARY", "MarkPaid", "MarkPosted", "ReportStatusUpdate", "routes"]

PREFIX = "/system/expense/v1"
SUMMARY = "Expense reports with their entries, employees and company card transactions (SAP Concur)."
SCOPES = {
    "expense:reports:read": "Read expense reports and their entries.",
    "expense:reports:write": "Mark expense reports as posted to the ERP or as paid.",
    "expense:employees:read": "Read employees of the expense platform.",
    "expense:cards:read": "Read company card transactions.",
    **LIST_SCOPES,
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


PLATFORM_ERRORS = {
    502: problem_spec("The expense platform answered something out of its contract, or refused our credentials."),
    503: problem_spec("The expense platform is unavailable (maintenance, overload, circuit open)."),
    504: problem_spec("The expense platform did not answer in time."),
}
LIST_ERRORS = list_errors(PLATFORM_ERRORS)


ErpDocument = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9/_-]+$")]


class MarkPosted(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="posted", tag_field="status"):
    """The approved report was posted to the ERP as document ``erp_document``."""

    erp_document: ErpDocument
    """Document number of the ERP posting."""


class MarkPaid(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="paid", tag_field="status"):
    """The employee was reimbursed for the posted report."""


ReportStatusUpdate = MarkPosted | MarkPaid
"""A status change of an approved expense report, told apart by ``status``."""


T = TypeVar("T")


async def _listed(call: Awaitable[T]) -> T:
    """Await a connector's list call: platform failures become their problems, a foreign cursor its 422.

    The connector decodes the cursor itself (it carries Concur's page offset) and raises
    ``ValueError`` for one it did not issue.
    """
    try:
        return await call
    except PlatformError as exc:
        raise exc.problem() from exc
    except ValueError as exc:
        raise foreign_cursor(exc) from None


def _instant(name: str, value: str | None) -> datetime | None:
    """An RFC 3339 time from a query parameter; a number, a bare date or a time without zone is refused.

    The parameter is taken as a string because Litestar would also read a number as a Unix
    time, which the document (``format: date-time``) does not allow.
    """
    if value is None:
        return None
    try:
        moment: datetime | None = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in value.upper():
        raise Problem(400, f"query.{name}: give an RFC 3339 time with a zone, e.g. 2026-01-01T00:00:00Z",
                      kind="validation", title="Invalid request")
    return moment.astimezone(UTC)


def routes(connector: ExpenseConnector) -> list[Router]:
    """The API's one router, with ``connector`` injected into its handlers."""

    @get("/reports", opt=governed("expense:reports:read", operation="list_expense_reports"), responses=LIST_ERRORS)
    async def list_reports(
        connector: Connector,
        status: StatusFilter = None,
        employee_id: Annotated[
            str | None, QueryParameter(description="Only reports of this employee.", min_length=1, max_length=128)
        ] = None,
        approved_since: Annotated[
            str | None,
            QueryParameter(description="Only reports finally approved at or after this time (RFC 3339, with a zone).",
                           max_length=64, schema_extra={"format": "date-time"}),
        ] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[ExpenseReport]:
        """Expense reports (headers, without entries), filtered, one page at a time."""
        since = _instant("approved_since", approved_since)
        return await _listed(connector.list_reports(
            status=status, employee_id=employee_id, approved_since=since, limit=limit, cursor=cursor
        ))

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
        call = current_call(request.scope)
        call.resource_ids["report_id"] = report_id
        try:
            before = await connector.get_report(report_id, entries=False)
            if isinstance(data, MarkPosted):
                after = await connector.set_status(report_id, "posted", erp_document=data.erp_document)
            else:
                after = await connector.set_status(report_id, "paid")
        except PlatformError as exc:
            raise exc.problem() from exc
        await services.audit.record_remote_change(
            call, resource_ids={"report_id": report_id}, before=before,
            after=msgspec.structs.replace(after, entries=[]),
        )
        return after

    @get("/employees", opt=governed("expense:employees:read", operation="list_employees"), responses=LIST_ERRORS)
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
        return await _listed(
            connector.list_employees(company_code=company_code, active=active, limit=limit, cursor=cursor)
        )

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
        responses=LIST_ERRORS,
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
        return await _listed(connector.list_card_transactions(
            employee_id=employee_id, unassigned=unassigned, since=since, limit=limit, cursor=cursor
        ))

    return [
        Router(
            path=PREFIX,
            route_handlers=[list_reports, get_report, update_status, list_employees, get_employee,
                            list_card_transactions, *list_handlers(PLATFORM_ERRORS)],
            dependencies={"connector": Provide(lambda: connector, use_cache=True, sync_to_thread=False)},
        )
    ]
