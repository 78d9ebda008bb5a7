"""The consumption record the canonical model does not have yet.

``system_apis.canonical.BudgetConsumption`` is the body of a consumption (amount, reference,
time) but says neither whether it is a commitment or an actual nor what the platform recorded.
Until the canonical model carries those, this Struct is the canonical-shaped answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from system_apis.canonical import Money

__all__ = ["BudgetConsumptionRecord", "ConsumptionKind"]

ConsumptionKind = Literal["commitment", "actual"]
"""``commitment``: money promised (a PO, an approved request); ``actual``: money spent (an invoice)."""


class BudgetConsumptionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An amount the planning platform recorded against a budget line."""

    id: str
    """Id in the planning platform."""
    budget_line_id: str
    """Budget line charged."""
    kind: ConsumptionKind
    """Commitment or actual."""
    amount: Money
    """Amount (negative releases a commitment or reverses an actual)."""
    reference: str | None
    """Document that consumed it (PO, invoice, expense report)."""
    occurred_on: dt.date
    """Business date of the consumption."""
    recorded_at: dt.datetime | None = None
    """When the platform recorded it (UTC)."""
