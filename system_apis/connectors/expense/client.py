"""The expense connector: SAP Concur Expense behind canonical objects.

Reads go through Concur's v3.0 API (reports, entries, users, company card transactions),
paging with ``offset``/``limit`` and following ``NextPage``; status updates go through the
v4-style report PATCH, which is idempotent on Concur's side (repeating a change the report
already went through changes nothing), so it may be retried like a read. OAuth2 client
credentials against ``/oauth2/v0/token`` unless ``ConnectionConfig.token_path`` says otherwise.

Cursors handed to callers are opaque (:func:`system_apis.canonical.encode_cursor`) and carry
Concur's page offset; a cursor that was not issued here raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import msgspec

from system_apis.canonical import CardTransaction, Employee, ExpenseReport, Page, decode_cursor, encode_cursor
from system_apis.canonical.expense import ExpenseReportStatus
from system_apis.connectors.expense.mapping import (
    PAYMENT_STATUS_FOR,
    STATUS_FILTERS,
    card_transaction_from_wire,
    date_filter,
    employee_from_wire,
    report_from_wire,
)
from system_apis.connectors.expense.wire import (
    CardTransactionPage,
    EntryPage,
    EntryWire,
    ReportPage,
    ReportStatusPatch,
    ReportWire,
    UserPage,
)
from system_apis.connectors.kit import (
    ConnectionConfig,
    MalformedAnswer,
    OAuth2ClientCredentials,
    PlatformClient,
    PlatformRejected,
)

__all__ = ["CONCUR_PAGE_LIMIT", "TOKEN_PATH", "ExpenseConnector"]

PLATFORM = "expense"
TOKEN_PATH = "/oauth2/v0/token"  # noqa: S105 - a path, not a secret
CONCUR_PAGE_LIMIT = 100
"""Largest ``limit`` Concur accepts; longer pages are fetched in several requests."""
REPORTS = "/api/v3.0/expense/reports"
ENTRIES = "/api/v3.0/expense/entries"
USERS = "/api/v3.0/common/users"
CARDS = "/api/v3.0/expense/companycardtransactions"

W = TypeVar("W")
C = TypeVar("C")


class _Cursor(msgspec.Struct, frozen=True):
    offset: str


def _auth(config: ConnectionConfig) -> httpx.Auth | None:
    if config.client_id and config.client_secret:
        return OAuth2ClientCredentials(
            config.token_path or TOKEN_PATH, config.client_id, config.client_secret, config.scopes, platform=PLATFORM
        )
    return None


def _next_offset(next_page: str | None) -> str | None:
    if not next_page:
        return None
    offsets = parse_qs(urlsplit(next_page).query).get("offset")
    if not offsets:
        raise MalformedAnswer(f"NextPage {next_page!r} carries no offset", platform=PLATFORM)
    return offsets[0]


def _mapped(what: str, convert: Callable[..., C], *args: Any) -> C:
    try:
        return convert(*args)
    except (ValueError, KeyError, TypeError) as exc:  # MoneyError is a ValueError
        raise MalformedAnswer(f"{what} cannot be mapped: {exc}", platform=PLATFORM) from exc


class ExpenseConnector:
    """Canonical expense operations against SAP Concur (or its sandbox).

    Args:
        config: Connection settings; ``client_id``/``client_secret`` are Concur's OAuth2 app.
        transport: httpx transport (``httpx.ASGITransport(app=sandbox)`` in embedded mode).
    """

    def __init__(self, config: ConnectionConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.client = PlatformClient(PLATFORM, config, transport=transport, auth=_auth(config))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    # --- plumbing ----------------------------------------------------------------------------

    async def _get(self, path: str, type_: type[W], params: Mapping[str, Any] | None = None) -> W:
        try:
            response = await self.client.request("GET", path, params=params)
        except PlatformRejected as exc:
            raise _clean(exc) from exc
        return self.client.decode(response, type_)

    async def _pages(
        self, path: str, page_type: type[Any], params: dict[str, Any], limit: int, cursor: str | None
    ) -> tuple[list[Any], str | None]:
        """Up to ``limit`` items from ``cursor`` on, in Concur pages of at most 100; and the next offset."""
        offset = decode_cursor(cursor, _Cursor).offset if cursor else None
        items: list[Any] = []
        while True:
            want = min(limit - len(items), CONCUR_PAGE_LIMIT)
            query = {**params, "limit": want} | ({"offset": offset} if offset else {})
            page = await self._get(path, page_type, query)
            if len(page.Items) > want:
                raise MalformedAnswer(f"asked {path} for {want} items, got {len(page.Items)}", platform=PLATFORM)
            items.extend(page.Items)
            offset = _next_offset(page.NextPage)
            if offset is None or len(items) >= limit or not page.Items:
                return items, offset

    @staticmethod
    def _cursor(offset: str | None) -> str | None:
        return encode_cursor(_Cursor(offset)) if offset else None

    async def _entries(self, report_id: str) -> list[EntryWire]:
        entries: list[EntryWire] = []
        offset: str | None = None
        while True:
            query: dict[str, Any] = {"reportID": report_id, "limit": CONCUR_PAGE_LIMIT, "user": "ALL"}
            if offset:
                query["offset"] = offset
            page = await self._get(ENTRIES, EntryPage, query)
            entries.extend(page.Items)
            offset = _next_offset(page.NextPage)
            if offset is None or not page.Items:
                return entries

    # --- reports -----------------------------------------------------------------------------

    async def list_reports(
        self,
        *,
        status: ExpenseReportStatus | None = None,
        employee_id: str | None = None,
        approved_since: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[ExpenseReport]:
        """Report headers (without entries), filtered, one page.

        Args:
            status: Only reports in this status.
            employee_id: Only reports of this employee (login id).
            approved_since: Only reports finally approved at or after this instant.
            limit: Page size (any size; fetched in Concur pages of at most 100).
            cursor: ``next_cursor`` of the previous page.

        Raises:
            ValueError: ``cursor`` was not issued by this connector.
            PlatformError: The platform failed or answered out of contract.
        """
        params: dict[str, Any] = {"user": employee_id or "ALL"}
        if status is not None:
            approval, payment = STATUS_FILTERS[status]
            if approval:
                params["approvalStatusCode"] = approval
            if payment:
                params["paymentStatusCode"] = payment
        if approved_since is not None:
            params["processingPaymentDateAfter"] = date_filter(approved_since)
        wires, offset = await self._pages(REPORTS, ReportPage, params, limit, cursor)
        reports = [_mapped(f"report {w.id}", report_from_wire, w) for w in wires]
        return Page(items=reports, next_cursor=self._cursor(offset))

    async def get_report(self, report_id: str, *, entries: bool = True) -> ExpenseReport:
        """One report, with its entries unless ``entries=False``.

        Raises:
            PlatformRejected: No such report (404).
            PlatformError: The platform failed or answered out of contract.
        """
        wire = await self._get(f"{REPORTS}/{_segment(report_id)}", ReportWire)
        lines = await self._entries(report_id) if entries else None
        return _mapped(f"report {report_id}", report_from_wire, wire, lines)

    async def set_status(
        self, report_id: str, status: Literal["posted", "paid"], *, erp_document: str | None = None
    ) -> ExpenseReport:
        """Mark an approved report as posted to the ERP (with its document number) or as paid.

        Idempotent: setting a status the report already has changes nothing. Returns the
        report afterwards, with its entries.

        Raises:
            PlatformRejected: No such report (404), or the change is not allowed now (409:
                not approved, paid before posted, already posted under another document).
            PlatformError: The platform failed or answered out of contract.
        """
        body = ReportStatusPatch(payment_status=PAYMENT_STATUS_FOR[status], external_document_id=erp_document)
        try:
            await self.client.request("PATCH", f"/expensereports/v4/reports/{_segment(report_id)}", json=body)
        except PlatformRejected as exc:
            raise _clean(exc) from exc
        return await self.get_report(report_id)

    # --- employees and cards -----------------------------------------------------------------

    async def list_employees(
        self,
        *,
        company_code: str | None = None,
        active: bool | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Employee]:
        """Employees, filtered, one page (raises ``ValueError`` for a foreign cursor)."""
        params: dict[str, Any] = {}
        if company_code is not None:
            params["ledgerCode"] = company_code
        if active is not None:
            params["isActive"] = "true" if active else "false"
        wires, offset = await self._pages(USERS, UserPage, params, limit, cursor)
        employees = [_mapped(f"user {w.login_id}", employee_from_wire, w) for w in wires]
        return Page(items=employees, next_cursor=self._cursor(offset))

    async def get_employee(self, employee_id: str) -> Employee:
        """One employee by login id.

        Raises:
            PlatformRejected: No such employee (404).
        """
        page = await self._get(USERS, UserPage, {"loginID": employee_id, "limit": 1})
        if not page.Items:
            raise PlatformRejected(404, f"no employee {employee_id}", platform=PLATFORM)
        wire = page.Items[0]
        return _mapped(f"user {employee_id}", employee_from_wire, wire)

    async def list_card_transactions(
        self,
        *,
        employee_id: str | None = None,
        unassigned: bool | None = None,
        since: date | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[CardTransaction]:
        """Company card transactions, filtered, one page (raises ``ValueError`` for a foreign cursor).

        Args:
            employee_id: Only this card holder's (login id).
            unassigned: ``True`` only those not yet on an expense entry; ``False`` only those that are.
            since: Only transactions on or after this date.
            limit: Page size.
            cursor: ``next_cursor`` of the previous page.
        """
        params: dict[str, Any] = {"user": employee_id or "ALL"}
        if unassigned is not None:
            params["status"] = "UN" if unassigned else "AS"
        if since is not None:
            params["transactionDateAfter"] = date_filter(since)
        wires, offset = await self._pages(CARDS, CardTransactionPage, params, limit, cursor)
        cards = [_mapped(f"card transaction {w.id}", card_transaction_from_wire, w) for w in wires]
        return Page(items=cards, next_cursor=self._cursor(offset))


def _segment(value: str) -> str:
    """``value`` as one path segment (ids come from callers: no ``/`` or ``..`` smuggling)."""
    return quote(value, safe="")


def _clean(exc: PlatformRejected) -> PlatformRejected:
    """Concur's v3 error body is ``{"Message": ...}``: keep only the message for the caller."""
    try:
        body = msgspec.json.decode(exc.detail)
    except msgspec.DecodeError:
        return exc
    message = body.get("Message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return exc
    return PlatformRejected(exc.platform_status, message, platform=exc.platform, code=exc.code)
