"""The codes SAP Concur Expense uses, as the sandbox serves them.

Approval and payment status codes are Concur's standard codes (from the descriptions of the
``approvalStatusCode`` and ``paymentStatusCode`` parameters of the v3.0 Reports API); expense
and payment types are a small configuration like a customer's expense group would have.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

__all__ = [
    "APPROVAL_NAMES",
    "CURRENCY_DIGITS",
    "EXPENSE_TYPES",
    "PAYMENT_NAMES",
    "PAYMENT_TYPES",
    "USD_RATES",
    "exchange_rate",
    "quantize",
]

APPROVAL_NAMES: Final[dict[str, str]] = {
    "A_AAFH": "Anomaly and Fraud Check",
    "A_ACCO": "Pending Review",
    "A_APPR": "Approved",
    "A_EXTV": "Pending External Validation",
    "A_FILE": "Submitted",
    "A_NOTF": "Not Submitted",
    "A_PBDG": "Pending Budget Approval",
    "A_PECO": "Pending Cost Object Approval",
    "A_PEND": "Submitted & Pending Approval",
    "A_PVAL": "Pending Prepayment Validation",
    "A_RESU": "Sent Back to Employee",
    "A_RHLD": "Pending Receipt Images",
    "A_TEXP": "Expired in Approval Queue",
}
"""Concur's standard approval status codes with their English names."""

PAYMENT_NAMES: Final[dict[str, str]] = {
    "P_HOLD": "Payment on Hold",
    "P_NOTP": "Not Paid",
    "P_PAID": "Paid",
    "P_PAYC": "Payment Confirmed",
    "P_PROC": "Processing Payment",
}
"""Concur's standard payment status codes with their English names."""

EXPENSE_TYPES: Final[dict[str, tuple[str, str]]] = {
    "AIRFR": ("Airfare", "TRAVL"),
    "LODNG": ("Hotel", "LODGN"),
    "BUSML": ("Business Meal (attendees)", "MEALS"),
    "TAXIX": ("Taxi", "GRTRN"),
    "CARRT": ("Car Rental", "GRTRN"),
    "TRAIN": ("Train", "TRAVL"),
    "PARKG": ("Parking", "GRTRN"),
    "OFCSP": ("Office Supplies", "OFFIC"),
}
"""Expense type code -> (name, spend category code)."""

PAYMENT_TYPES: Final[dict[str, str]] = {
    "CASHX": "Cash",
    "IBCP": "Company Card",
}
"""Payment type id -> name: paid by the employee, or with the corporate card."""

CURRENCY_DIGITS: Final[dict[str, int]] = {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "JPY": 0}
"""ISO 4217 minor units of the currencies the sandbox uses."""

USD_RATES: Final[dict[str, Decimal]] = {
    "USD": Decimal("1"),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "CHF": Decimal("1.13"),
    "JPY": Decimal("0.0067"),
}
"""Value of one unit of each currency in US dollars (a fixed table keeps the seed stable)."""


def exchange_rate(transaction_currency: str, report_currency: str) -> Decimal:
    """Rate converting a transaction amount into the report currency, to six decimals."""
    return (USD_RATES[transaction_currency] / USD_RATES[report_currency]).quantize(Decimal("0.000001"))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded to the minor units of ``currency``."""
    return amount.quantize(Decimal(1).scaleb(-CURRENCY_DIGITS[currency]))
