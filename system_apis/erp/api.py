"""ERP system API (``/system/erp/v1``): suppliers, master data, periods, invoices, journal entries, payments.

Canonical finance objects in and out, whatever ERP answers behind the connector. Lists page
with opaque cursors; every create needs ``Idempotency-Key`` (the chain enforces it), becomes
a deterministic external reference on the ERP document (so a retry after a timeout never
books twice), and is audited with before and after once the ERP confirmed it.
"""

# No `from __future__ import annotations`: Litestar must see the real parameter types.

import datetime as dt
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, PathParameter, QueryParameter

from policies.call import current_call, governed
from policies.problems import Problem, problem_spec
from policies.services import PolicyServices
from system_apis.canonical import (
    AccountingPeriod,
    CostCenter,
    GlAccount,
    JournalEntry,
    JournalEntryDraft,
    LegalEntity,
    Page,
    Payment,
    PaymentDraft,
    Supplier,
    SupplierDraft,
    SupplierInvoice,
)
from system_apis.canonical.procurement import SupplierInvoiceDraft
from system_apis.connectors.erp.client import ErpConnector
from system_apis.connectors.kit import PlatformError, call_reference
from system_apis.paging import Cursor, Limit, cursor_page, list_errors, offset_page, read_cursor, read_offset

__all__ = ["PREFIX", "SCOPES", "SUMMARY", "PeriodCheck", "routes"]

PREFIX = "/system/erp/v1"
SUMMARY = (
    "The ERP (SAP S/4HANA) as canonical finance objects: suppliers, ledger master data, periods, "
    "supplier invoices, journal entries and payments."
)
SCOPES = {
    "erp:suppliers:read": "List, search and read ERP suppliers.",
    "erp:suppliers:write": "Create ERP suppliers.",
    "erp:master-data:read": "Read legal entities, GL accounts and cost centers.",
    "erp:periods:read": "Read posting periods and check whether a date is open.",
    "erp:invoices:read": "Read supplier invoices.",
    "erp:invoices:write": "Create, post and cancel supplier invoices.",
    "erp:journal-entries:read": "Read journal entries.",
    "erp:journal-entries:write": "Post and reverse journal entries.",
    "erp:payments:read": "List ERP payments.",
    "erp:payments:write": "Create ERP payments to suppliers.",
}

T = TypeVar("T")
Connector = NamedDependency[ErpConnector]
Services = NamedDependency[PolicyServices]
AnyRequest = Request[Any, Any, Any]


PLATFORM_ERRORS = {
    502: problem_spec("The ERP answered something malformed, or refused Finrail's credentials."),
    503: problem_spec("The ERP is unavailable (maintenance, overload or circuit open); see Retry-After."),
    504: problem_spec("The ERP did not answer in time."),
}

LIST_ERRORS = list_errors(PLATFORM_ERRORS)

CompanyCodeQuery = Annotated[str | None, QueryParameter(pattern=r"^[A-Z0-9]{1,10}$", description="Company code.")]
SupplierId = Annotated[str, PathParameter(pattern=r"^[A-Za-z0-9]{1,10}$", description="ERP supplier number.")]
InvoiceId = Annotated[
    str,
    PathParameter(
        pattern=r"^[A-Za-z0-9]{1,10}-[0-9]{4}$", description="Supplier invoice id: `<document>-<fiscal year>`."
    ),
]
EntryId = Annotated[
    str,
    PathParameter(
        pattern=r"^[A-Za-z0-9]{1,10}-[0-9]{4}-[A-Za-z0-9]{1,10}$",
        description="Journal entry id: `<company code>-<fiscal year>-<document>`.",
    ),
]


class PeriodCheck(msgspec.Struct, frozen=True):
    """Whether a date is open for posting in a legal entity."""

    company_code: str
    """The legal entity asked about."""
    date: dt.date
    """The date asked about."""
    open: bool
    """Whether postings on the date are allowed."""
    period: AccountingPeriod | None
    """The period containing the date (null when the ERP defines none)."""


class _After(msgspec.Struct, frozen=True):
    """The position of the supplier list: the last supplier number of the previous page."""

    after: str


async def _erp(call: Awaitable[T]) -> T:
    """Await a connector call; platform failures become their problems."""
    try:
        return await call
    except PlatformError as error:
        raise error.problem() from error


PLATFORM_NAME = "erp"


def routes(connector: ErpConnector) -> list[Router]:
    """The ERP system API as one router bound to ``connector``."""

    @get("/suppliers", opt=governed("erp:suppliers:read", operation="list_suppliers"), responses=LIST_ERRORS)
    async def list_suppliers(
        connector: Connector,
        limit: Limit = 50,
        cursor: Cursor = None,
        tax_id: Annotated[str | None, QueryParameter(min_length=3, max_length=20, description="Exact tax id.")] = None,
        iban: Annotated[str | None, QueryParameter(min_length=15, max_length=42, description="Exact IBAN.")] = None,
        name: Annotated[
            str | None, QueryParameter(min_length=2, max_length=80, description="Part of the name, any case.")
        ] = None,
    ) -> Page[Supplier]:
        """Suppliers by number, searchable by tax id, IBAN and name."""
        position = read_cursor(cursor, _After)
        items, after = await _erp(
            connector.list_suppliers(
                limit=limit, after=position.after if position else None, tax_id=tax_id, iban=iban, name=name
            )
        )
        return cursor_page(items, _After(after) if after else None)

    @get(
        "/suppliers/{supplier_id:str}",
        opt=governed("erp:suppliers:read", operation="get_supplier"),
        responses=PLATFORM_ERRORS,
    )
    async def get_supplier(connector: Connector, supplier_id: SupplierId) -> Supplier:
        """One supplier."""
        supplier = await _erp(connector.get_supplier(supplier_id))
        if supplier is None:
            raise Problem(404, f"no supplier {supplier_id}")
        return supplier

    @post(
        "/suppliers",
        status_code=201,
        opt=governed("erp:suppliers:write", effect=True, operation="create_supplier"),
        responses=PLATFORM_ERRORS,
    )
    async def create_supplier(
        request: AnyRequest,
        connector: Connector,
        services: Services,
        data: JSONBody[SupplierDraft],
        company_code: Annotated[
            list[str] | None,
            QueryParameter(description="Company codes to set the supplier up in (repeatable).", max_items=10),
        ] = None,
    ) -> Supplier:
        """Create a supplier (an ERP business partner with the supplier role)."""
        codes = tuple(company_code or ())
        supplier = await _erp(
            connector.create_supplier(
                data,
                reference=call_reference(current_call(request.scope), PLATFORM_NAME, "supplier"),
                company_codes=codes,
            )
        )
        await services.audit.record_remote_change(
            current_call(request.scope),
            resource_ids={"supplier_id": supplier.id},
            before=None,
            after=supplier,
            outcome=201,
        )
        return supplier

    @get("/cost-centers", opt=governed("erp:master-data:read", operation="list_cost_centers"), responses=LIST_ERRORS)
    async def list_cost_centers(
        connector: Connector,
        company_code: CompanyCodeQuery = None,
        active: Annotated[bool | None, QueryParameter(description="Only usable today (true) or not (false).")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[CostCenter]:
        """Cost centers by code."""
        offset = read_offset(cursor)
        items, more = await _erp(
            connector.list_cost_centers(company_code=company_code, active=active, limit=limit, offset=offset)
        )
        return offset_page(items, offset=offset, more=more)

    @get("/gl-accounts", opt=governed("erp:master-data:read", operation="list_gl_accounts"), responses=LIST_ERRORS)
    async def list_gl_accounts(
        connector: Connector,
        blocked: Annotated[bool | None, QueryParameter(description="Only blocked (true) or open (false).")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[GlAccount]:
        """GL accounts of the chart of accounts, by number."""
        offset = read_offset(cursor)
        items, more = await _erp(connector.list_gl_accounts(limit=limit, offset=offset, blocked=blocked))
        return offset_page(items, offset=offset, more=more)

    @get(
        "/legal-entities",
        opt=governed("erp:master-data:read", operation="list_legal_entities"),
        responses=PLATFORM_ERRORS,
    )
    async def list_legal_entities(connector: Connector) -> Page[LegalEntity]:
        """Every legal entity (company code); one page."""
        return Page(items=await _erp(connector.list_legal_entities()), next_cursor=None)

    @get("/periods", opt=governed("erp:periods:read", operation="list_periods"), responses=PLATFORM_ERRORS)
    async def list_periods(
        connector: Connector,
        company_code: Annotated[str, QueryParameter(pattern=r"^[A-Z0-9]{1,10}$", description="Company code.")],
        fiscal_year: Annotated[int, QueryParameter(ge=1900, le=9999, description="Fiscal year.")],
    ) -> Page[AccountingPeriod]:
        """The posting periods of one legal entity and fiscal year; one page."""
        return Page(items=await _erp(connector.list_periods(company_code, fiscal_year)), next_cursor=None)

    @get("/periods/check", opt=governed("erp:periods:read", operation="check_period"), responses=PLATFORM_ERRORS)
    async def check_period(
        connector: Connector,
        company_code: Annotated[str, QueryParameter(pattern=r"^[A-Z0-9]{1,10}$", description="Company code.")],
        date: Annotated[dt.date, QueryParameter(description="The date to check (YYYY-MM-DD).")],
    ) -> PeriodCheck:
        """Whether ``date`` is open for posting in ``company_code``."""
        period = await _erp(connector.period_of(company_code, date))
        return PeriodCheck(company_code=company_code, date=date, open=bool(period and period.open), period=period)

    @post(
        "/supplier-invoices",
        status_code=201,
        opt=governed("erp:invoices:write", effect=True, operation="create_supplier_invoice"),
        responses=PLATFORM_ERRORS,
    )
    async def create_invoice(
        request: AnyRequest, connector: Connector, services: Services, data: JSONBody[SupplierInvoiceDraft]
    ) -> SupplierInvoice:
        """Create (park) a supplier invoice; post it with ``/post``."""
        invoice = await _erp(
            connector.create_invoice(
                data, reference=call_reference(current_call(request.scope), PLATFORM_NAME, "invoice")
            )
        )
        await services.audit.record_remote_change(
            current_call(request.scope),
            resource_ids={"invoice_id": invoice.id},
            before=None,
            after=invoice,
            outcome=201,
        )
        return invoice

    @get(
        "/supplier-invoices/{invoice_id:str}",
        opt=governed("erp:invoices:read", operation="get_supplier_invoice"),
        responses=PLATFORM_ERRORS,
    )
    async def get_invoice(connector: Connector, invoice_id: InvoiceId) -> SupplierInvoice:
        """One supplier invoice."""
        return await _erp(connector.get_invoice(invoice_id))

    @post(
        "/supplier-invoices/{invoice_id:str}/post",
        status_code=200,
        opt=governed("erp:invoices:write", effect=True, operation="post_supplier_invoice"),
        responses=PLATFORM_ERRORS,
    )
    async def post_invoice(
        request: AnyRequest, connector: Connector, services: Services, invoice_id: InvoiceId
    ) -> SupplierInvoice:
        """Post a parked invoice (refused with 422 when its period is closed)."""
        before = await _erp(connector.get_invoice(invoice_id))
        after = await _erp(connector.post_invoice(invoice_id))
        await services.audit.record_remote_change(
            current_call(request.scope),
            resource_ids={"invoice_id": invoice_id},
            before=before,
            after=after,
            outcome=200,
        )
        return after

    @post(
        "/supplier-invoices/{invoice_id:str}/cancel",
        status_code=200,
        opt=governed("erp:invoices:write", effect=True, operation="cancel_supplier_invoice"),
        responses=PLATFORM_ERRORS,
    )
    async def cancel_invoice(
        request: AnyRequest, connector: Connector, services: Services, invoice_id: InvoiceId
    ) -> SupplierInvoice:
        """Cancel a posted invoice (the ERP books a reversal document)."""
        before = await _erp(connector.get_invoice(invoice_id))
        after = await _erp(connector.cancel_invoice(invoice_id))
        await services.audit.record_remote_change(
            current_call(request.scope),
            resource_ids={"invoice_id": invoice_id},
            before=before,
            after=after,
            outcome=200,
        )
        return after

    @post(
        "/journal-entries",
        status_code=201,
        opt=governed("erp:journal-entries:write", effect=True, operation="create_journal_entry"),
        responses=PLATFORM_ERRORS,
    )
    async def create_journal_entry(
        request: AnyRequest, connector: Connector, services: Services, data: JSONBody[JournalEntryDraft]
    ) -> JournalEntry:
        """Post a balanced journal entry (refused with 422 when the period is closed)."""
        entry = await _erp(
            connector.create_journal_entry(
                data, reference=call_reference(current_call(request.scope), PLATFORM_NAME, "journal")
            )
        )
        await services.audit.record_remote_change(
            current_call(request.scope),
            resource_ids={"journal_entry_id": entry.id},
            before=None,
            after=entry,
            outcome=201,
        )
        return entry

    @get(
        "/journal-entries/{entry_id:str}",
        opt=governed("erp:journal-entries:read", operation="get_journal_entry"),
        responses=PLATFORM_ERRORS,
    )
    async def get_journal_entry(connector: Connector, entry_id: EntryId) -> JournalEntry:
        """One journal entry."""
        return await _erp(connector.get_journal_entry(entry_id))

    @post(
        "/journal-entries/{entry_id:str}/reverse",
        status_code=201,
        opt=governed("erp:journal-entries:write", effect=True, operation="reverse_journal_entry"),
        responses=PLATFORM_ERRORS,
    )
    async def reverse_journal_entry(
        request: AnyRequest, connector: Connector, services: Services, entry_id: EntryId
    ) -> JournalEntry:
        """Reverse a journal entry; answers the reversal entry."""
        before = await _erp(connector.get_journal_entry(entry_id))
        reversal = await _erp(connector.reverse_journal_entry(entry_id))
        await services.audit.record_remote_change(
            current_call(request.scope),
            resource_ids={"journal_entry_id": entry_id, "reversal_id": reversal.id},
            before=before,
            after=reversal,
            outcome=201,
        )
        return reversal

    @post(
        "/payments",
        status_code=201,
        opt=governed("erp:payments:write", effect=True, operation="create_payment"),
        responses=PLATFORM_ERRORS,
    )
    async def create_payment(
        request: AnyRequest, connector: Connector, services: Services, data: JSONBody[PaymentDraft]
    ) -> Payment:
        """Pay a supplier; ``obligation_ids[0]`` may name the supplier invoice the payment clears."""
        if not data.supplier_id:
            raise Problem(
                422,
                "body.supplier_id: an ERP payment pays a supplier; give its number",
                kind="validation",
                title="Invalid request",
            )
        if data.obligation_ids and len(data.obligation_ids[0].split("-")) != 2:
            raise Problem(
                422,
                "body.obligation_ids[0]: give a supplier invoice id `<document>-<fiscal year>`",
                kind="validation",
                title="Invalid request",
            )
        payment = await _erp(
            connector.create_payment(
                data, reference=call_reference(current_call(request.scope), PLATFORM_NAME, "payment")
            )
        )
        await services.audit.record_remote_change(
            current_call(request.scope),
            resource_ids={"payment_id": payment.id},
            before=None,
            after=payment,
            outcome=201,
        )
        return payment

    @get("/payments", opt=governed("erp:payments:read", operation="list_payments"), responses=LIST_ERRORS)
    async def list_payments(
        connector: Connector,
        company_code: CompanyCodeQuery = None,
        supplier_id: Annotated[str | None, QueryParameter(pattern=r"^[A-Za-z0-9]{1,10}$")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[Payment]:
        """Payments in document order."""
        offset = read_offset(cursor)
        items, more = await _erp(
            connector.list_payments(company_code=company_code, supplier_id=supplier_id, limit=limit, offset=offset)
        )
        return offset_page(items, offset=offset, more=more)

    handlers = [
        list_suppliers,
        get_supplier,
        create_supplier,
        list_cost_centers,
        list_gl_accounts,
        list_legal_entities,
        list_periods,
        check_period,
        create_invoice,
        get_invoice,
        post_invoice,
        cancel_invoice,
        create_journal_entry,
        get_journal_entry,
        reverse_journal_entry,
        create_payment,
        list_payments,
    ]
    return [
        Router(
            path=PREFIX,
            route_handlers=handlers,
            dependencies={"connector": Provide(lambda: connector, use_cache=True, sync_to_thread=False)},
        )
    ]
