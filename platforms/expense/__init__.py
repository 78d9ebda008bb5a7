"""SAP Concur Expense sandbox: v3.0 reports, entries and users, card transactions, v4 events."""

from __future__ import annotations

from platforms.expense.app import create_app

__all__ = ["create_app"]
