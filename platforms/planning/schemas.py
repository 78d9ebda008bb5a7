"""What the planning sandbox answers, as Structs: the OpenAPI document's response schemas.

Handlers keep documents in the store as dicts (amounts as decimal strings) and answer them
through these Structs (:func:`answer`), so what is served is exactly what the document says.
Amounts are :class:`~decimal.Decimal` in the sandbox and JSON numbers on the wire, as Concur
Budget v4 declares them (``"type": "number"``); no binary float ever touches them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from litestar import Response
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIType

__all__ = [
    "AdjustmentDoc",
    "AdjustmentPage",
    "BudgetAmountDoc",
    "BudgetItemDetailDoc",
    "BudgetItemHeaderDoc",
    "BudgetVersionDoc",
    "DetailPage",
    "ErrorBody",
    "FiscalYearDoc",
    "HeaderPage",
    "Number",
    "answer",
    "error_specs",
]

T = TypeVar("T")

Number = Annotated[Decimal, msgspec.Meta(extra_json_schema={"extra": {"type": OpenAPIType.NUMBER}})]
"""A Decimal sent as a JSON number (:data:`ENCODER`); the document must say ``number``, not the
``string`` it says for a plain Decimal."""

ENCODER = msgspec.json.Encoder(decimal_format="number")
"""Encodes Decimals as JSON numbers, as Concur does."""

Status = Literal["OPEN", "CLOSED"]


class ValidationErrorDoc(msgspec.Struct, frozen=True):
    """One invalid field of a refused request."""

    field: str
    message: str


class ErrorBody(msgspec.Struct, frozen=True):
    """Every error of the sandbox, Concur v4 style."""

    errorId: str  # noqa: N815 - vendor field
    errorMessage: str  # noqa: N815 - vendor field
    httpStatus: int  # noqa: N815 - vendor field
    validationErrors: list[ValidationErrorDoc]  # noqa: N815 - vendor field


class Href(msgspec.Struct, frozen=True):
    """A link to another page."""

    href: str


class FiscalPeriodDoc(msgspec.Struct, frozen=True):
    """A monthly fiscal period (Concur's ``FiscalPeriod``)."""

    id: str
    name: str
    periodType: Literal["MONTHLY"]  # noqa: N815 - vendor field
    startDate: dt.date  # noqa: N815 - vendor field
    endDate: dt.date  # noqa: N815 - vendor field
    spendDate: dt.date  # noqa: N815 - vendor field
    fiscalPeriodStatus: Status  # noqa: N815 - vendor field
    fiscalYearSyncGuid: str  # noqa: N815 - vendor field


class FiscalYearDoc(msgspec.Struct, frozen=True):
    """A fiscal year with its periods (Concur's ``FiscalYear``)."""

    id: str
    syncGuid: str  # noqa: N815 - vendor field
    name: str
    displayName: str  # noqa: N815 - vendor field
    startDate: dt.date  # noqa: N815 - vendor field
    endDate: dt.date  # noqa: N815 - vendor field
    status: Status
    currentYear: bool  # noqa: N815 - vendor field
    monthlyFiscalPeriods: list[FiscalPeriodDoc]  # noqa: N815 - vendor field


class CostObjectDoc(msgspec.Struct, frozen=True):
    """A cost object a budget is for (legal entity, cost center)."""

    listName: str  # noqa: N815 - vendor field
    code: str
    value: str
    displayName: str  # noqa: N815 - vendor field


class BudgetAmountDoc(msgspec.Struct, frozen=True):
    """Concur's ``BudgetAmount``: available = budget - spent - pending."""

    adjustedBudgetAmount: Number  # noqa: N815 - vendor field
    spendAmount: Number  # noqa: N815 - vendor field
    pendingAmount: Number  # noqa: N815 - vendor field
    availableAmount: Number  # noqa: N815 - vendor field
    consumedPercent: Number  # noqa: N815 - vendor field
    threshold: Literal["UNDER", "ALERT", "OVER"]
    unExpensedAmount: Number  # noqa: N815 - vendor field
    unExpensedSettings: bool  # noqa: N815 - vendor field


class BudgetItemDetailDoc(msgspec.Struct, frozen=True):
    """A budget line: one fiscal period of one budget, with its balances."""

    id: str
    syncGuid: str  # noqa: N815 - vendor field
    budgetItemHeaderId: str  # noqa: N815 - vendor field
    budgetItemHeaderSyncGuid: str  # noqa: N815 - vendor field
    budgetName: str  # noqa: N815 - vendor field
    amount: Number
    currencyCode: str  # noqa: N815 - vendor field
    fiscalPeriodId: str  # noqa: N815 - vendor field
    fiscalPeriod: FiscalPeriodDoc  # noqa: N815 - vendor field
    budgetItemDetailStatusType: Status  # noqa: N815 - vendor field
    costObjects: list[CostObjectDoc]  # noqa: N815 - vendor field
    versionNumber: int  # noqa: N815 - extension: the budget version the amount belongs to
    budgetAmounts: BudgetAmountDoc  # noqa: N815 - vendor field


class BudgetVersionRef(msgspec.Struct, frozen=True):
    """Extension: the active version of a budget."""

    number: int
    name: str
    effectiveDate: dt.date  # noqa: N815 - vendor style


class BudgetItemHeaderDoc(msgspec.Struct, frozen=True):
    """A budget: one legal entity and cost center for one fiscal year, with its lines."""

    id: str
    syncGuid: str  # noqa: N815 - vendor field
    name: str
    description: str
    budgetType: Literal["BUDGET"]  # noqa: N815 - vendor field
    budgetItemStatusType: Status  # noqa: N815 - vendor field
    active: bool
    currencyCode: str  # noqa: N815 - vendor field
    fiscalYearId: str  # noqa: N815 - vendor field
    fiscalYearName: str  # noqa: N815 - vendor field
    periodType: Literal["MONTHLY"]  # noqa: N815 - vendor field
    costObjects: list[CostObjectDoc]  # noqa: N815 - vendor field
    annualBudget: Number  # noqa: N815 - vendor field
    budgetVersion: BudgetVersionRef  # noqa: N815 - extension
    createdDate: dt.datetime  # noqa: N815 - vendor field
    lastModifiedDate: dt.datetime  # noqa: N815 - vendor field
    budgetAmounts: BudgetAmountDoc  # noqa: N815 - vendor field
    budgetItemDetails: list[BudgetItemDetailDoc]  # noqa: N815 - vendor field


class VersionAmountDoc(msgspec.Struct, frozen=True):
    """The amount of one period in one version."""

    fiscalPeriodName: str  # noqa: N815 - vendor style
    amount: Number


class BudgetVersionDoc(msgspec.Struct, frozen=True):
    """Extension: one version of a budget's amounts."""

    budgetItemHeaderId: str  # noqa: N815 - vendor style
    number: int
    name: str
    effectiveDate: dt.date  # noqa: N815 - vendor style
    status: Literal["ACTIVE", "SUPERSEDED"]
    annualBudget: Number  # noqa: N815 - vendor style
    amounts: list[VersionAmountDoc]


class AdjustmentDoc(msgspec.Struct, frozen=True):
    """A booked adjustment: spend (an actual) or pending (a commitment) against a line."""

    id: str
    externalReference: str | None  # noqa: N815 - vendor style
    budgetItemDetailId: str  # noqa: N815 - vendor style
    budgetItemName: str  # noqa: N815 - vendor field
    fiscalPeriodName: str  # noqa: N815 - vendor field
    amountType: Literal["PENDING_AMOUNT", "SPENT_AMOUNT"]  # noqa: N815 - vendor field
    adjustmentType: Literal["EXPENSE", "PAYMENT_REQUEST", "PURCHASE_REQUEST", "REQUEST"]  # noqa: N815
    amount: Number
    currencyCode: str  # noqa: N815 - vendor style
    description: str | None
    transactionDate: dt.date  # noqa: N815 - vendor field
    createdDate: dt.datetime  # noqa: N815 - vendor style


class _Paged(msgspec.Struct, frozen=True, kw_only=True):
    """Concur's paging fields."""

    href: str
    limit: int
    offset: int
    next: Href | None
    previous: Href | None
    totalRows: int  # noqa: N815 - vendor field


class HeaderPage(_Paged, frozen=True, kw_only=True):
    """One page of budgets (Concur's ``PagedBudgetItemHeaderResult``)."""

    budgetItemHeaders: list[BudgetItemHeaderDoc]  # noqa: N815 - vendor field


class DetailPage(_Paged, frozen=True, kw_only=True):
    """Extension: one page of budget lines."""

    budgetItemDetails: list[BudgetItemDetailDoc]  # noqa: N815 - vendor style


class AdjustmentPage(_Paged, frozen=True, kw_only=True):
    """Extension: one page of the adjustment log."""

    adjustments: list[AdjustmentDoc]


def answer(type_: type[T], content: Any, status: int = 200) -> Response[bytes]:
    """``content`` (stored documents) answered as ``type_``: exactly the documented shape."""
    document = msgspec.convert(content, type_)
    return Response(ENCODER.encode(document), status_code=status, media_type="application/json")


_ERRORS = {
    400: "The request is malformed: a parameter or the body does not match this document.",
    401: "No Basic credentials, or wrong ones.",
    404: "No object with this id.",
    409: "An adjustment with this externalReference is booked already.",
    422: ("Well-formed, but a business rule refuses it: the budget is in another currency, the amount has"
          " more decimals than the currency allows, or the fiscal period is closed."),
    429: "Too many requests (the sandbox's throttling fault); retry after Retry-After seconds.",
    500: "The platform failed (the sandbox's error fault).",
    503: "The platform is in maintenance (the sandbox's maintenance fault).",
}


def error_specs(*statuses: int) -> dict[int, ResponseSpec]:
    """Response specs of the given statuses plus those any API call may answer (400, 401, 429, 500, 503)."""
    wanted = sorted({400, 401, 429, 500, 503, *statuses})
    return {status: ResponseSpec(ErrorBody, description=_ERRORS[status], generate_examples=False)
            for status in wanted}
