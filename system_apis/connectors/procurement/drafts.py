"""Bodies of the procurement creates, in canonical form.

The canonical model has drafts for suppliers and invoices but not (yet) for requisitions,
purchase orders and goods receipts; these Structs follow its conventions (snake_case,
:class:`~system_apis.canonical.Money`, closed to unknown fields) so they can move to
``system_apis.canonical`` unchanged.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Final

import msgspec

from system_apis.canonical import MAX_AMOUNT, CompanyCode, CurrencyMismatchError, Money

__all__ = ["QUANTITY_PATTERN", "GoodsReceiptDraft", "GoodsReceiptDraftLine", "PurchaseOrderDraft",
           "PurchaseOrderDraftLine", "Quantity", "RequisitionDraft", "RequisitionDraftLine"]

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
ProcurementId = Annotated[str, msgspec.Meta(min_length=1, max_length=9, pattern=r"^[1-9][0-9]{0,8}$")]
"""The id of a procurement object: a positive Coupa id (32-bit integer) as a string."""


QUANTITY_PATTERN: Final = (
    r"^([1-9][0-9]{0,8}(\.[0-9]{1,6})?"
    r"|0\.([1-9][0-9]{0,5}|0[1-9][0-9]{0,4}|00[1-9][0-9]{0,3}|000[1-9][0-9]{0,2}|0000[1-9][0-9]?|00000[1-9]))$"
)
"""A positive quantity below one billion with at most 6 decimals, as a JSON string.

Written out without look-ahead (``0.000001`` to ``999999999.999999``) so that schema-driven
generators can produce it; the same bounds are checked on the decoded value.
"""

Quantity = Annotated[
    Decimal,
    msgspec.Meta(extra_json_schema={
        "description": "Positive decimal quantity as a string (below 10^9, at most 6 decimals)",
        "examples": ["2", "0.5"],
        "extra": {"pattern": QUANTITY_PATTERN},
    }),
]
"""A positive quantity; JSON string on the wire."""

_MAX_QUANTITY: Final = Decimal(10) ** 9


def _positive(quantity: Decimal, what: str) -> None:
    """Check the bounds of :data:`QUANTITY_PATTERN` on the value (msgspec cannot bound Decimals)."""
    if not quantity.is_finite() or quantity <= 0:
        raise ValueError(f"{what}: quantity must be greater than 0")
    if quantity >= _MAX_QUANTITY:
        raise ValueError(f"{what}: quantity must be below 10^9")
    exponent = quantity.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        raise ValueError(f"{what}: quantity has more than 6 decimals")


def _one_total(lines: list[tuple[Decimal, Money]], what: str) -> None:
    """Refuse negative prices, and a document whose total cannot be a :class:`Money` (10^18 and more).

    The platform would store such a total, and every later read of the document would fail.
    """
    if not lines:
        return
    for number, (_, price) in enumerate(lines, start=1):
        if price.amount < 0:
            raise ValueError(f"{what}: line {number}: the unit price must not be negative")
    currency = lines[0][1].currency
    total = sum((quantity * price.amount for quantity, price in lines), Decimal(0))
    if total >= MAX_AMOUNT:
        raise ValueError(f"{what}: the total {total:.0f} {currency} is out of range (it must be below 10^18)")


def _one_currency(prices: list[Money], what: str) -> None:
    if len({price.currency for price in prices}) > 1:
        raise CurrencyMismatchError(f"{what}: all lines must have the same currency")


class RequisitionDraftLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One requested item."""

    description: Text
    """What is requested."""
    quantity: Quantity
    """How many units (positive)."""
    unit_price: Money
    """Price per unit; every line has the same currency."""
    gl_account: Text | None = None
    """Expense account to charge."""
    cost_center: Text | None = None
    """Cost center to charge."""
    supplier_id: ProcurementId | None = None
    """Preferred supplier (procurement id)."""
    need_by: dt.date | None = None
    """Date the item is needed."""

    def __post_init__(self) -> None:
        _positive(self.quantity, "requisition line")


class RequisitionDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A requisition to create (it starts as a draft)."""

    requester_id: Text
    """Login of the employee asking."""
    company_code: CompanyCode
    """Entity that will pay."""
    lines: Annotated[list[RequisitionDraftLine], msgspec.Meta(min_length=1, max_length=200)]
    """Requested items."""
    title: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    """Short description or justification."""

    def __post_init__(self) -> None:
        _one_currency([line.unit_price for line in self.lines], "requisition")
        _one_total([(line.quantity, line.unit_price) for line in self.lines], "requisition")


class PurchaseOrderDraftLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One item to order."""

    description: Text
    """What is ordered."""
    quantity: Quantity
    """Units (positive)."""
    unit_price: Money
    """Price per unit; every line has the same currency."""
    gl_account: Text | None = None
    """Expense account to charge."""
    cost_center: Text | None = None
    """Cost center to charge."""

    def __post_init__(self) -> None:
        _positive(self.quantity, "purchase order line")


class PurchaseOrderDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A purchase order to create (it starts as a draft; issue it to send it to the supplier)."""

    supplier_id: ProcurementId
    """Supplier (procurement id); it must be approved."""
    company_code: CompanyCode
    """Entity that orders and pays."""
    lines: Annotated[list[PurchaseOrderDraftLine], msgspec.Meta(min_length=1, max_length=200)]
    """Items to order."""
    requisition_id: ProcurementId | None = None
    """Requisition the order fulfils."""

    def __post_init__(self) -> None:
        _one_currency([line.unit_price for line in self.lines], "purchase order")
        _one_total([(line.quantity, line.unit_price) for line in self.lines], "purchase order")


class GoodsReceiptDraftLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Units received against one order line."""

    po_line_number: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    """Line number on the purchase order."""
    quantity: Quantity
    """Units received (positive)."""

    def __post_init__(self) -> None:
        _positive(self.quantity, f"receipt line for PO line {self.po_line_number}")


class GoodsReceiptDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A receipt of goods against an issued purchase order."""

    purchase_order_id: ProcurementId
    """Order received against."""
    lines: Annotated[list[GoodsReceiptDraftLine], msgspec.Meta(min_length=1, max_length=200)]
    """Received quantities per order line."""
    receipt_date: dt.date | None = None
    """Date of receipt (today when not given)."""
