"""Expenses: employee expense reports, their entries, and company card transactions."""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

import msgspec

from system_apis.canonical.identifiers import CompanyCode, Instant, check_choice, require_aware
from system_apis.canonical.money import CurrencyMismatchError, Money

__all__ = [
    "CardTransaction",
    "ExpenseEntry",
    "ExpenseReport",
    "ExpenseReportStatus",
    "PaymentType",
]

ExpenseReportStatus = Literal["draft", "submitted", "sent_back", "approved", "rejected", "posted", "paid"]
"""Lifecycle of an expense report: ``submitted`` for approval, ``sent_back`` to the employee for
changes, ``approved``, ``rejected``, ``posted`` to the ERP, ``paid`` to the employee."""
PaymentType = Literal["cash", "company_card", "company_paid"]
"""Who paid the expense: the employee (``cash``, reimbursed), a company card, or the company."""


class ExpenseEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One expense on a report."""

    id: str
    """Id in the expense platform."""
    expense_type: str
    """Expense type code (e.g. ``AIRFR``, ``HOTEL``, ``MEALS``); mapped to a GL account per entity."""
    transaction_date: dt.date
    """Date the expense was incurred."""
    amount: Money
    """Amount in the currency it was paid in."""
    posted_amount: Money
    """Amount in the report currency (what is reimbursed/posted)."""
    payment_type: PaymentType = "cash"
    """Who paid."""
    vendor: str | None = None
    """Merchant."""
    description: str | None = None
    """Employee's description."""
    business_purpose: str | None = None
    """Why the expense was business."""
    gl_account: str | None = None
    """GL account, once mapped."""
    cost_center: str | None = None
    """Cost center override for this entry."""
    tax_code: str | None = None
    """Tax code, once mapped."""
    receipt_attached: bool = False
    """Whether a receipt image is attached."""
    card_transaction_id: str | None = None
    """Card transaction the entry was created from."""

    def __post_init__(self) -> None:
        check_choice(self.payment_type, get_args(PaymentType), "payment_type")


class ExpenseReport(msgspec.Struct, frozen=True, kw_only=True):
    """An employee's expense report."""

    id: str
    """Id in the expense platform."""
    name: str
    """Report title."""
    employee_id: str
    """Employee who submitted it."""
    company_code: CompanyCode
    """Entity that reimburses and posts it."""
    status: ExpenseReportStatus
    """Lifecycle status."""
    total: Money
    """Total in the report currency."""
    entries: list[ExpenseEntry] = msgspec.field(default_factory=list)
    """The expenses (may be left out in list views)."""
    cost_center: str | None = None
    """Default cost center."""
    business_purpose: str | None = None
    """Why the trip or expense was business."""
    submitted_at: Instant | None = None
    """When it was submitted."""
    approved_at: Instant | None = None
    """When it was finally approved."""
    posted_at: Instant | None = None
    """When it was posted to the ERP."""
    paid_at: Instant | None = None
    """When the employee was paid."""
    erp_document_number: str | None = None
    """ERP journal entry the report was posted as."""

    def __post_init__(self) -> None:
        check_choice(self.status, get_args(ExpenseReportStatus), "expense report status")
        for entry in self.entries:
            if entry.posted_amount.currency != self.total.currency:
                raise CurrencyMismatchError(
                    f"expense report {self.id}: entry {entry.id} is posted in {entry.posted_amount.currency},"
                    f" the report in {self.total.currency}"
                )
        for field in ("submitted_at", "approved_at", "posted_at", "paid_at"):
            msgspec.structs.force_setattr(self, field, require_aware(getattr(self, field), field))

    @property
    def currency(self) -> str:
        """Report (reimbursement) currency."""
        return self.total.currency


class CardTransaction(msgspec.Struct, frozen=True, kw_only=True):
    """A company card transaction, before or after it became an expense entry."""

    id: str
    """Id in the expense platform."""
    employee_id: str
    """Card holder."""
    transaction_date: dt.date
    """Date of the purchase."""
    amount: Money
    """Amount in the transaction currency."""
    merchant: str
    """Merchant name."""
    posted_amount: Money | None = None
    """Amount billed in the card's currency."""
    card_last_digits: str | None = None
    """Last four digits of the card number."""
    expense_entry_id: str | None = None
    """Entry created from the transaction, once itemised."""
