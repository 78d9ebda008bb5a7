"""Planning: budgets with versions, their lines per entity/cost center/period, and consumption."""

from __future__ import annotations

from typing import Literal, get_args

import msgspec

from system_apis.canonical.identifiers import CompanyCode, Instant, check_choice, require_aware
from system_apis.canonical.money import CurrencyMismatchError, Money

__all__ = [
    "Budget",
    "BudgetConsumption",
    "BudgetLine",
    "BudgetStatus",
]

BudgetStatus = Literal["draft", "approved", "locked"]
"""Lifecycle of a budget version: ``approved`` is the version consumption is checked against."""


class BudgetLine(msgspec.Struct, frozen=True, kw_only=True):
    """Budget for one entity, cost center and fiscal period, with how much is already used."""

    id: str
    """Id in the planning platform."""
    budget_id: str
    """Budget (version) the line belongs to."""
    company_code: CompanyCode
    """Entity."""
    cost_center: str
    """Cost center."""
    fiscal_year: int
    """Fiscal year."""
    period: int
    """Fiscal period, 1-16."""
    amount: Money
    """Budgeted amount."""
    consumed: Money
    """Amount already consumed (actuals plus commitments); same currency as ``amount``."""
    gl_account: str | None = None
    """GL account (or account group) the line budgets, if it is that fine-grained."""

    def __post_init__(self) -> None:
        if not 1 <= self.period <= 16:
            raise ValueError(f"budget line {self.id}: period must be between 1 and 16, got {self.period}")
        if self.consumed.currency != self.amount.currency:
            raise CurrencyMismatchError(
                f"budget line {self.id}: consumed in {self.consumed.currency}, budget in {self.amount.currency}"
            )

    @property
    def remaining(self) -> Money:
        """Budget left (negative when overspent)."""
        return self.amount - self.consumed

    def can_absorb(self, amount: Money) -> bool:
        """Whether consuming ``amount`` more stays within the budget."""
        return self.consumed + amount <= self.amount


class Budget(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a budget for a fiscal year."""

    id: str
    """Id in the planning platform."""
    name: str
    """Budget name."""
    company_code: CompanyCode
    """Entity."""
    fiscal_year: int
    """Fiscal year budgeted."""
    version: int
    """Version number (1 = first plan; later versions are re-forecasts)."""
    status: BudgetStatus
    """Lifecycle status."""
    currency: str
    """Currency of every line."""
    lines: list[BudgetLine] = msgspec.field(default_factory=list)
    """Lines (may be left out in list views)."""

    def __post_init__(self) -> None:
        check_choice(self.status, get_args(BudgetStatus), "budget status")
        for line in self.lines:
            if line.amount.currency != self.currency:
                raise CurrencyMismatchError(f"budget {self.id}: line {line.id} in {line.amount.currency}")


class BudgetConsumption(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of a consumption record: an amount charged against a budget line."""

    amount: Money
    """Amount consumed (negative to release a commitment)."""
    reference: str
    """Document that consumes it (PO, invoice, expense report)."""
    occurred_at: Instant | None = None
    """When the consumption happened; defaults to now."""

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "occurred_at", require_aware(self.occurred_at, "occurred_at"))
