"""Bodies of the procurement creates, in canonical form.

The canonical model has drafts for suppliers and invoices but not (yet) for requisitions,
purchase orders and goods receipts; these Structs follow its conventions (snake_case,
:class:`~system_apis.canonical.Money`, closed to unknown fields) so they can move to
``system_apis.canonical`` unchanged.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import msgspec

from system_apis.canonical import CompanyCode, CurrencyMismatchError, Money

__all__ = ["GoodsReceiptDraft", "GoodsReceiptDraftLine", "PurchaseOrderDraft", "PurchaseOrderDraftLine",
           "RequisitionDraft", "RequisitionDraftLine"]

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def _positive(quantity: Decimal, what: str) -> None:
    if not quantity.is_finite() or quantity <= 0:
        raise ValueError(f"{what}: quantity must be greater than 0")


def _one_currency(prices: list[Money], what: str) -> None:
    if len({price.currency for price in prices}) > 1:
        raise CurrencyMismatchError(f"{what}: all lines must have the same currency")


class RequisitionDraftLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One requested item."""

    description: Text
    """What is requested."""
    quantity: Decimal
    """How many units (positive)."""
    unit_price: Money
    """Price per unit; every line has the same currency."""
    gl_account: Text | None = None
    """Expense account to charge."""
    cost_center: Text | None = None
    """Cost center to charge."""
    supplier_id: Reference | None = None
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


class PurchaseOrderDraftLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One item to order."""

    description: Text
    """What is ordered."""
    quantity: Decimal
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

    supplier_id: Reference
    """Supplier (procurement id); it must be approved."""
    company_code: CompanyCode
    """Entity that orders and pays."""
    lines: Annotated[list[PurchaseOrderDraftLine], msgspec.Meta(min_length=1, max_length=200)]
    """Items to order."""
    requisition_id: Reference | None = None
    """Requisition the order fulfils."""

    def __post_init__(self) -> None:
        _one_currency([line.unit_price for line in self.lines], "purchase order")


class GoodsReceiptDraftLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Units received against one order line."""

    po_line_number: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    """Line number on the purchase order."""
    quantity: Decimal
    """Units received (positive)."""

    def __post_init__(self) -> None:
        _positive(self.quantity, f"receipt line for PO line {self.po_line_number}")


class GoodsReceiptDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A receipt of goods against an issued purchase order."""

    purchase_order_id: Reference
    """Order received against."""
    lines: Annotated[list[GoodsReceiptDraftLine], msgspec.Meta(min_length=1, max_length=200)]
    """Received quantities per order line."""
    receipt_date: dt.date | None = None
    """Date of receipt (today when not given)."""
