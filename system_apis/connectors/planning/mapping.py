"""Planning wire <-> canonical mapping.

A Concur budget item header is a canonical :class:`Budget` (one entity and cost center for a
fiscal year, at its active version); each budget item detail is a :class:`BudgetLine` whose
``consumed`` is spend plus pending (actuals plus commitments). Consumption is an adjustment:
``SPENT_AMOUNT`` for actuals, ``PENDING_AMOUNT`` for commitments.
"""

from __future__ import annotations

import datetime as dt

from system_apis.canonical import Budget, BudgetConsumption, BudgetLine, BudgetStatus, Money
from system_apis.connectors.planning import wire
from system_apis.connectors.planning.records import BudgetConsumptionRecord, ConsumptionKind

__all__ = [
    "AMOUNT_TYPE",
    "COST_CENTER_LIST",
    "ENTITY_LIST",
    "adjustment_create",
    "adjustment_to_record",
    "budget_to_canonical",
    "line_to_canonical",
    "period_name",
]

ENTITY_LIST = "Legal Entity"
COST_CENTER_LIST = "Cost Center"
AMOUNT_TYPE: dict[ConsumptionKind, wire.AmountType] = {"commitment": "PENDING_AMOUNT", "actual": "SPENT_AMOUNT"}
_KIND: dict[str, ConsumptionKind] = {v: k for k, v in AMOUNT_TYPE.items()}
_STATUS: dict[str, BudgetStatus] = {"OPEN": "approved", "CLOSED": "locked", "REMOVED": "locked", "MERGED": "locked"}


def period_name(fiscal_year: int, period: int) -> str:
    """The platform's name of a monthly period, e.g. ``2026-02``."""
    return f"{fiscal_year}-{period:02d}"


def _cost_object(objects: list[wire.CostObject], list_name: str) -> str:
    for item in objects:
        if item.list_name == list_name:
            return item.code
    raise ValueError(f"the budget has no {list_name!r} cost object")


def line_to_canonical(detail: wire.BudgetItemDetail) -> BudgetLine:
    """A budget item detail as a canonical budget line.

    Raises:
        ValueError: The platform's data breaks a canonical rule (no entity, bad amount...).
    """
    currency = detail.currency_code
    balances = detail.budget_amounts
    name = detail.fiscal_period.name
    year, _, month = name.partition("-")
    if not (year.isdigit() and month.isdigit()):
        raise ValueError(f"fiscal period {name!r} is not a monthly period name")
    return BudgetLine(
        id=detail.id,
        budget_id=detail.budget_item_header_id,
        company_code=_cost_object(detail.cost_objects, ENTITY_LIST),
        cost_center=_cost_object(detail.cost_objects, COST_CENTER_LIST),
        fiscal_year=int(year),
        period=int(month),
        amount=Money(detail.amount, currency),
        consumed=Money(balances.spend_amount + balances.pending_amount, currency),
    )


def budget_to_canonical(header: wire.BudgetItemHeader) -> Budget:
    """A budget item header (at its active version) as a canonical budget with lines."""
    year = header.fiscal_year_name.removeprefix("FY")
    if not year.isdigit():
        raise ValueError(f"fiscal year {header.fiscal_year_name!r} is not FY<year>")
    return Budget(
        id=header.id,
        name=header.name,
        company_code=_cost_object(header.cost_objects, ENTITY_LIST),
        fiscal_year=int(year),
        version=header.budget_version.number,
        status=_STATUS[header.budget_item_status_type],
        currency=header.currency_code,
        lines=[line_to_canonical(detail) for detail in header.budget_item_details],
    )


def adjustment_create(line_id: str, kind: ConsumptionKind, consumption: BudgetConsumption, *,
                      external_reference: str, today: dt.date) -> wire.AdjustmentCreate:
    """The adjustment booking ``consumption`` on line ``line_id``."""
    occurred = consumption.occurred_at.astimezone(dt.UTC).date() if consumption.occurred_at else today
    return wire.AdjustmentCreate(
        budget_item_detail_id=line_id,
        amount_type=AMOUNT_TYPE[kind],
        amount=consumption.amount.amount,
        adjustment_type="PURCHASE_REQUEST" if kind == "commitment" else "EXPENSE",
        currency_code=consumption.amount.currency,
        external_reference=external_reference,
        transaction_date=occurred,
        description=consumption.reference,
    )


def adjustment_to_record(adjustment: wire.BudgetAdjustment) -> BudgetConsumptionRecord:
    """A booked adjustment as a consumption record."""
    created = adjustment.created_date
    return BudgetConsumptionRecord(
        id=adjustment.id,
        budget_line_id=adjustment.budget_item_detail_id,
        kind=_KIND[adjustment.amount_type],
        amount=Money(adjustment.amount, adjustment.currency_code),
        reference=adjustment.description,
        occurred_on=adjustment.transaction_date,
        recorded_at=created if created is None or created.tzinfo else created.replace(tzinfo=dt.UTC),
    )
