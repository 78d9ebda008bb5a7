"""Request bodies of the planning sandbox, decoded strictly from the raw bytes.

Litestar decodes a ``data`` body to Python values first (JSON numbers become floats) and then
converts them leniently (``"true"`` passes for a boolean, ``"12"`` for a number). The sandbox
holds clients to its document instead: :class:`StrictBody` is the kit's strict DTO, decoding
the raw bytes with ``msgspec`` in strict mode straight into the Structs (amounts into
:class:`~decimal.Decimal`, digit for digit), refusing in Concur's error shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec

from platforms.kit import bodies as kit
from platforms.planning.errors import ConcurError

__all__ = ["AMOUNT_LIMIT", "AMOUNT_PATTERN", "MAX_ADJUSTMENTS", "AdjustmentIn", "Amount", "StrictBody"]

T = TypeVar("T")

AMOUNT_LIMIT = 10**12
"""Amounts are below this in absolute value (twelve integer digits)."""
AMOUNT_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{1,18})?$"
"""An amount given as a string: plain decimal notation (no exponent, no NaN)."""

_AMOUNT_SCHEMA: dict[str, Any] = {
    "type": None,
    "format": None,
    "any_of": [
        {"type": "number", "exclusiveMinimum": -AMOUNT_LIMIT, "exclusiveMaximum": AMOUNT_LIMIT},
        {"type": "string", "pattern": AMOUNT_PATTERN, "maxLength": 32},
    ],
    "description": "Amount (+/-): a JSON number as Concur sends it, or a decimal string; never read as a float.",
}

Amount = Annotated[Decimal, msgspec.Meta(extra_json_schema={"extra": _AMOUNT_SCHEMA})]
"""A signed amount: a JSON number, or a decimal string (see :class:`_AmountForm`)."""

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class AdjustmentIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One element of ``POST /budget/v4/adjustments`` (Concur's BudgetAdjustmentsExternal + extensions).

    The line is named by ``budgetItemDetailId`` (extension), or by ``budgetItemName`` and
    ``fiscalPeriodName`` as Concur does.
    """

    amountType: Literal["PENDING_AMOUNT", "SPENT_AMOUNT"]  # noqa: N815 - vendor field
    amount: Amount
    adjustmentType: Literal["EXPENSE", "PAYMENT_REQUEST", "PURCHASE_REQUEST", "REQUEST"] = "EXPENSE"  # noqa: N815
    budgetItemDetailId: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # noqa: N815
    budgetItemName: Text | None = None  # noqa: N815 - vendor field: the budget by name ...
    fiscalPeriodName: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None  # noqa: N815
    externalReference: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # noqa: N815
    currencyCode: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")] | None = None  # noqa: N815
    description: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    transactionDate: dt.date | None = None  # noqa: N815 - vendor field

    openapi_extra: ClassVar[dict[str, Any]] = {"any_of": [
        {"required": ["budgetItemDetailId"], "properties": {"budgetItemDetailId": {"type": "string"}}},
        {"required": ["budgetItemName", "fiscalPeriodName"],
         "properties": {"budgetItemName": {"type": "string"}, "fiscalPeriodName": {"type": "string"}}},
    ]}
    """What the schema of the Struct's fields cannot say: which fields name the line."""

    def __post_init__(self) -> None:
        if self.budgetItemDetailId is None and (self.budgetItemName is None or self.fiscalPeriodName is None):
            raise ValueError("name the line: budgetItemDetailId, or budgetItemName and fiscalPeriodName")


class _AmountForm(msgspec.Struct, frozen=True):
    """What the document allows for ``amount``; checked on the bytes beside :class:`AdjustmentIn`.

    ``Decimal`` alone would also take ``"1e5"``, ``"NaN"`` or ``"Infinity"`` from a string.
    The float here only checks the range; the value booked is the exact Decimal.
    """

    amount: (Annotated[str, msgspec.Meta(pattern=AMOUNT_PATTERN, max_length=32)]
             | Annotated[float, msgspec.Meta(gt=-AMOUNT_LIMIT, lt=AMOUNT_LIMIT)])


MAX_ADJUSTMENTS = 100
"""At most this many adjustments in one request."""


class StrictBody(kit.StrictBody[T]):
    """A data DTO decoding the raw body strictly (see :class:`platforms.kit.bodies.StrictBody`).

    Use as ``dto=StrictBody[list[AdjustmentIn]], return_dto=None`` with ``data: list[AdjustmentIn]``.
    The amounts are also checked against the forms the document allows (:class:`_AmountForm`),
    and a refused body is a Concur 400 ``invalid.body`` naming the field.
    """

    forms: ClassVar[Mapping[Any, Any]] = {
        list[AdjustmentIn]: Annotated[list[_AmountForm], msgspec.Meta(min_length=1, max_length=MAX_ADJUSTMENTS)],
    }

    @classmethod
    def refuse(cls, error: kit.BodyError) -> Exception:
        """A Concur 400 ``invalid.body`` with the field in ``validationErrors``."""
        return ConcurError(400, f"the request body is not valid: {error}", error_id="invalid.body",
                           fields={error.where: error.problem})
