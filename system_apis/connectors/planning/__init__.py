"""Planning connector: the only code that speaks the Concur-Budget-like planning dialect."""

from __future__ import annotations

from system_apis.connectors.planning.client import PlanningConnector
from system_apis.connectors.planning.records import BudgetConsumptionRecord, ConsumptionKind

__all__ = ["BudgetConsumptionRecord", "ConsumptionKind", "PlanningConnector"]
