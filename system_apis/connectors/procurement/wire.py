"""The Coupa Core API on the wire: hyphenated names, nested references, decimal strings.

Answers are decoded leniently (unknown fields are ignored: Coupa adds fields between
releases), but every field the connector relies on is typed, so an answer that lacks one or
carries the wrong type is a :class:`~system_apis.connectors.kit.MalformedAnswer`, not a crash.
Request bodies leave out unset fields.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import msgspec

__all__ = [
    "Account",
    "Address",
    "BudgetLine",
    "CodeRef",
    "IdRef",
    "Invoice",
    "InvoiceLine",
    "InvoicePayment",
    "InvoicePaymentUpdate",
    "OrderLine",
    "OrderLineCreate",
    "OrderLineRef",
    "PaymentTerm",
    "Period",
    "PurchaseOrder",
    "PurchaseOrderCreate",
    "ReceiptCreate",
    "ReceivingTransaction",
    "RemitToAddress",
    "Requisition",
    "RequisitionCreate",
    "RequisitionLine",
    "RequisitionLineCreate",
    "Supplier",
    "SupplierRef",
    "SupplierUpdate",
    "UserRef",
]

CustomFields = dict[str, str | None]


class _Wire(msgspec.Struct, rename="kebab", kw_only=True):
    """Base of every Coupa object."""


class _Out(msgspec.Struct, rename="kebab", kw_only=True, omit_defaults=True):
    """Base of request bodies: fields left at their default are not sent."""


class IdRef(_Wire):
    """A reference by id."""

    id: int
    """Coupa id."""


class CodeRef(_Wire):
    """A currency or country, as Coupa nests them."""

    code: str
    """ISO code."""


class UserRef(_Wire):
    """A user."""

    login: str
    """Login."""


class Account(_Wire):
    """Account string: segment 1 company code, 2 GL account, 3 cost center."""

    code: str
    """Segments joined with dashes."""
    segment_1: str
    """Company code."""
    segment_2: str
    """GL account."""
    segment_3: str | None = None
    """Cost center."""


class PaymentTerm(_Wire):
    """Payment term."""

    code: str
    """Term code, e.g. ``Net 30``."""
    days_for_net_payment: int | None = None
    """Days until due."""


class Address(_Wire):
    """Postal address."""

    country: CodeRef
    """Country."""
    street1: str | None = None
    """Street."""
    city: str | None = None
    """City."""
    postal_code: str | None = None
    """Postal code."""


class RemitToAddress(_Wire):
    """Remit-to address with its bank account."""

    country: CodeRef
    """Country."""
    name: str | None = None
    """Label."""
    bank_account_holder: str | None = None
    """Account holder."""
    iban: str | None = None
    """IBAN."""
    bic: str | None = None
    """BIC."""
    bank_code: str | None = None
    """Domestic bank code."""
    bank_account_number: str | None = None
    """Domestic account number."""


class Supplier(_Wire):
    """``/api/suppliers`` answer."""

    id: int
    """Coupa id."""
    name: str
    """Name."""
    number: str
    """Supplier number."""
    status: str
    """``draft``, ``pending_approval``, ``approved``, ``inactive``."""
    created_at: datetime | None = None
    """Created."""
    updated_at: datetime | None = None
    """Changed."""
    tax_id: str | None = None
    """Tax id as entered."""
    invoice_matching_level: str | None = None
    """2-way/3-way."""
    payment_term: PaymentTerm | None = None
    """Payment term."""
    on_hold: bool = False
    """On hold."""
    primary_address: Address | None = None
    """Main address."""
    remit_to_addresses: list[RemitToAddress] = msgspec.field(default_factory=list)
    """Remit-to addresses."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields."""


class SupplierUpdate(_Out):
    """``PUT /api/suppliers/{id}`` body."""

    custom_fields: CustomFields | None = None
    """Custom fields to set."""


class SupplierRef(_Wire):
    """Supplier as orders show it."""

    id: int
    """Coupa id."""
    name: str | None = None
    """Name."""
    number: str | None = None
    """Number."""


class RequisitionLine(_Wire):
    """Requisition line."""

    line_num: int
    """Position."""
    description: str
    """Text."""
    quantity: Decimal
    """Quantity."""
    unit_price: Decimal
    """Unit price."""
    total: Decimal
    """Line total."""
    currency: CodeRef
    """Currency."""
    account: Account | None = None
    """Account."""
    supplier: SupplierRef | None = None
    """Preferred supplier."""
    need_by_date: date | None = None
    """Needed by."""


class Requisition(_Wire):
    """``/api/requisitions`` answer."""

    id: int
    """Coupa id."""
    status: str
    """Status."""
    requested_by: UserRef
    """Requester."""
    currency: CodeRef
    """Currency."""
    total: Decimal
    """Total."""
    requisition_lines: list[RequisitionLine] = msgspec.field(default_factory=list)
    """Lines."""
    justification: str | None = None
    """Justification."""
    submitted_at: datetime | None = None
    """Submitted."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields."""


class RequisitionLineCreate(_Out):
    """Requisition line to create."""

    description: str
    """Text."""
    quantity: Decimal
    """Quantity."""
    unit_price: Decimal
    """Unit price."""
    account: Account | None = None
    """Account."""
    supplier: IdRef | None = None
    """Preferred supplier."""
    need_by_date: date | None = None
    """Needed by."""


class RequisitionCreate(_Out):
    """``POST /api/requisitions`` body."""

    requested_by: UserRef
    """Requester."""
    currency: CodeRef
    """Currency."""
    requisition_lines: list[RequisitionLineCreate]
    """Lines."""
    justification: str | None = None
    """Justification."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields (``company-code``, ``external-ref``)."""


class OrderLine(_Wire):
    """Purchase order line."""

    id: int
    """Line id."""
    line_num: int
    """Position."""
    description: str
    """Text."""
    quantity: Decimal
    """Ordered."""
    price: Decimal
    """Unit price."""
    total: Decimal
    """Line total."""
    currency: CodeRef
    """Currency."""
    account: Account | None = None
    """Account."""
    received: Decimal = Decimal(0)
    """Received so far."""


class PurchaseOrder(_Wire):
    """``/api/purchase_orders`` answer."""

    id: int
    """Coupa id."""
    po_number: str
    """PO number."""
    status: str
    """Status."""
    supplier: SupplierRef
    """Supplier."""
    currency: CodeRef
    """Currency."""
    total: Decimal
    """Total."""
    created_at: datetime
    """Created."""
    order_lines: list[OrderLine] = msgspec.field(default_factory=list)
    """Lines."""
    requisition_header: IdRef | None = None
    """Requisition."""
    issued_at: datetime | None = None
    """Issued."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields."""


class OrderLineCreate(_Out):
    """Purchase order line to create."""

    description: str
    """Text."""
    quantity: Decimal
    """Quantity."""
    price: Decimal
    """Unit price."""
    account: Account | None = None
    """Account."""


class PurchaseOrderCreate(_Out):
    """``POST /api/purchase_orders`` body."""

    supplier: IdRef
    """Supplier."""
    currency: CodeRef
    """Currency."""
    order_lines: list[OrderLineCreate]
    """Lines."""
    requisition_header: IdRef | None = None
    """Requisition."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields (``company-code``, ``external-ref``)."""


class OrderLineRef(_Wire):
    """PO line a receipt refers to."""

    id: int
    """Line id."""
    line_num: int | None = None
    """Position."""
    order_header_id: int | None = None
    """PO id."""


class ReceivingTransaction(_Wire):
    """``/api/receiving_transactions`` answer."""

    id: int
    """Coupa id."""
    transaction_date: date
    """Date received."""
    quantity: Decimal
    """Quantity."""
    order_line: OrderLineRef
    """Line."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields."""


class ReceiptCreate(_Out):
    """``POST /api/receiving_transactions`` body."""

    order_line: IdRef
    """Line received against."""
    quantity: Decimal
    """Quantity."""
    transaction_date: date | None = None
    """Date received."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields (``external-ref``, ``receipt-ref``)."""


class InvoiceLine(_Wire):
    """Invoice line."""

    line_num: int
    """Position."""
    description: str
    """Text."""
    price: Decimal
    """Unit price."""
    quantity: Decimal
    """Quantity."""
    total: Decimal
    """Line total."""
    po_number: str | None = None
    """PO billed."""
    order_header_id: int | None = None
    """PO id billed."""
    order_line_num: int | None = None
    """PO line billed."""
    account: Account | None = None
    """Account."""


class Invoice(_Wire):
    """``/api/invoices`` answer."""

    id: int
    """Coupa id."""
    invoice_number: str
    """Supplier's invoice number."""
    invoice_date: date
    """Invoice date."""
    status: str
    """Status."""
    supplier: SupplierRef
    """Supplier."""
    currency: CodeRef
    """Currency."""
    total: Decimal
    """Total."""
    created_at: datetime | None = None
    """Created."""
    invoice_lines: list[InvoiceLine] = msgspec.field(default_factory=list)
    """Lines."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields."""
    paid: bool = False
    """Whether the invoice is marked paid."""
    payment_date: datetime | None = None
    """When it was marked paid."""
    payment_notes: str | None = None
    """Payment reference recorded with it."""


class InvoicePayment(_Out):
    """One element of an invoice's ``payments``."""

    amount_paid: Decimal
    """Amount paid."""
    payment_date: date
    """Payment date."""
    notes: str | None = None
    """Payment reference."""


class InvoicePaymentUpdate(_Out):
    """``PUT /api/invoices/{id}`` body marking an invoice paid."""

    paid: bool
    """True."""
    payment_date: date | None = None
    """Payment date."""
    payment_notes: str | None = None
    """Payment reference."""
    payments: list[InvoicePayment] | None = None
    """Payments made."""


class Period(_Wire):
    """Budget period."""

    name: str
    """Name."""
    start_date: date
    """First day."""
    end_date: date
    """Last day."""


class BudgetLine(_Wire):
    """``/api/budget_lines`` answer."""

    id: int
    """Coupa id."""
    amount: Decimal
    """Budget."""
    consumed: Decimal
    """Consumed."""
    currency: CodeRef
    """Currency."""
    period: Period
    """Period."""
    account: Account
    """Account string."""
