"""The Coupa Core API resources the sandbox serves, as the vendor spells them.

Field names are hyphenated on the wire (``rename="kebab"``), money and quantities are decimal
strings, references to other objects are small nested objects (``{"id": 12}``), and
site-specific data lives in ``custom-fields``, as on a real Coupa instance. The same Structs
are the sandbox's storage format: a document is ``msgspec.to_builtins`` of one of them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

__all__ = [
    "Account",
    "Address",
    "BudgetLine",
    "CountryRef",
    "CurrencyRef",
    "CustomFields",
    "IdRef",
    "Invoice",
    "InvoiceLine",
    "OrderLine",
    "OrderLineRef",
    "PaymentTerm",
    "Period",
    "PurchaseOrder",
    "ReceivingTransaction",
    "RemitToAddress",
    "Requisition",
    "RequisitionLine",
    "Supplier",
    "SupplierRef",
    "SupplierStatus",
    "UserRef",
]

SupplierStatus = Literal["draft", "pending_approval", "approved", "inactive"]
CustomFields = dict[str, str | None]


class _Wire(msgspec.Struct, rename="kebab", kw_only=True):
    """Base of every Coupa object: hyphenated names on the wire."""


class IdRef(_Wire):
    """A reference to another object by id."""

    id: int
    """Id of the object."""


class CurrencyRef(_Wire):
    """A currency, as Coupa nests it."""

    code: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    """ISO 4217 code."""


class CountryRef(_Wire):
    """A country, as Coupa nests it."""

    code: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
    """ISO 3166 alpha-2 code."""


class UserRef(_Wire):
    """A Coupa user."""

    login: str
    """Login name."""


class Account(_Wire):
    """A chart-of-accounts string: segment 1 company code, 2 GL account, 3 cost center."""

    code: str
    """The segments joined with dashes."""
    segment_1: str
    """Company code (legal entity)."""
    segment_2: str
    """GL account."""
    segment_3: str | None = None
    """Cost center."""


class PaymentTerm(_Wire):
    """A supplier's payment term."""

    code: str
    """Term code, e.g. ``Net 30``."""
    days_for_net_payment: Annotated[int, msgspec.Meta(ge=0, le=365)] = 30
    """Days until the net amount is due."""


class Address(_Wire):
    """A postal address."""

    street1: str
    """First street line."""
    city: str
    """City."""
    postal_code: str
    """Postal code."""
    country: CountryRef
    """Country."""


class RemitToAddress(_Wire):
    """Where and to which bank account a supplier is paid."""

    name: str
    """Label of the remit-to address."""
    street1: str
    """First street line."""
    city: str
    """City."""
    postal_code: str
    """Postal code."""
    country: CountryRef
    """Country."""
    bank_account_holder: str | None = None
    """Holder of the bank account."""
    iban: str | None = None
    """IBAN of the bank account (as entered; the sandbox does not validate it)."""
    bic: str | None = None
    """BIC/SWIFT code of the bank."""
    bank_code: str | None = None
    """Domestic bank code (ABA routing number...) where there is no IBAN."""
    bank_account_number: str | None = None
    """Domestic account number where there is no IBAN."""


class Supplier(_Wire):
    """A supplier (``/api/suppliers``)."""

    id: int
    """Coupa id."""
    created_at: datetime
    """Creation time."""
    updated_at: datetime
    """Last change."""
    name: str
    """Unique name."""
    display_name: str
    """Name shown to users."""
    number: str
    """Unique supplier number."""
    status: SupplierStatus
    """Approval status; ``supplier.approved`` is sent when it becomes ``approved``."""
    tax_id: str | None = None
    """Tax id (VAT number, EIN...) as entered."""
    invoice_matching_level: Literal["2-way", "3-way", "none"] = "2-way"
    """Whether invoices are matched against POs (2-way) or POs and receipts (3-way)."""
    payment_term: PaymentTerm | None = None
    """Payment term."""
    on_hold: bool = False
    """A supplier on hold gets no new POs issued."""
    primary_address: Address | None = None
    """Main address."""
    remit_to_addresses: list[RemitToAddress] = msgspec.field(default_factory=list)
    """Where payments go."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields: ``company-code``, ``erp-supplier-number``, ``external-ref``."""


class SupplierRef(_Wire):
    """A supplier as other objects show it."""

    id: int
    """Coupa id."""
    name: str | None = None
    """Supplier name."""
    number: str | None = None
    """Supplier number."""


class RequisitionLine(_Wire):
    """One line of a requisition."""

    id: int
    """Line id."""
    line_num: int
    """Position, from 1."""
    description: str
    """What is requested."""
    quantity: Decimal
    """Quantity."""
    unit_price: Decimal
    """Price per unit."""
    total: Decimal
    """Quantity times price."""
    currency: CurrencyRef
    """Currency of the price."""
    account: Account | None = None
    """Where the cost is charged."""
    supplier: SupplierRef | None = None
    """Preferred supplier."""
    need_by_date: date | None = None
    """When it is needed."""


class Requisition(_Wire):
    """A purchase requisition (``/api/requisitions``)."""

    id: int
    """Coupa id."""
    created_at: datetime
    """Creation time."""
    updated_at: datetime
    """Last change."""
    status: Literal["draft", "pending_approval", "approved", "ordered"]
    """Workflow status."""
    requested_by: UserRef
    """Requester."""
    currency: CurrencyRef
    """Currency of every line."""
    requisition_lines: list[RequisitionLine]
    """Lines."""
    total: Decimal
    """Sum of the line totals."""
    justification: str | None = None
    """Why it is needed."""
    submitted_at: datetime | None = None
    """When it was submitted for approval."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields: ``company-code``, ``external-ref``."""


class OrderLine(_Wire):
    """One line of a purchase order."""

    id: int
    """Line id (unique across orders)."""
    line_num: int
    """Position, from 1."""
    description: str
    """What is ordered."""
    quantity: Decimal
    """Ordered quantity."""
    price: Decimal
    """Price per unit."""
    total: Decimal
    """Quantity times price."""
    currency: CurrencyRef
    """Currency."""
    account: Account | None = None
    """Where the cost is charged."""
    received: Decimal = Decimal(0)
    """Quantity received so far."""
    invoiced: Decimal = Decimal(0)
    """Quantity invoiced so far."""
    need_by_date: date | None = None
    """When it is needed."""


class PurchaseOrder(_Wire):
    """A purchase order (``/api/purchase_orders``)."""

    id: int
    """Coupa id."""
    created_at: datetime
    """Creation time."""
    updated_at: datetime
    """Last change."""
    po_number: str
    """Unique PO number."""
    status: Literal["draft", "issued", "closed", "cancelled"]
    """Status: draft -> issued -> closed; draft or issued -> cancelled; closed -> issued (reopen)."""
    supplier: SupplierRef
    """Supplier."""
    currency: CurrencyRef
    """Currency of every line."""
    order_lines: list[OrderLine]
    """Lines."""
    total: Decimal
    """Sum of the line totals."""
    requisition_header: IdRef | None = None
    """Requisition the order fulfils."""
    issued_at: datetime | None = None
    """When it was issued."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields: ``company-code``, ``external-ref``."""


class OrderLineRef(_Wire):
    """The PO line a receipt or invoice line refers to."""

    id: int
    """Order line id."""
    line_num: int | None = None
    """Position of the line on its order."""
    order_header_id: int | None = None
    """Id of the purchase order."""
    po_number: str | None = None
    """Number of the purchase order."""


class ReceivingTransaction(_Wire):
    """A receipt of goods against a PO line (``/api/receiving_transactions``)."""

    id: int
    """Coupa id."""
    created_at: datetime
    """Creation time."""
    transaction_date: date
    """When the goods arrived."""
    quantity: Decimal
    """Quantity received."""
    order_line: OrderLineRef
    """Line received against."""
    status: Literal["created", "voided"] = "created"
    """Status."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields: ``external-ref``."""


class InvoiceLine(_Wire):
    """One line of a supplier invoice."""

    id: int
    """Line id."""
    line_num: int
    """Position, from 1."""
    description: str
    """What is invoiced."""
    price: Decimal
    """Price per unit."""
    quantity: Decimal
    """Quantity."""
    total: Decimal
    """Quantity times price."""
    po_number: str | None = None
    """PO the line bills."""
    order_line_id: int | None = None
    """PO line the line bills."""
    order_header_id: int | None = None
    """Id of the PO the line bills."""
    order_line_num: int | None = None
    """Position of the billed line on its PO."""
    account: Account | None = None
    """Where the cost is charged."""


class Invoice(_Wire):
    """A supplier invoice (``/api/invoices``)."""

    id: int
    """Coupa id."""
    created_at: datetime
    """Creation time."""
    updated_at: datetime
    """Last change."""
    invoice_number: str
    """The supplier's invoice number (unique per supplier)."""
    invoice_date: date
    """Date on the invoice."""
    status: Literal["draft", "pending_approval", "approved", "voided"]
    """Status: draft -> pending_approval (submit) -> approved; draft or pending -> voided."""
    supplier: SupplierRef
    """Supplier."""
    currency: CurrencyRef
    """Currency of every line."""
    invoice_lines: list[InvoiceLine]
    """Lines."""
    total: Decimal
    """Sum of the line totals."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields: ``company-code``, ``external-ref``."""


class Period(_Wire):
    """A budget period."""

    name: str
    """Name, e.g. ``FY2026-Q1``."""
    start_date: date
    """First day."""
    end_date: date
    """Last day."""


class BudgetLine(_Wire):
    """A budget line (``/api/budget_lines``)."""

    id: int
    """Coupa id."""
    description: str
    """What the budget is for."""
    amount: Decimal
    """Budgeted amount."""
    consumed: Decimal
    """Amount committed by approved requisitions and POs."""
    remaining: Decimal
    """Amount left."""
    currency: CurrencyRef
    """Currency."""
    period: Period
    """Period."""
    account: Account
    """Account string the budget applies to."""
