"""Connector to SAP Concur Expense (v3.0 reports, entries and users; v4-style status updates)."""

from __future__ import annotations

from system_apis.connectors.expense.client import ExpenseConnector

__all__ = ["ExpenseConnector"]
