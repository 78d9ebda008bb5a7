"""Procure to pay: requisitions, purchase orders, goods receipts and supplier invoices."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Literal, get_args

import msgspec

from system_apis.canonical.identifiers import CompanyCode, Instant, check_choice, require_aware
from system_apis.canonical.money import CurrencyMismatchError, Money

__all__ = [
    "GoodsReceipt",
    "GoodsReceiptLine",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "PurchaseOrderStatus",
    "Requisition",
    "RequisitionLine",
    "RequisitionStatus",
    "SupplierInvoice",
    "SupplierInvoiceDraft",
    "SupplierInvoiceLine",
    "SupplierInvoiceStatus",
]

RequisitionStatus = Literal["draft", "pending_approval", "approved", "rejected", "ordered", "cancelled"]
"""Lifecycle of a requisition."""
PurchaseOrderStatus = Literal["draft", "issued", "closed", "cancelled"]
"""Lifecycle of a purchase order (issued to the supplier, closed when done)."""
SupplierInvoiceStatus = Literal["draft", "received", "approved", "posted", "paid", "cancelled", "rejected"]
"""Lifecycle of a supplier invoice (``posted`` = booked in the ERP)."""


def _same_currency(amounts: Iterable[Money | None], what: str) -> None:
    currencies = {amount.currency for amount in amounts if amount is not None}
    if len(currencies) > 1:
        raise CurrencyMismatchError(f"{what} mixes currencies: {', '.join(sorted(currencies))}")


def _positive_quantity(quantity: Decimal, what: str) -> None:
    if not isinstance(quantity, Decimal) or not quantity.is_finite() or quantity <= 0:
        raise ValueError(f"{what} quantity must be a positive Decimal, got {quantity!r}")


class RequisitionLine(msgspec.Struct, frozen=True, kw_only=True):
    """One requested item."""

    line_number: int
    """1-based position."""
    description: str
    """What is requested."""
    quantity: Decimal
    """How many units (positive)."""
    unit_price: Money
    """Price per unit."""
    amount: Money
    """Line total."""
    supplier_id: str | None = None
    """Preferred supplier."""
    gl_account: str | None = None
    """Expense account to charge."""
    cost_center: str | None = None
    """Cost center to charge."""
    project: str | None = None
    """Project to charge."""
    need_by: dt.date | None = None
    """Date the item is needed."""

    def __post_init__(self) -> None:
        _positive_quantity(self.quantity, f"requisition line {self.line_number}")
        _same_currency([self.unit_price, self.amount], f"requisition line {self.line_number}")


class Requisition(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase request awaiting approval and ordering."""

    id: str
    """Id in the procurement platform."""
    requester_id: str
    """Employee who asked."""
    company_code: CompanyCode
    """Entity that will pay."""
    status: RequisitionStatus
    """Lifecycle status."""
    total: Money
    """Sum of the lines."""
    lines: list[RequisitionLine] = msgspec.field(default_factory=list)
    """Requested items."""
    title: str | None = None
    """Short description."""
    submitted_at: Instant | None = None
    """When it was submitted for approval."""

    def __post_init__(self) -> None:
        check_choice(self.status, get_args(RequisitionStatus), "requisition status")
        _same_currency([self.total, *(line.amount for line in self.lines)], f"requisition {self.id}")
        msgspec.structs.force_setattr(self, "submitted_at", require_aware(self.submitted_at, "submitted_at"))


class PurchaseOrderLine(msgspec.Struct, frozen=True, kw_only=True):
    """One ordered item."""

    line_number: int
    """1-based position."""
    description: str
    """What is ordered."""
    quantity: Decimal
    """Ordered units (positive)."""
    unit_price: Money
    """Price per unit."""
    amount: Money
    """Line total."""
    received_quantity: Decimal = Decimal(0)
    """Units received so far."""
    gl_account: str | None = None
    """Expense account to charge."""
    cost_center: str | None = None
    """Cost center to charge."""
    project: str | None = None
    """Project to charge."""

    def __post_init__(self) -> None:
        _positive_quantity(self.quantity, f"purchase order line {self.line_number}")
        _same_currency([self.unit_price, self.amount], f"purchase order line {self.line_number}")


class PurchaseOrder(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase order issued to a supplier."""

    id: str
    """Id in the procurement platform."""
    po_number: str
    """Order number the supplier sees."""
    supplier_id: str
    """Supplier id in the procurement platform."""
    company_code: CompanyCode
    """Entity that orders and pays."""
    status: PurchaseOrderStatus
    """Lifecycle status."""
    order_date: dt.date
    """Date of the order."""
    total: Money
    """Sum of the lines."""
    lines: list[PurchaseOrderLine] = msgspec.field(default_factory=list)
    """Ordered items."""
    requisition_id: str | None = None
    """Requisition the order came from."""
    payment_terms: str | None = None
    """Canonical payment terms code (``NET30``)."""

    def __post_init__(self) -> None:
        check_choice(self.status, get_args(PurchaseOrderStatus), "purchase order status")
        _same_currency([self.total, *(line.amount for line in self.lines)], f"purchase order {self.id}")


class GoodsReceiptLine(msgspec.Struct, frozen=True, kw_only=True):
    """Units received against one purchase order line."""

    po_line_number: int
    """The purchase order line received against."""
    quantity: Decimal
    """Units received (positive; returns are separate receipts with ``is_return``)."""

    def __post_init__(self) -> None:
        _positive_quantity(self.quantity, f"receipt line for PO line {self.po_line_number}")


class GoodsReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """Confirmation that ordered goods or services arrived."""

    id: str
    """Id in the procurement platform."""
    purchase_order_id: str
    """Order received against."""
    receipt_date: dt.date
    """Date of receipt."""
    lines: list[GoodsReceiptLine]
    """Received quantities per order line."""
    is_return: bool = False
    """Whether this receipt returns goods."""
    received_by: str | None = None
    """Employee who received."""


class SupplierInvoiceLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One line of a supplier invoice: a net amount on a GL account."""

    line_number: int
    """1-based position."""
    amount: Money
    """Net amount of the line."""
    gl_account: str
    """Expense (or asset) account to debit."""
    description: str | None = None
    """Line text."""
    cost_center: str | None = None
    """Cost center to charge."""
    project: str | None = None
    """Project to charge."""
    tax_code: str | None = None
    """Tax code applied to the line."""
    quantity: Annotated[
        Decimal, msgspec.Meta(extra_json_schema={"extra": {"pattern": r"^[0-9]{1,12}(\.[0-9]{1,6})?$"}})
    ] | None = None
    """Invoiced units, for PO-based lines."""
    purchase_order_line: int | None = None
    """Purchase order line invoiced, for PO-based lines."""


def _check_invoice(gross: Money, tax: Money, lines: list[SupplierInvoiceLine], what: str) -> None:
    _same_currency([gross, tax, *(line.amount for line in lines)], what)


class SupplierInvoiceDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of a supplier invoice create.

    The invoice balances when ``gross_amount == sum(line amounts) + tax_amount``; an ERP refuses
    to post one that does not, so :meth:`is_balanced` lets callers check before sending.
    """

    company_code: CompanyCode
    """Entity the invoice is addressed to."""
    supplier_id: str
    """Supplier id in the platform the invoice is created in (ERP supplier number for the ERP)."""
    invoice_number: str
    """The supplier's own invoice number."""
    invoice_date: dt.date
    """Date on the invoice."""
    gross_amount: Money
    """Total including tax (its currency is the invoice currency)."""
    tax_amount: Money
    """Total tax."""
    lines: list[SupplierInvoiceLine]
    """Net lines."""
    posting_date: dt.date | None = None
    """Posting date; defaults to the invoice date."""
    due_date: dt.date | None = None
    """Date payment is due, if not derived from the payment terms."""
    payment_terms: str | None = None
    """Canonical payment terms code (``NET30``)."""
    purchase_order_id: str | None = None
    """Purchase order the invoice is for."""
    text: str | None = None
    """Header text."""

    def __post_init__(self) -> None:
        if not self.lines:
            raise ValueError(f"invoice {self.invoice_number} needs at least one line")
        _check_invoice(self.gross_amount, self.tax_amount, self.lines, f"invoice {self.invoice_number}")

    @property
    def currency(self) -> str:
        """Invoice currency."""
        return self.gross_amount.currency

    def is_balanced(self) -> bool:
        """Whether gross equals the sum of the net lines plus tax."""
        net = Money.sum([line.amount for line in self.lines], self.currency)
        return net + self.tax_amount == self.gross_amount


class SupplierInvoice(msgspec.Struct, frozen=True, kw_only=True):
    """A supplier invoice as a platform holds it."""

    id: str
    """Canonical id (e.g. ``<invoice document>-<fiscal year>`` for SAP)."""
    company_code: CompanyCode
    """Entity the invoice is addressed to."""
    supplier_id: str
    """Supplier id in the platform that answered."""
    invoice_number: str
    """The supplier's own invoice number."""
    invoice_date: dt.date
    """Date on the invoice."""
    gross_amount: Money
    """Total including tax."""
    tax_amount: Money
    """Total tax."""
    status: SupplierInvoiceStatus
    """Lifecycle status."""
    lines: list[SupplierInvoiceLine] = msgspec.field(default_factory=list)
    """Net lines (may be left out in list views)."""
    posting_date: dt.date | None = None
    """Posting date."""
    due_date: dt.date | None = None
    """Date payment is due."""
    payment_terms: str | None = None
    """Canonical payment terms code (``NET30``)."""
    purchase_order_id: str | None = None
    """Purchase order the invoice is for."""
    fiscal_year: int | None = None
    """Fiscal year of the ERP document."""
    erp_document_number: str | None = None
    """Document number in the ERP."""
    reference: str | None = None
    """External reference set by Finrail (for duplicate-free retries)."""
    text: str | None = None
    """Header text."""
    created_at: Instant | None = None
    """When the platform recorded it."""

    def __post_init__(self) -> None:
        check_choice(self.status, get_args(SupplierInvoiceStatus), "supplier invoice status")
        _check_invoice(self.gross_amount, self.tax_amount, self.lines, f"invoice {self.id}")
        msgspec.structs.force_setattr(self, "created_at", require_aware(self.created_at, "created_at"))

    @property
    def currency(self) -> str:
        """Invoice currency."""
        return self.gross_amount.currency

    def is_balanced(self) -> bool:
        """Whether gross equals the sum of the net lines plus tax."""
        net = Money.sum([line.amount for line in self.lines], self.currency)
        return net + self.tax_amount == self.gross_amount
