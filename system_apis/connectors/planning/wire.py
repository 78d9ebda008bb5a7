"""Wire Structs of the planning platform (SAP Concur Budget v4 names, plus the sandbox's extensions).

camelCase through ``rename="camel"``; unknown fields are ignored; amounts are JSON numbers
decoded straight into :class:`~decimal.Decimal`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

import msgspec

__all__ = [
    "AdjustmentCreate",
    "AdjustmentPage",
    "BudgetAdjustment",
    "BudgetAmounts",
    "BudgetItemDetail",
    "BudgetItemHeader",
    "BudgetVersion",
    "CostObject",
    "DetailPage",
    "FiscalPeriod",
    "Href",
]

AmountType = Literal["PENDING_AMOUNT", "SPENT_AMOUNT"]
Status = Literal["OPEN", "CLOSED", "REMOVED", "MERGED"]


class Href(msgspec.Struct, frozen=True):
    """A link."""

    href: str


class CostObject(msgspec.Struct, frozen=True, rename="camel"):
    """One cost object (hierarchy value) a budget is for: legal entity, cost center..."""

    list_name: str
    code: str
    value: str | None = None
    display_name: str | None = None


class FiscalPeriod(msgspec.Struct, frozen=True, rename="camel"):
    """A fiscal period (``2026-02`` monthly periods in the sandbox)."""

    id: str
    name: str
    start_date: dt.date
    end_date: dt.date
    fiscal_period_status: Status = "OPEN"


class BudgetAmounts(msgspec.Struct, frozen=True, rename="camel"):
    """Concur's BudgetAmount: balances of a budget or line."""

    adjusted_budget_amount: Decimal
    spend_amount: Decimal
    pending_amount: Decimal
    available_amount: Decimal
    threshold: Literal["UNDER", "ALERT", "OVER", "UNKNOWN"] = "UNKNOWN"
    consumed_percent: Decimal | None = None


class BudgetItemDetail(msgspec.Struct, frozen=True, rename="camel"):
    """A budget line: one fiscal period of one budget."""

    id: str
    budget_item_header_id: str
    amount: Decimal
    currency_code: str
    fiscal_period: FiscalPeriod
    cost_objects: list[CostObject]
    budget_amounts: BudgetAmounts
    budget_item_detail_status_type: Status = "OPEN"
    budget_name: str | None = None
    version_number: int = 1


class BudgetVersion(msgspec.Struct, frozen=True, rename="camel"):
    """Extension: the version of a budget's amounts."""

    number: int
    name: str
    effective_date: dt.date | None = None


class BudgetItemHeader(msgspec.Struct, frozen=True, rename="camel"):
    """A budget: one entity and cost center for one fiscal year, with its lines."""

    id: str
    name: str
    currency_code: str
    budget_item_status_type: Status
    cost_objects: list[CostObject]
    fiscal_year_name: str
    budget_version: BudgetVersion
    budget_item_details: list[BudgetItemDetail] = msgspec.field(default_factory=list)


class DetailPage(msgspec.Struct, frozen=True, rename="camel"):
    """Paged budget lines."""

    budget_item_details: list[BudgetItemDetail]
    total_rows: int
    offset: int
    limit: int
    next: Href | None = None


class BudgetAdjustment(msgspec.Struct, frozen=True, rename="camel"):
    """A booked adjustment: spend (actual) or pending (commitment) against a line."""

    id: str
    budget_item_detail_id: str
    amount_type: AmountType
    amount: Decimal
    currency_code: str
    transaction_date: dt.date
    external_reference: str | None = None
    description: str | None = None
    created_date: dt.datetime | None = None


class AdjustmentPage(msgspec.Struct, frozen=True, rename="camel"):
    """Paged adjustments."""

    adjustments: list[BudgetAdjustment]
    total_rows: int
    offset: int
    limit: int
    next: Href | None = None


class AdjustmentCreate(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """One element of the body of ``POST /budget/v4/adjustments``."""

    budget_item_detail_id: str
    amount_type: AmountType
    amount: Decimal
    adjustment_type: Literal["EXPENSE", "PAYMENT_REQUEST", "PURCHASE_REQUEST", "REQUEST"]
    currency_code: str
    external_reference: str
    transaction_date: dt.date
    description: str | None = None
