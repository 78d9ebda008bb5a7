"""The procurement system API: ``/system/procurement/v1/...`` over canonical objects.

Suppliers (with the ERP number as a cross-reference that can be set), requisitions,
purchase orders and their issue/close/cancel actions, goods receipts, supplier invoices and
budget lines, all from the procurement platform through its connector. Lists page with an
opaque cursor; creates need an ``Idempotency-Key`` (the connector derives the platform's
external reference from it, so a retried create never creates twice); every change is
audited with before and after in the same transaction as its audit record.
"""

# No `from __future__ import annotations`: the handlers are built inside routes(), and
# Litestar must see their real parameter types, not strings.

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from litestar import Request, Router, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, PathParameter, QueryParameter

from policies.call import current_call, governed
from policies.problems import problem_spec
from policies.services import PolicyServices
from system_apis.canonical import (
    BudgetLine,
    GoodsReceipt,
    Page,
    PurchaseOrder,
    Requisition,
    Supplier,
    SupplierInvoice,
    SupplierStatus,
)
from system_apis.connectors.kit import PlatformError, call_reference
from system_apis.connectors.procurement.client import ProcurementConnector
from system_apis.connectors.procurement.drafts import GoodsReceiptDraft, PurchaseOrderDraft, RequisitionDraft
from system_apis.paging import Cursor, Limit, list_errors, offset_page, read_offset
from system_apis.procurement.lookups import SCOPES as LOOKUP_SCOPES
from system_apis.procurement.lookups import lookup_handlers

__all__ = ["PREFIX", "SCOPES", "SUMMARY", "ErpNumberUpdate", "InvoicePaymentRecord", "routes"]

PREFIX = "/system/procurement/v1"
SUMMARY = "Procurement platform (Coupa dialect): suppliers, requisitions, purchase orders, receipts, invoices, budgets."
SCOPES = {
    "procurement:suppliers:read": "Read procurement suppliers.",
    "procurement:suppliers:write": "Set a procurement supplier's ERP supplier number.",
    "procurement:requisitions:read": "Read requisitions.",
    "procurement:requisitions:write": "Create and submit requisitions.",
    "procurement:purchase_orders:read": "Read purchase orders.",
    "procurement:purchase_orders:write": "Create, issue, close and cancel purchase orders.",
    "procurement:receipts:read": "Read goods receipts.",
    "procurement:receipts:write": "Record goods receipts.",
    "procurement:invoices:read": "Read supplier invoices in procurement.",
    "procurement:invoices:write": "Record the payment of approved supplier invoices in procurement.",
    "procurement:budgets:read": "Read procurement budget lines.",
    **LOOKUP_SCOPES,
}

T = TypeVar("T")


PLATFORM_ERRORS = {
    502: problem_spec("The procurement platform answered something malformed, or refused Finrail's credentials."),
    503: problem_spec("The procurement platform is unavailable (maintenance, throttling or circuit open)."),
    504: problem_spec("The procurement platform did not answer in time."),
}
LIST_ERRORS = list_errors(PLATFORM_ERRORS)
ACTION_ERRORS = {
    **PLATFORM_ERRORS,
    409: problem_spec("The object's status does not allow this action (the detail names the allowed ones)."),
}
CREATE_ERRORS = {
    **PLATFORM_ERRORS,
    409: problem_spec("A referenced object is in a status that does not allow this (e.g. an unapproved supplier)."),
    422: problem_spec("The platform refused the content (e.g. more received than ordered, a total out of range)."),
}

ID_PATTERN = r"^[1-9][0-9]{0,8}$"
"""What a procurement id looks like: a positive Coupa id (Coupa ids are 32-bit integers)."""

ObjectId = Annotated[
    str, PathParameter(min_length=1, max_length=64, description="Id, as given by this API (an unknown one is 404).")
]
Connector = NamedDependency[ProcurementConnector]
Services = NamedDependency[PolicyServices]


class InvoicePaymentRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The payment of an approved supplier invoice, to record in procurement."""

    payment_date: dt.date
    """Date the payment was made (the bank's confirmation or the ERP payment's date)."""
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")]
    """Payment reference kept with the invoice (the ERP payment document, the bank reference)."""


class ErpNumberUpdate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ERP supplier number to record on a procurement supplier (null clears it)."""

    erp_supplier_number: Annotated[str, msgspec.Meta(min_length=1, max_length=10, pattern=r"^[0-9A-Z]+$")] | None
    """The supplier's number in the ERP (SAP ``Supplier``, up to 10 characters)."""


async def _platform(call: Awaitable[T]) -> T:
    """Await a connector call; its failures become their problems (404, 409, 422, 502...)."""
    try:
        return await call
    except PlatformError as exc:
        raise exc.problem() from exc


def routes(connector: ProcurementConnector) -> list[Router]:
    """The API's handlers in one router under :data:`PREFIX`, with ``connector`` injected."""
    # --- suppliers ------------------------------------------------------------------------

    @get("/suppliers", opt=governed("procurement:suppliers:read", operation="list_suppliers"), responses=LIST_ERRORS)
    async def list_suppliers(
        connector: Connector,
        status: Annotated[SupplierStatus | None, QueryParameter(description="Canonical status.")] = None,
        tax_id: Annotated[str | None, QueryParameter(max_length=32, description="Tax id as recorded.")] = None,
        in_erp: Annotated[bool | None, QueryParameter(description="Whether the ERP number is set.")] = None,
        company_code: Annotated[str | None, QueryParameter(pattern=r"^[A-Z0-9]{4}$")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[Supplier]:
        """Suppliers, filtered by status, tax id, entity and whether they are in the ERP yet."""
        offset = read_offset(cursor)
        items, more = await _platform(
            connector.list_suppliers(
                offset=offset, limit=limit, status=status, tax_id=tax_id, in_erp=in_erp, company_code=company_code
            )
        )
        return offset_page(items, offset=offset, more=more)

    @get(
        "/suppliers/{supplier_id:str}",
        opt=governed("procurement:suppliers:read", operation="get_supplier"),
        responses=PLATFORM_ERRORS,
    )
    async def get_supplier(connector: Connector, supplier_id: ObjectId) -> Supplier:
        """One supplier, with data problems found in the platform's record in ``issues``."""
        return await _platform(connector.get_supplier(supplier_id))

    @put(
        "/suppliers/{supplier_id:str}/erp-supplier-number",
        opt=governed("procurement:suppliers:write", operation="set_erp_supplier_number"),
        responses=PLATFORM_ERRORS,
    )
    async def set_erp_number(
        request: Request[Any, Any, Any],
        connector: Connector,
        services: Services,
        supplier_id: ObjectId,
        data: JSONBody[ErpNumberUpdate],
    ) -> Supplier:
        """Record the supplier's ERP number (the cross-reference); audited with before and after."""
        before = await _platform(connector.get_supplier(supplier_id))
        after = await _platform(connector.set_erp_supplier_number(supplier_id, data.erp_supplier_number))
        await services.audit.record_remote_change(
            current_call(request.scope), resource_ids={"supplier_id": supplier_id}, before=before, after=after
        )
        return after

    # --- requisitions ---------------------------------------------------------------------

    @get(
        "/requisitions",
        opt=governed("procurement:requisitions:read", operation="list_requisitions"),
        responses=LIST_ERRORS,
    )
    async def list_requisitions(
        connector: Connector,
        status: Annotated[Literal["draft", "pending_approval", "approved", "ordered"] | None, QueryParameter()] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[Requisition]:
        """Requisitions, optionally of one status."""
        offset = read_offset(cursor)
        items, more = await _platform(connector.list_requisitions(offset=offset, limit=limit, status=status))
        return offset_page(items, offset=offset, more=more)

    @get(
        "/requisitions/{requisition_id:str}",
        opt=governed("procurement:requisitions:read", operation="get_requisition"),
        responses=PLATFORM_ERRORS,
    )
    async def get_requisition(connector: Connector, requisition_id: ObjectId) -> Requisition:
        """One requisition."""
        return await _platform(connector.get_requisition(requisition_id))

    @post(
        "/requisitions",
        status_code=201,
        opt=governed("procurement:requisitions:write", effect=True, operation="create_requisition"),
        responses=CREATE_ERRORS,
    )
    async def create_requisition(
        request: Request[Any, Any, Any], connector: Connector, services: Services, data: JSONBody[RequisitionDraft]
    ) -> Requisition:
        """Create a draft requisition (once per Idempotency-Key, even if the platform times out)."""
        reference = call_reference(current_call(request.scope), "procurement", "requisition", length=24)
        created = await _platform(connector.create_requisition(data, reference=reference))
        await services.audit.record_remote_change(
            current_call(request.scope),
            resource_ids={"requisition_id": created.id},
            before=None,
            after=created,
            outcome=201,
        )
        return created

    @post(
        "/requisitions/{requisition_id:str}/submit",
        status_code=200,
        opt=governed("procurement:requisitions:write", operation="submit_requisition"),
        responses=ACTION_ERRORS,
    )
    async def submit_requisition(
        request: Request[Any, Any, Any], connector: Connector, services: Services, requisition_id: ObjectId
    ) -> Requisition:
        """Submit a draft requisition for approval (409 when it is not a draft)."""
        before = await _platform(connector.get_requisition(requisition_id))
        after = await _platform(connector.submit_requisition(requisition_id))
        await services.audit.record_remote_change(
            current_call(request.scope), resource_ids={"requisition_id": requisition_id}, before=before, after=after
        )
        return after

    # --- purchase orders ------------------------------------------------------------------

    @get(
        "/purchase-orders",
        opt=governed("procurement:purchase_orders:read", operation="list_purchase_orders"),
        responses=LIST_ERRORS,
    )
    async def list_purchase_orders(
        connector: Connector,
        status: Annotated[Literal["draft", "issued", "closed", "cancelled"] | None, QueryParameter()] = None,
        supplier_id: Annotated[str | None, QueryParameter(pattern=ID_PATTERN, max_length=9)] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[PurchaseOrder]:
        """Purchase orders, optionally of one status or supplier."""
        offset = read_offset(cursor)
        items, more = await _platform(
            connector.list_purchase_orders(offset=offset, limit=limit, status=status, supplier_id=supplier_id)
        )
        return offset_page(items, offset=offset, more=more)

    @get(
        "/purchase-orders/{order_id:str}",
        opt=governed("procurement:purchase_orders:read", operation="get_purchase_order"),
        responses=PLATFORM_ERRORS,
    )
    async def get_purchase_order(connector: Connector, order_id: ObjectId) -> PurchaseOrder:
        """One purchase order, with received quantities per line."""
        return await _platform(connector.get_purchase_order(order_id))

    @post(
        "/purchase-orders",
        status_code=201,
        opt=governed("procurement:purchase_orders:write", effect=True, operation="create_purchase_order"),
        responses=CREATE_ERRORS,
    )
    async def create_purchase_order(
        request: Request[Any, Any, Any],
        connector: Connector,
        services: Services,
        data: JSONBody[PurchaseOrderDraft],
    ) -> PurchaseOrder:
        """Create a draft purchase order for an approved supplier (once per Idempotency-Key)."""
        reference = call_reference(current_call(request.scope), "procurement", "purchase_order", length=24)
        created = await _platform(connector.create_purchase_order(data, reference=reference))
        await services.audit.record_remote_change(
            current_call(request.scope),
            resource_ids={"purchase_order_id": created.id},
            before=None,
            after=created,
            outcome=201,
        )
        return created

    def order_action(action: Literal["issue", "close", "cancel"], summary: str) -> Any:
        @post(
            f"/purchase-orders/{{order_id:str}}/{action}",
            status_code=200,
            opt=governed("procurement:purchase_orders:write", operation=f"{action}_purchase_order"),
            responses=ACTION_ERRORS,
            summary=summary,
            description=summary,
            operation_id=f"{action}PurchaseOrder",
            name=f"{action}_purchase_order",
        )
        async def handler(
            request: Request[Any, Any, Any], connector: Connector, services: Services, order_id: ObjectId
        ) -> PurchaseOrder:
            """Move the order through its life; audited with before and after."""
            before = await _platform(connector.get_purchase_order(order_id))
            after = await _platform(connector.purchase_order_action(order_id, action))
            await services.audit.record_remote_change(
                current_call(request.scope), resource_ids={"purchase_order_id": order_id}, before=before, after=after
            )
            return after

        return handler

    issue = order_action("issue", "Issue a draft purchase order to its supplier (409 otherwise).")
    close = order_action("close", "Close an issued purchase order (409 otherwise).")
    cancel = order_action("cancel", "Cancel a draft or issued order with nothing received (409 otherwise).")

    # --- receipts -------------------------------------------------------------------------

    @post(
        "/receipts",
        status_code=201,
        opt=governed("procurement:receipts:write", effect=True, operation="create_receipt"),
        responses=CREATE_ERRORS,
    )
    async def create_receipt(
        request: Request[Any, Any, Any], connector: Connector, services: Services, data: JSONBody[GoodsReceiptDraft]
    ) -> GoodsReceipt:
        """Receive goods against lines of an issued purchase order (never more than ordered)."""
        reference = call_reference(current_call(request.scope), "procurement", "receipt", length=24)
        created = await _platform(connector.create_receipt(data, reference=reference))
        await services.audit.record_remote_change(
            current_call(request.scope),
            resource_ids={"receipt_id": created.id, "purchase_order_id": created.purchase_order_id},
            before=None,
            after=created,
            outcome=201,
        )
        return created

    @get("/receipts", opt=governed("procurement:receipts:read", operation="list_receipts"), responses=LIST_ERRORS)
    async def list_receipts(
        connector: Connector,
        purchase_order_id: Annotated[str, QueryParameter(pattern=ID_PATTERN, max_length=9, description="Order id.")],
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[GoodsReceipt]:
        """Goods receipts of one purchase order, oldest first."""
        offset = read_offset(cursor)
        receipts = await _platform(connector.list_receipts(purchase_order_id))
        window = receipts[offset : offset + limit]
        return offset_page(window, offset=offset, more=offset + limit < len(receipts))

    # --- invoices and budgets -------------------------------------------------------------

    @get("/invoices", opt=governed("procurement:invoices:read", operation="list_invoices"), responses=LIST_ERRORS)
    async def list_invoices(
        connector: Connector,
        status: Annotated[
            Literal["draft", "received", "approved", "paid", "cancelled"] | None, QueryParameter()
        ] = None,
        supplier_id: Annotated[str | None, QueryParameter(pattern=ID_PATTERN, max_length=9)] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[SupplierInvoice]:
        """Supplier invoices recorded in procurement, optionally of one status or supplier."""
        offset = read_offset(cursor)
        items, more = await _platform(
            connector.list_invoices(offset=offset, limit=limit, status=status, supplier_id=supplier_id)
        )
        return offset_page(items, offset=offset, more=more)

    @get(
        "/invoices/{invoice_id:str}",
        opt=governed("procurement:invoices:read", operation="get_invoice"),
        responses=PLATFORM_ERRORS,
    )
    async def get_invoice(connector: Connector, invoice_id: ObjectId) -> SupplierInvoice:
        """One supplier invoice."""
        return await _platform(connector.get_invoice(invoice_id))

    @post(
        "/invoices/{invoice_id:str}/payment",
        status_code=200,
        opt=governed("procurement:invoices:write", effect=True, operation="record_invoice_payment"),
        responses=ACTION_ERRORS,
    )
    async def record_invoice_payment(
        request: Request[Any, Any, Any],
        connector: Connector,
        services: Services,
        invoice_id: ObjectId,
        data: JSONBody[InvoicePaymentRecord],
    ) -> SupplierInvoice:
        """Mark an approved invoice paid (status ``paid``) with the payment's date and reference.

        Recording the same reference again changes nothing; an invoice that is not approved,
        or is paid under another reference, is a 409. Audited with before and after.
        """
        before = await _platform(connector.get_invoice(invoice_id))
        after = await _platform(
            connector.mark_invoice_paid(
                invoice_id, payment_date=data.payment_date, reference=data.reference, amount=before.gross_amount.amount
            )
        )
        await services.audit.record_remote_change(
            current_call(request.scope), resource_ids={"invoice_id": invoice_id}, before=before, after=after
        )
        return after

    @get(
        "/budget-lines", opt=governed("procurement:budgets:read", operation="list_budget_lines"), responses=LIST_ERRORS
    )
    async def list_budget_lines(
        connector: Connector,
        company_code: Annotated[str | None, QueryParameter(pattern=r"^[A-Z0-9]{4}$")] = None,
        period: Annotated[str | None, QueryParameter(max_length=32, description="e.g. FY2026-Q1.")] = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[BudgetLine]:
        """Budget lines, optionally of one entity or period."""
        offset = read_offset(cursor)
        items, more = await _platform(
            connector.list_budget_lines(offset=offset, limit=limit, company_code=company_code, period=period)
        )
        return offset_page(items, offset=offset, more=more)

    handlers: list[Callable[..., Any]] = [
        list_suppliers,
        get_supplier,
        set_erp_number,
        list_requisitions,
        get_requisition,
        create_requisition,
        submit_requisition,
        list_purchase_orders,
        get_purchase_order,
        create_purchase_order,
        issue,
        close,
        cancel,
        create_receipt,
        list_receipts,
        list_invoices,
        get_invoice,
        record_invoice_payment,
        list_budget_lines,
        *lookup_handlers(PLATFORM_ERRORS),
    ]
    return [
        Router(
            path=PREFIX,
            route_handlers=handlers,
            dependencies={"connector": Provide(lambda: connector, use_cache=True, sync_to_thread=False)},
        )
    ]
