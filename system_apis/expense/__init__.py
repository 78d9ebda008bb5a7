"""The expense system API: ``/system/expense/v1`` over the expense platform's connector."""

from __future__ import annotations

from system_apis.expense.api import PREFIX, SCOPES, SUMMARY, routes

__all__ = ["PREFIX", "SCOPES", "SUMMARY", "routes"]
