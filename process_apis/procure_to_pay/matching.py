"""The three-way match: invoice line against purchase order line and received quantity.

Pure functions over canonical objects, all in :class:`~decimal.Decimal` (never float), so
the rule can be read, tested and explained on its own:

* **quantity** — per purchase order line, the quantity invoiced (all lines of the invoice
  that bill it) must not exceed the quantity received * (1 + ``quantity_percent`` / 100).
  Nothing received at all is ``not-received`` rather than a quantity variance: the goods
  may simply not have arrived yet, and the person's action differs (wait for the receipt,
  then retry).
* **price** — per invoice line, the invoiced unit price (line amount / quantity) may differ
  from the order's unit price, up or down, by at most ``price_percent`` % of the order price
  *and* at most ``price_amount`` per unit; a limit set to ``None`` is not checked. Every
  configured limit must hold (as SAP's tolerance keys do): the percentage keeps large
  prices in proportion, the absolute ceiling stops a small percentage of a very large unit
  price from letting a real overcharge through. The invoice line amount is rounded to the
  currency's minor units, so half a minor unit per invoiced quantity is allowed on top:
  rounding is not a variance.

The defaults are module-level constants; the flow's input may override each of them (the
process API's ``tolerances``), and the match step records the tolerances it applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Final

import msgspec

from system_apis.canonical import GoodsReceipt, PurchaseOrderLine, SupplierInvoiceLine
from system_apis.canonical.money import minor_units

__all__ = [
    "DEFAULT_PRICE_TOLERANCE_AMOUNT",
    "DEFAULT_PRICE_TOLERANCE_PERCENT",
    "DEFAULT_QUANTITY_TOLERANCE_PERCENT",
    "REASON_ORDER",
    "LineMatch",
    "Tolerances",
    "Variance",
    "match_invoice",
    "received_quantities",
]

DEFAULT_QUANTITY_TOLERANCE_PERCENT: Final = Decimal("0")
"""Invoiced quantity may exceed the received quantity by this percentage (0: bill what arrived)."""
DEFAULT_PRICE_TOLERANCE_PERCENT: Final = Decimal("2")
"""Invoiced unit price may differ from the order's by this percentage of the order price."""
DEFAULT_PRICE_TOLERANCE_AMOUNT: Final[Decimal | None] = None
"""Ceiling on the unit price difference in the invoice currency; off by default, because one
absolute amount cannot fit every currency (give it per match in the flow input)."""

REASON_ORDER: Final = ("line-not-on-order", "not-received", "quantity-variance", "price-variance")
"""Reason codes of the match, strongest first: the instance stops with the first one found."""

_PER_UNIT_DIGITS: Final = Decimal("0.000001")


TOLERANCE_PATTERN = r"^[0-9]{1,18}(\.[0-9]{1,6})?$"
"""How a tolerance is written on the wire: plain decimal digits, no sign, no exponent."""


class Tolerances(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How far an invoice may stray from the order and the receipts before a person looks at it."""

    quantity_percent: Annotated[Decimal, msgspec.Meta(
        description="Percentage (0-100) by which the invoiced quantity may exceed the received quantity.",
        extra_json_schema={"extra": {"pattern": TOLERANCE_PATTERN}})
    ] = DEFAULT_QUANTITY_TOLERANCE_PERCENT
    """Invoiced quantity may exceed the received quantity by this percentage (0 to 100)."""
    price_percent: Annotated[Decimal | None, msgspec.Meta(
        description="Percentage (0-100) of the order's unit price the invoiced unit price may differ by; "
                    "null: not checked.",
        extra_json_schema={"extra": {"pattern": TOLERANCE_PATTERN}})
    ] = DEFAULT_PRICE_TOLERANCE_PERCENT
    """Unit price may differ from the order's by this percentage (0 to 100); null: not checked."""
    price_amount: Annotated[Decimal | None, msgspec.Meta(
        description="Amount per unit, in the invoice currency, the invoiced unit price may differ by; "
                    "null: not checked. Every limit given must hold.",
        extra_json_schema={"extra": {"pattern": TOLERANCE_PATTERN}})
    ] = DEFAULT_PRICE_TOLERANCE_AMOUNT
    """Unit price may differ from the order's by this amount in the invoice currency; null: not checked."""

    def __post_init__(self) -> None:
        for name in ("quantity_percent", "price_percent", "price_amount"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a non-negative decimal, got {value!r}")
            if not re.fullmatch(TOLERANCE_PATTERN, str(value)):
                raise ValueError(f"{name} must be written as plain decimal digits (e.g. 2.5), got {value}")
            if name != "price_amount" and value > 100:
                raise ValueError(f"{name} is a percentage from 0 to 100, got {value}")


class Variance(msgspec.Struct, frozen=True, kw_only=True):
    """One rule an invoice line breaks."""

    reason: str
    """``not-received``, ``quantity-variance``, ``price-variance`` or ``line-not-on-order``."""
    invoice_line: int
    """The invoice line (its number)."""
    po_line: int | None
    """The purchase order line it bills, if it names one."""
    detail: str
    """The line, what was expected, what was invoiced and the tolerance applied."""


class LineMatch(msgspec.Struct, frozen=True, kw_only=True):
    """How one invoice line compares with its order line and the receipts."""

    invoice_line: int
    """Invoice line number."""
    po_line: int | None
    """Purchase order line number billed."""
    invoiced_quantity: Decimal | None
    """Quantity on this invoice line."""
    billed_quantity: Decimal | None
    """Quantity of the whole invoice on the same order line."""
    received_quantity: Decimal | None
    """Quantity received on the order line (receipts less returns)."""
    ordered_quantity: Decimal | None
    """Quantity ordered on the order line."""
    order_unit_price: Decimal | None
    """The order's unit price."""
    invoiced_unit_price: Decimal | None
    """Invoice line amount / quantity (six decimals)."""
    within_tolerance: bool
    """Whether the line passes the match."""


def received_quantities(receipts: Sequence[GoodsReceipt]) -> dict[int, Decimal]:
    """Received quantity per purchase order line number: receipts less returns."""
    received: dict[int, Decimal] = {}
    for receipt in receipts:
        sign = -1 if receipt.is_return else 1
        for line in receipt.lines:
            received[line.po_line_number] = received.get(line.po_line_number, Decimal(0)) + sign * line.quantity
    return received


def _percent(value: Decimal, percent: Decimal) -> Decimal:
    return value * percent / Decimal(100)


def _price_limit(order_price: Decimal, tolerances: Tolerances) -> Decimal | None:
    """The largest unit price difference allowed, or None when price is not checked."""
    limits = []
    if tolerances.price_percent is not None:
        limits.append(_percent(abs(order_price), tolerances.price_percent))
    if tolerances.price_amount is not None:
        limits.append(tolerances.price_amount)
    return min(limits) if limits else None


def _tolerance_text(tolerances: Tolerances) -> str:
    parts = []
    if tolerances.price_percent is not None:
        parts.append(f"{tolerances.price_percent}%")
    if tolerances.price_amount is not None:
        parts.append(f"{tolerances.price_amount} per unit")
    return " and ".join(parts)


def match_invoice(
    lines: Sequence[SupplierInvoiceLine],
    order_lines: Sequence[PurchaseOrderLine],
    received: Mapping[int, Decimal],
    tolerances: Tolerances,
    currency: str,
) -> tuple[list[LineMatch], list[Variance]]:
    """Match every invoice line; the per-line view and the variances found (empty: it matches).

    Args:
        lines: The invoice's lines.
        order_lines: The purchase order's lines.
        received: Received quantity per order line number (:func:`received_quantities`).
        tolerances: The tolerances to apply.
        currency: The invoice currency (for the rounding allowance).
    """
    by_number = {line.line_number: line for line in order_lines}
    billed: dict[int, Decimal] = {}
    for line in lines:
        if line.purchase_order_line is not None and line.quantity is not None:
            billed[line.purchase_order_line] = billed.get(line.purchase_order_line, Decimal(0)) + line.quantity
    half_unit = Decimal(1).scaleb(-minor_units(currency)) / 2
    matches: list[LineMatch] = []
    variances: list[Variance] = []
    quantity_checked: set[int] = set()
    for line in lines:
        order_line = by_number.get(line.purchase_order_line) if line.purchase_order_line is not None else None
        label = f"invoice line {line.line_number}"
        if order_line is None or line.quantity is None or line.quantity <= 0:
            why = ("names no purchase order line" if line.purchase_order_line is None
                   else f"bills PO line {line.purchase_order_line}, which the order does not have"
                   if order_line is None else "has no quantity to match")
            variances.append(Variance(reason="line-not-on-order", invoice_line=line.line_number,
                                      po_line=line.purchase_order_line, detail=f"{label} {why}"))
            matches.append(LineMatch(
                invoice_line=line.line_number, po_line=line.purchase_order_line, invoiced_quantity=line.quantity,
                billed_quantity=None, received_quantity=None, ordered_quantity=None, order_unit_price=None,
                invoiced_unit_price=None, within_tolerance=False))
            continue
        number = order_line.line_number
        label = f"invoice line {line.line_number} (PO line {number}, {order_line.description!r})"
        found: list[Variance] = []
        got = received.get(number, Decimal(0))
        total_billed = billed[number]
        if number not in quantity_checked:
            quantity_checked.add(number)
            if got <= 0:
                found.append(Variance(
                    reason="not-received", invoice_line=line.line_number, po_line=number,
                    detail=f"{label}: {total_billed} invoiced, nothing received yet (ordered {order_line.quantity})"))
            else:
                allowed = got * (1 + tolerances.quantity_percent / Decimal(100))
                if total_billed > allowed:
                    found.append(Variance(
                        reason="quantity-variance", invoice_line=line.line_number, po_line=number,
                        detail=(f"{label}: quantity invoiced {total_billed}, received {got}, at most {allowed} "
                                f"allowed (tolerance {tolerances.quantity_percent}%)")))
        order_price = order_line.unit_price.amount
        unit_price = (line.amount.amount / line.quantity).quantize(_PER_UNIT_DIGITS)
        limit = _price_limit(order_price, tolerances)
        if limit is not None:
            difference = abs(line.amount.amount - order_price * line.quantity)
            if difference > limit * line.quantity + half_unit:
                found.append(Variance(
                    reason="price-variance", invoice_line=line.line_number, po_line=number,
                    detail=(f"{label}: unit price invoiced {unit_price.normalize():f} {currency}, ordered "
                            f"{order_price} {currency}, difference at most {limit.normalize():f} allowed "
                            f"(tolerance {_tolerance_text(tolerances)})")))
        variances.extend(found)
        matches.append(LineMatch(
            invoice_line=line.line_number, po_line=number, invoiced_quantity=line.quantity,
            billed_quantity=total_billed, received_quantity=got, ordered_quantity=order_line.quantity,
            order_unit_price=order_price, invoiced_unit_price=unit_price, within_tolerance=not found))
    variances.sort(key=lambda v: (REASON_ORDER.index(v.reason), v.invoice_line))
    return matches, variances
