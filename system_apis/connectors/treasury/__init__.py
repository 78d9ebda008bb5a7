"""Treasury connector: the only code that speaks the Kyriba-like treasury dialect."""

from __future__ import annotations

from system_apis.connectors.treasury.client import TreasuryConnector

__all__ = ["TreasuryConnector"]
