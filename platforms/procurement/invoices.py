"""``/api/invoices`` (submit, void) and ``/api/budget_lines`` (read only).

An invoice number is unique per supplier; a line that names a PO must name an issued or
closed order of the same supplier, and its ``order-line-id`` must belong to that order.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParams

from platforms.kit.app import SandboxState
from platforms.procurement.auth import authorize
from platforms.procurement.bodies import InvoiceCreate, StrictBody
from platforms.procurement.common import (
    CHANGE_ERRORS,
    LIST_ERRORS,
    READ_ERRORS,
    CoupaError,
    load,
    next_id,
    now,
    page,
    save,
)
from platforms.procurement.models import BudgetLine, Invoice, InvoiceLine, PurchaseOrder, Supplier
from platforms.procurement.orders import supplier_ref

__all__ = ["invoice_handlers"]

Sandbox = NamedDependency[SandboxState]
Id = Annotated[int, PathParameter(ge=1, le=2**31 - 1, description="Coupa id.")]

INVOICE_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "submit": (("draft",), "pending_approval"),
    "void": (("draft", "pending_approval"), "voided"),
}


@get("/api/invoices", sync_to_thread=False, responses=LIST_ERRORS)
def list_invoices(request: Request[Any, Any, Any], sandbox: Sandbox, query: QueryParams) -> list[Invoice]:
    """Invoices, filtered by any field (``invoice-number=...``, ``supplier[id]=3``), ``offset``/``limit``."""
    authorize(request, sandbox, "core.invoice.read")
    return [msgspec.convert(d, Invoice) for d in page(sandbox.store, "invoices", Invoice, dict(query.items()))]


@get("/api/invoices/{id:int}", sync_to_thread=False, responses=READ_ERRORS)
def get_invoice(request: Request[Any, Any, Any], sandbox: Sandbox, id: Id) -> Invoice:
    """One invoice."""
    authorize(request, sandbox, "core.invoice.read")
    return load(sandbox.store, "invoices", Invoice, id, "invoice")


@post("/api/invoices", status_code=201, dto=StrictBody[InvoiceCreate], return_dto=None,
       sync_to_thread=False, responses=CHANGE_ERRORS)
def create_invoice(request: Request[Any, Any, Any], sandbox: Sandbox, data: JSONBody[InvoiceCreate]) -> Invoice:
    """Create a draft invoice."""
    authorize(request, sandbox, "core.invoice.write")
    store = sandbox.store
    supplier = load(store, "suppliers", Supplier, data.supplier.id, "supplier")
    for doc in store.find("invoices", **{"invoice-number": data.invoice_number}):
        if doc["supplier"]["id"] == supplier.id:
            raise CoupaError(422, f"invoice-number {data.invoice_number!r} has already been used by this supplier")
    lines = []
    for number, line in enumerate(data.invoice_lines, 1):
        header_id = line_num = None
        if line.po_number is not None:
            orders = store.find("purchase_orders", **{"po-number": line.po_number})
            if not orders:
                raise CoupaError(422, f"invoice line {number}: no purchase order {line.po_number!r}")
            order = msgspec.convert(orders[0], PurchaseOrder)
            if order.supplier.id != supplier.id or order.status not in ("issued", "closed"):
                raise CoupaError(422, f"invoice line {number}: purchase order {line.po_number} is {order.status} "
                                      "or belongs to another supplier")
            billed = [x for x in order.order_lines if x.id == line.order_line_id]
            if line.order_line_id is not None and not billed:
                raise CoupaError(422, f"invoice line {number}: order line {line.order_line_id} is not on "
                                      f"purchase order {line.po_number}")
            header_id, line_num = order.id, billed[0].line_num if billed else None
        price, quantity = Decimal(line.price), Decimal(line.quantity)
        lines.append(InvoiceLine(
            id=store.next_number("invoice_lines.id", 1), line_num=number, description=line.description,
            price=price, quantity=quantity, total=price * quantity, po_number=line.po_number,
            order_line_id=line.order_line_id, order_header_id=header_id, order_line_num=line_num, account=line.account,
        ))
    moment = now()
    invoice = Invoice(
        id=next_id(store, "invoices"), created_at=moment, updated_at=moment, invoice_number=data.invoice_number,
        invoice_date=data.invoice_date, status="draft", supplier=supplier_ref(supplier), currency=data.currency,
        invoice_lines=lines, total=sum((x.total for x in lines), Decimal(0)), custom_fields=data.custom_fields,
    )
    save(store, "invoices", invoice)
    return invoice


@put("/api/invoices/{id:int}/{action:str}", sync_to_thread=False, responses=CHANGE_ERRORS)
def invoice_action(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    id: Id,
    action: Annotated[Literal["submit", "void"], PathParameter(description="submit or void.")],
) -> Invoice:
    """``submit`` a draft for approval (sends ``invoice.submitted``) or ``void`` it."""
    authorize(request, sandbox, "core.invoice.write")
    invoice = load(sandbox.store, "invoices", Invoice, id, "invoice")
    allowed_from, target = INVOICE_TRANSITIONS[action]
    if invoice.status not in allowed_from:
        raise CoupaError(422, f"cannot {action} invoice {invoice.invoice_number}: it is {invoice.status}")
    invoice = msgspec.structs.replace(invoice, status=target, updated_at=now())
    doc = save(sandbox.store, "invoices", invoice)
    sandbox.emit("invoice.submitted" if action == "submit" else "invoice.voided", doc)
    return invoice


@get("/api/budget_lines", sync_to_thread=False, responses=LIST_ERRORS)
def list_budget_lines(request: Request[Any, Any, Any], sandbox: Sandbox, query: QueryParams) -> list[BudgetLine]:
    """Budget lines, filtered by any field (``period[name]=FY2026-Q1``, ``account[segment-1]=US01``)."""
    authorize(request, sandbox, "core.budget.read")
    return [msgspec.convert(d, BudgetLine) for d in page(sandbox.store, "budget_lines", BudgetLine,
                                                         dict(query.items()))]


@get("/api/budget_lines/{id:int}", sync_to_thread=False, responses=READ_ERRORS)
def get_budget_line(request: Request[Any, Any, Any], sandbox: Sandbox, id: Id) -> BudgetLine:
    """One budget line."""
    authorize(request, sandbox, "core.budget.read")
    return load(sandbox.store, "budget_lines", BudgetLine, id, "budget line")


invoice_handlers = [list_invoices, get_invoice, create_invoice, invoice_action, list_budget_lines, get_budget_line]
