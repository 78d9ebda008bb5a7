"""Treasury: what we owe (payment obligations), how it is paid (payments, runs), and our cash accounts."""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

import msgspec

from system_apis.canonical.identifiers import BankAccount, CompanyCode, Instant, check_choice, require_aware
from system_apis.canonical.money import CurrencyMismatchError, Money

__all__ = [
    "CashAccount",
    "Payment",
    "PaymentDraft",
    "PaymentObligation",
    "PaymentObligationDraft",
    "PaymentObligationStatus",
    "PaymentRun",
    "PaymentRunStatus",
    "PaymentStatus",
]

PaymentObligationStatus = Literal["open", "scheduled", "paid", "cancelled"]
"""Lifecycle of an obligation: ``open`` (due, not yet in a run), ``scheduled`` (in a payment run),
``paid`` (bank confirmed), ``cancelled``."""
PaymentStatus = Literal["pending", "approved", "sent", "confirmed", "failed", "cancelled"]
"""Lifecycle of a payment: ``sent`` to the bank, ``confirmed`` by the bank statement, or ``failed``."""
PaymentRunStatus = Literal["draft", "approved", "sent", "completed", "failed"]
"""Lifecycle of a payment run."""


def _positive(amount: Money, what: str) -> None:
    if not isinstance(amount, Money) or not amount.is_positive():
        raise ValueError(f"{what} must be a positive Money amount, got {amount!r}")


class PaymentObligationDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of a payment obligation create (typically a posted supplier invoice)."""

    company_code: CompanyCode
    """Entity that pays."""
    payee_name: str
    """Who is paid."""
    amount: Money
    """Amount to pay (positive)."""
    due_date: dt.date
    """Date payment is due."""
    payee_bank_account: BankAccount
    """Account to pay into."""
    supplier_id: str | None = None
    """Supplier (ERP supplier number) being paid."""
    source_document: str | None = None
    """Document the obligation comes from (e.g. ERP invoice document id)."""
    reference: str | None = None
    """Remittance information for the payee (e.g. their invoice number)."""

    def __post_init__(self) -> None:
        _positive(self.amount, "obligation amount")


class PaymentObligation(msgspec.Struct, frozen=True, kw_only=True):
    """An amount owed to a payee, waiting to be paid by treasury."""

    id: str
    """Id in the treasury platform."""
    company_code: CompanyCode
    """Entity that pays."""
    payee_name: str
    """Who is paid."""
    amount: Money
    """Amount to pay (positive)."""
    due_date: dt.date
    """Date payment is due."""
    status: PaymentObligationStatus
    """Lifecycle status."""
    payee_bank_account: BankAccount | None = None
    """Account to pay into."""
    supplier_id: str | None = None
    """Supplier (ERP supplier number) being paid."""
    source_document: str | None = None
    """Document the obligation comes from."""
    reference: str | None = None
    """Remittance information."""
    payment_id: str | None = None
    """Payment that settles the obligation, once scheduled."""
    created_at: Instant | None = None
    """When the platform recorded it."""

    def __post_init__(self) -> None:
        check_choice(self.status, get_args(PaymentObligationStatus), "payment obligation status")
        _positive(self.amount, "obligation amount")
        msgspec.structs.force_setattr(self, "created_at", require_aware(self.created_at, "created_at"))


class PaymentDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of a payment create."""

    company_code: CompanyCode
    """Entity that pays."""
    amount: Money
    """Amount (positive)."""
    value_date: dt.date
    """Requested execution date."""
    payee_name: str
    """Who is paid."""
    payee_bank_account: BankAccount
    """Account to pay into."""
    obligation_ids: list[str] = msgspec.field(default_factory=list)
    """Obligations the payment settles."""
    supplier_id: str | None = None
    """Supplier being paid."""
    reference: str | None = None
    """Remittance information."""

    def __post_init__(self) -> None:
        _positive(self.amount, "payment amount")


class Payment(msgspec.Struct, frozen=True, kw_only=True):
    """A payment from one of our accounts to a payee."""

    id: str
    """Id in the platform that answered."""
    company_code: CompanyCode
    """Entity that pays."""
    amount: Money
    """Amount (positive)."""
    value_date: dt.date
    """Execution (value) date."""
    payee_name: str
    """Who is paid."""
    status: PaymentStatus
    """Lifecycle status."""
    payee_bank_account: BankAccount | None = None
    """Account paid into."""
    obligation_ids: list[str] = msgspec.field(default_factory=list)
    """Obligations the payment settles."""
    supplier_id: str | None = None
    """Supplier paid."""
    reference: str | None = None
    """Remittance information."""
    payment_run_id: str | None = None
    """Run the payment was made in."""
    bank_reference: str | None = None
    """The bank's reference, once confirmed."""
    erp_document_number: str | None = None
    """ERP payment document, once posted."""
    confirmed_at: Instant | None = None
    """When the bank confirmed it."""

    def __post_init__(self) -> None:
        check_choice(self.status, get_args(PaymentStatus), "payment status")
        _positive(self.amount, "payment amount")
        msgspec.structs.force_setattr(self, "confirmed_at", require_aware(self.confirmed_at, "confirmed_at"))


class PaymentRun(msgspec.Struct, frozen=True, kw_only=True):
    """A batch of payments sent to the bank together."""

    id: str
    """Id in the treasury platform."""
    company_code: CompanyCode
    """Entity that pays."""
    run_date: dt.date
    """Date of the run."""
    status: PaymentRunStatus
    """Lifecycle status."""
    payment_ids: list[str] = msgspec.field(default_factory=list)
    """Payments in the run."""
    totals: list[Money] = msgspec.field(default_factory=list)
    """Total per currency."""

    def __post_init__(self) -> None:
        check_choice(self.status, get_args(PaymentRunStatus), "payment run status")
        currencies = [total.currency for total in self.totals]
        if len(set(currencies)) != len(currencies):
            raise CurrencyMismatchError(f"payment run {self.id}: more than one total per currency")


class CashAccount(msgspec.Struct, frozen=True, kw_only=True):
    """One of our own bank accounts, as treasury manages it."""

    id: str
    """Id in the treasury platform."""
    company_code: CompanyCode
    """Entity owning the account."""
    bank_account: BankAccount
    """The account itself."""
    currency: str
    """Account currency."""
    balance: Money | None = None
    """Latest known balance."""
    balance_date: dt.date | None = None
    """Date of that balance."""
    gl_account: str | None = None
    """GL account mirroring the account (bank clearing)."""

    def __post_init__(self) -> None:
        if self.balance is not None and self.balance.currency != self.currency:
            raise CurrencyMismatchError(
                f"cash account {self.id}: balance in {self.balance.currency}, not {self.currency}"
            )
