"""Request bodies the sandbox accepts on creates and updates, and how they are decoded.

Ids, totals, statuses and timestamps are the platform's to set, so they are not part of a
create body; a body with an unknown field is refused, which catches a connector that
misspells a hyphenated name.

Bodies are decoded strictly (:class:`StrictBody`): what the OpenAPI document promises to
refuse is refused. ``"true"`` is not a boolean, ``"1"`` is not an id, and ``2`` is not a
quantity: Coupa's decimals are JSON strings, so a JSON number where one is expected is a 400.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, TypeVar

import msgspec

from platforms.kit import bodies as kit
from platforms.procurement.common import CoupaError
from platforms.procurement.models import (
    Account,
    Address,
    CurrencyRef,
    CustomFields,
    IdRef,
    PaymentTerm,
    RemitToAddress,
    SupplierStatus,
    UserRef,
)

__all__ = [
    "InvoiceCreate",
    "InvoiceLineCreate",
    "OrderLineCreate",
    "PurchaseOrderCreate",
    "ReceiptCreate",
    "RequisitionCreate",
    "RequisitionLineCreate",
    "StrictBody",
    "SupplierCreate",
    "SupplierUpdate",
]

B = TypeVar("B")

POSITIVE_PATTERN = (
    r"^([1-9][0-9]{0,11}(\.[0-9]{1,6})?"
    r"|0\.([1-9][0-9]{0,5}|0[1-9][0-9]{0,4}|00[1-9][0-9]{0,3}|000[1-9][0-9]{0,2}|0000[1-9][0-9]?|00000[1-9]))$"
)
"""A decimal string above zero (at most 12 integer digits and 6 decimals), written without
look-ahead so that schema-driven generators can produce it."""
NON_NEGATIVE_PATTERN = r"^[0-9]{1,18}(\.[0-9]{1,6})?$"
"""A decimal string of zero or more (at most 18 integer digits and 6 decimals)."""

Positive = Annotated[str, msgspec.Meta(pattern=POSITIVE_PATTERN, description="Decimal string above 0.")]
"""A quantity: a JSON string (Coupa's decimals are strings; a JSON number is refused)."""
NonNegative = Annotated[str, msgspec.Meta(pattern=NON_NEGATIVE_PATTERN, description="Decimal string, 0 or more.")]
"""A price: a JSON string of 0 or more."""
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class _Body(msgspec.Struct, rename="kebab", kw_only=True, forbid_unknown_fields=True):
    """Base of request bodies: hyphenated names, unknown fields refused."""


_MEANINGS = {
    POSITIVE_PATTERN: "a decimal string above 0 (at most 12 digits before the point and 6 after)",
    NON_NEGATIVE_PATTERN: "a decimal string of 0 or more (at most 18 digits before the point and 6 after)",
}


class StrictBody(kit.StrictBody[B]):
    """A route's ``data`` decoded strictly (see :class:`platforms.kit.bodies.StrictBody`), refused the Coupa way.

    Use as ``dto=StrictBody[SupplierCreate], return_dto=None``; a refused body is a 400
    ``{"errors": {"base": ["requisition-lines[0].quantity: Expected ..."]}}``.
    """

    @classmethod
    def refuse(cls, error: kit.BodyError) -> Exception:
        """A Coupa 400 naming the field, with the decimal patterns said in words."""
        problem = error.problem
        for pattern, meaning in _MEANINGS.items():
            problem = problem.replace(f"`str` matching regex {pattern!r}", meaning)
        return CoupaError(400, f"{error.where}: {problem}")


class SupplierCreate(_Body):
    """A new supplier."""

    name: Text
    """Unique name."""
    display_name: str | None = None
    """Name shown to users (the name when not given)."""
    number: Text | None = None
    """Unique supplier number (assigned when not given)."""
    status: Literal["draft", "pending_approval"] = "draft"
    """Initial status."""
    tax_id: str | None = None
    """Tax id."""
    invoice_matching_level: Literal["2-way", "3-way", "none"] = "2-way"
    """Invoice matching."""
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


class SupplierUpdate(_Body):
    """A partial update of a supplier: fields left out are kept; custom fields are merged."""

    name: Text | None = None
    """New name."""
    display_name: str | None = None
    """New display name."""
    status: SupplierStatus | None = None
    """New status (``approved`` sends ``supplier.approved``)."""
    tax_id: str | None = None
    """New tax id."""
    invoice_matching_level: Literal["2-way", "3-way", "none"] | None = None
    """New invoice matching."""
    payment_term: PaymentTerm | None = None
    """New payment term."""
    on_hold: bool | None = None
    """Put on or take off hold."""
    custom_fields: CustomFields | None = None
    """Site fields to set (merged into the existing ones; null clears one)."""


class RequisitionLineCreate(_Body):
    """A requisition line."""

    description: Text
    """What is requested."""
    quantity: Positive
    """Quantity."""
    unit_price: NonNegative
    """Price per unit."""
    currency: CurrencyRef | None = None
    """Currency (the requisition's when not given)."""
    account: Account | None = None
    """Account string."""
    supplier: IdRef | None = None
    """Preferred supplier."""
    need_by_date: date | None = None
    """When it is needed."""



class RequisitionCreate(_Body):
    """A new requisition (created as a draft)."""

    requested_by: UserRef
    """Requester."""
    currency: CurrencyRef
    """Currency."""
    requisition_lines: Annotated[list[RequisitionLineCreate], msgspec.Meta(min_length=1, max_length=500)]
    """Lines."""
    justification: str | None = None
    """Why it is needed."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields."""


class OrderLineCreate(_Body):
    """A purchase order line."""

    description: Text
    """What is ordered."""
    quantity: Positive
    """Quantity."""
    price: NonNegative
    """Price per unit."""
    currency: CurrencyRef | None = None
    """Currency (the order's when not given)."""
    account: Account | None = None
    """Account string."""
    need_by_date: date | None = None
    """When it is needed."""



class PurchaseOrderCreate(_Body):
    """A new purchase order (created as a draft)."""

    supplier: IdRef
    """Supplier."""
    currency: CurrencyRef
    """Currency."""
    order_lines: Annotated[list[OrderLineCreate], msgspec.Meta(min_length=1, max_length=500)]
    """Lines."""
    po_number: Text | None = None
    """Unique PO number (assigned when not given)."""
    requisition_header: IdRef | None = None
    """Requisition the order fulfils."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields."""


class ReceiptCreate(_Body):
    """A receipt against a PO line."""

    order_line: IdRef
    """Line received against."""
    quantity: Positive
    """Quantity received."""
    transaction_date: date | None = None
    """When the goods arrived (today when not given)."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields."""



class InvoiceLineCreate(_Body):
    """An invoice line."""

    description: Text
    """What is invoiced."""
    price: NonNegative
    """Price per unit."""
    quantity: Positive
    """Quantity."""
    po_number: str | None = None
    """PO the line bills."""
    order_line_id: int | None = None
    """PO line the line bills."""
    account: Account | None = None
    """Account string."""



class InvoiceCreate(_Body):
    """A new supplier invoice (created as a draft)."""

    invoice_number: Text
    """The supplier's invoice number."""
    invoice_date: date
    """Date on the invoice."""
    supplier: IdRef
    """Supplier."""
    currency: CurrencyRef
    """Currency."""
    invoice_lines: Annotated[list[InvoiceLineCreate], msgspec.Meta(min_length=1, max_length=500)]
    """Lines."""
    custom_fields: CustomFields = msgspec.field(default_factory=dict)
    """Site fields."""
