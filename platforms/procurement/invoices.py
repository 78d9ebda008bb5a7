"""``/api/invoices`` (submit, void, mark paid) and ``/api/budget_lines`` (read only).

An invoice number is unique per supplier; a line that names a PO must name an issued or
closed order of the same supplier, and its ``order-line-id`` must belong to that order.
An approved invoice is marked paid as Coupa does it, with an update of the invoice
(``PUT /api/invoices/{id}``: ``paid: true`` plus ``payment-date``, ``payment-notes`` and the
``payments`` made); marking it paid again with the same notes changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParams

from platforms.kit.app import SandboxState
from platforms.procurement.auth import authorize
from platforms.procurement.bodies import InvoiceCreate, Positive, StrictBody
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

__all__ = ["InvoicePayment", "InvoicePaymentIn", "InvoicePaymentUpdate", "PayableInvoice", "invoice_handlers"]

Sandbox = NamedDependency[SandboxState]
Id = Annotated[int, PathParameter(ge=1, le=2**31 - 1, description="Coupa id.")]



class InvoicePayment(msgspec.Struct, rename="kebab", kw_only=True, forbid_unknown_fields=True):
    """A payment recorded against an invoice (Coupa's ``payments`` element)."""

    amount_paid: Decimal
    """Amount paid."""
    payment_date: date
    """When it was paid."""
    notes: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    """Payment reference (the bank's or the ERP's)."""


class PayableInvoice(Invoice):
    """An invoice with Coupa's payment fields (what the invoice routes store and answer)."""

    paid: bool = False
    """Whether the invoice is paid (set by an update; Coupa never pays by itself)."""
    payment_date: datetime | None = None
    """When it was marked paid."""
    payment_notes: str | None = None
    """Free text of the payment, typically its reference."""
    payments: list[InvoicePayment] = msgspec.field(default_factory=list)
    """Payments recorded against it."""


class InvoicePaymentIn(msgspec.Struct, rename="kebab", kw_only=True, forbid_unknown_fields=True):
    """A payment as a client records it: the amount as a decimal string, like every amount sent."""

    amount_paid: Positive
    """Amount paid."""
    payment_date: date
    """When it was paid."""
    notes: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    """Payment reference (the bank's or the ERP's)."""


class InvoicePaymentUpdate(msgspec.Struct, rename="kebab", kw_only=True, forbid_unknown_fields=True):
    """``PUT /api/invoices/{id}``: mark an approved invoice paid."""

    paid: bool
    """Must be true to change anything: a paid invoice cannot be marked unpaid."""
    payment_date: date | None = None
    """Payment date (today when left out)."""
    payment_notes: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    """Payment reference."""
    payments: Annotated[list[InvoicePaymentIn], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    """Payments made."""


INVOICE_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "submit": (("draft",), "pending_approval"),
    "void": (("draft", "pending_approval"), "voided"),
}


@get("/api/invoices", sync_to_thread=False, responses=LIST_ERRORS)
def list_invoices(request: Request[Any, Any, Any], sandbox: Sandbox, query: QueryParams) -> list[PayableInvoice]:
    """Invoices, filtered by any field (``invoice-number=...``, ``supplier[id]=3``), ``offset``/``limit``."""
    authorize(request, sandbox, "core.invoice.read")
    return [msgspec.convert(d, PayableInvoice)
            for d in page(sandbox.store, "invoices", PayableInvoice, dict(query.items()))]


@get("/api/invoices/{id:int}", sync_to_thread=False, responses=READ_ERRORS)
def get_invoice(request: Request[Any, Any, Any], sandbox: Sandbox, id: Id) -> PayableInvoice:
    """One invoice."""
    authorize(request, sandbox, "core.invoice.read")
    return load(sandbox.store, "invoices", PayableInvoice, id, "invoice")


@put("/api/invoices/{id:int}", dto=StrictBody[InvoicePaymentUpdate], return_dto=None, sync_to_thread=False,
     responses=CHANGE_ERRORS)
def update_invoice(
    request: Request[Any, Any, Any], sandbox: Sandbox, id: Id, data: JSONBody[InvoicePaymentUpdate],
) -> PayableInvoice:
    """Mark an approved invoice paid (``paid: true`` with the payment fields); a repeat changes nothing."""
    authorize(request, sandbox, "core.invoice.write")
    invoice = load(sandbox.store, "invoices", PayableInvoice, id, "invoice")
    if not data.paid:
        if invoice.paid:
            raise CoupaError(422, f"invoice {invoice.invoice_number} is paid; it cannot be marked unpaid")
        return invoice
    if invoice.status != "approved":
        raise CoupaError(422, f"cannot mark invoice {invoice.invoice_number} paid: it is {invoice.status}")
    if invoice.paid:
        if data.payment_notes is not None and data.payment_notes != invoice.payment_notes:
            raise CoupaError(422, f"invoice {invoice.invoice_number} is already paid ({invoice.payment_notes})")
        return invoice
    moment = now()
    paid_on = data.payment_date or moment.date()
    invoice = msgspec.structs.replace(
        invoice, paid=True, payment_date=datetime.combine(paid_on, moment.timetz()), payment_notes=data.payment_notes,
        payments=[InvoicePayment(amount_paid=Decimal(p.amount_paid), payment_date=p.payment_date, notes=p.notes)
                  for p in data.payments],
        updated_at=moment,
    )
    save(sandbox.store, "invoices", invoice)
    return invoice


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
    invoice = load(sandbox.store, "invoices", PayableInvoice, id, "invoice")
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


invoice_handlers = [list_invoices, get_invoice, update_invoice, create_invoice, invoice_action, list_budget_lines,
                    get_budget_line]
