"""The general ledger: accounts, cost objects, tax codes, periods and journal entries.

The one rule the ledger never bends is double entry: a journal entry whose debits and credits
differ in any currency is not a journal entry. :class:`JournalEntry` and
:class:`JournalEntryDraft` therefore cannot be constructed (or decoded) unless their lines
balance per currency, so no code path can hand an unbalanced posting to an ERP.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Literal, get_args

import msgspec

from system_apis.canonical.identifiers import CompanyCode, CountryCode, Instant, check_choice, require_aware
from system_apis.canonical.money import Money

__all__ = [
    "AccountType",
    "AccountingPeriod",
    "CostCenter",
    "GlAccount",
    "JournalEntry",
    "JournalEntryDraft",
    "JournalEntryStatus",
    "JournalLine",
    "Project",
    "Side",
    "TaxCode",
    "UnbalancedEntryError",
    "check_balanced",
]

AccountType = Literal["asset", "liability", "equity", "revenue", "expense"]
"""Kind of GL account (balance sheet: asset/liability/equity; P&L: revenue/expense)."""
Side = Literal["debit", "credit"]
"""Side of a journal line."""
JournalEntryStatus = Literal["draft", "posted", "reversed"]
"""``draft`` (not yet in the ledger), ``posted``, ``reversed`` (cancelled by a reversal entry)."""


class GlAccount(msgspec.Struct, frozen=True, kw_only=True):
    """A general ledger account."""

    number: str
    """Account number, e.g. ``400000``."""
    name: str
    """Short description."""
    account_type: AccountType
    """Balance-sheet or P&L kind."""
    chart_of_accounts: str | None = None
    """Chart of accounts the number belongs to, e.g. ``YCOA``."""
    company_code: CompanyCode | None = None
    """Entity the account is set up for, when the platform lists accounts per entity."""
    blocked: bool = False
    """Whether posting to the account is blocked."""

    def __post_init__(self) -> None:
        check_choice(self.account_type, get_args(AccountType), "account_type")


class CostCenter(msgspec.Struct, frozen=True, kw_only=True):
    """A cost center: an organisational unit costs are collected on, valid for a date range."""

    company_code: CompanyCode
    """Entity the cost center belongs to."""
    code: str
    """Cost center code, e.g. ``10101301``."""
    name: str
    """Short description."""
    valid_from: dt.date
    """First day the cost center may be used."""
    valid_to: dt.date | None = None
    """Last day it may be used; ``None`` means open-ended."""
    active: bool = True
    """Whether it is open for postings (an inactive one is locked even inside its validity)."""
    responsible: str | None = None
    """Person responsible."""
    controlling_area: str | None = None
    """SAP controlling area, if any."""

    def __post_init__(self) -> None:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(
                f"cost center {self.code}: valid_to {self.valid_to} is before valid_from {self.valid_from}"
            )

    def is_usable_on(self, day: dt.date) -> bool:
        """Whether postings on ``day`` may use this cost center (active and valid on that day)."""
        return self.active and self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class Project(msgspec.Struct, frozen=True, kw_only=True):
    """A project (WBS element) costs can be assigned to."""

    code: str
    """Project code."""
    name: str
    """Short description."""
    company_code: CompanyCode
    """Entity running the project."""
    cost_center: str | None = None
    """Responsible cost center."""
    start: dt.date | None = None
    """Planned start."""
    end: dt.date | None = None
    """Planned end."""
    active: bool = True
    """Whether it is open for postings."""


class TaxCode(msgspec.Struct, frozen=True, kw_only=True):
    """A tax code: which tax applies at which rate."""

    code: str
    """Tax code, e.g. ``V1``."""
    description: str
    """What the code means, e.g. ``Input tax 19%``."""
    rate: Decimal
    """Rate in percent (``19`` means 19 %), between 0 and 100."""
    country: CountryCode | None = None
    """Country whose tax the code applies."""
    company_code: CompanyCode | None = None
    """Entity the code is set up for, if per entity."""

    def __post_init__(self) -> None:
        if not isinstance(self.rate, Decimal) or not self.rate.is_finite() or not 0 <= self.rate <= 100:
            raise ValueError(f"tax rate must be a Decimal percentage between 0 and 100, got {self.rate!r}")

    def tax_on(self, net: Money) -> Money:
        """Tax on a net amount, rounded half-even to the currency's minor units."""
        return net.multiply(self.rate / 100)


class AccountingPeriod(msgspec.Struct, frozen=True, kw_only=True):
    """A fiscal period of one legal entity, open or closed for posting."""

    company_code: CompanyCode
    """Entity the period belongs to."""
    fiscal_year: int
    """Fiscal year, e.g. ``2025``."""
    period: int
    """Period number, 1-16 (13-16 are special closing periods)."""
    start: dt.date
    """First day of the period."""
    end: dt.date
    """Last day of the period."""
    open: bool
    """Whether postings into the period are allowed."""

    def __post_init__(self) -> None:
        if not 1 <= self.period <= 16:
            raise ValueError(f"period must be between 1 and 16, got {self.period}")
        if self.end < self.start:
            raise ValueError(f"period {self.fiscal_year}/{self.period}: end {self.end} is before start {self.start}")

    def contains(self, day: dt.date) -> bool:
        """Whether ``day`` falls inside the period."""
        return self.start <= day <= self.end


class JournalLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One line of a journal entry: a positive amount on the debit or credit side of an account."""

    gl_account: str
    """GL account number."""
    side: Side
    """``debit`` or ``credit``."""
    amount: Money
    """Strictly positive amount; the side gives the sign."""
    cost_center: str | None = None
    """Cost center the amount is assigned to."""
    project: str | None = None
    """Project the amount is assigned to."""
    tax_code: str | None = None
    """Tax code, for tax-relevant lines."""
    text: str | None = None
    """Line item text."""

    def __post_init__(self) -> None:
        check_choice(self.side, get_args(Side), "side")
        if not isinstance(self.amount, Money):
            raise TypeError("journal line amount must be Money")
        if not self.amount.is_positive():
            raise ValueError(f"journal line amount must be positive (the side gives the sign), got {self.amount}")

    @property
    def signed_amount(self) -> Money:
        """Debits positive, credits negative."""
        return self.amount if self.side == "debit" else -self.amount


class UnbalancedEntryError(ValueError):
    """Journal lines whose debits and credits differ in some currency."""


def check_balanced(lines: Iterable[JournalLine]) -> None:
    """Check that ``lines`` are at least two and balance per currency.

    Raises:
        UnbalancedEntryError: fewer than two lines, or debits differ from credits in a currency.
    """
    totals: dict[str, Money] = {}
    count = 0
    for line in lines:
        count += 1
        currency = line.amount.currency
        totals[currency] = totals.get(currency, Money.zero(currency)) + line.signed_amount
    if count < 2:
        raise UnbalancedEntryError("a journal entry needs at least two lines")
    unbalanced = [f"{total.currency} {'debit' if total.is_positive() else 'credit'} excess {abs(total).amount}"
                  for total in totals.values() if not total.is_zero()]  # fmt: skip
    if unbalanced:
        raise UnbalancedEntryError("journal lines do not balance: " + "; ".join(unbalanced))


class JournalEntryDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of a journal entry create: balanced lines for one entity and posting date."""

    company_code: CompanyCode
    """Entity to post in."""
    posting_date: dt.date
    """Date the entry is posted on (decides the period)."""
    lines: list[JournalLine]
    """At least two lines, balanced per currency."""
    document_date: dt.date | None = None
    """Date of the source document; defaults to the posting date."""
    reference: str | None = None
    """External reference (source document number)."""
    text: str | None = None
    """Header text."""

    def __post_init__(self) -> None:
        check_balanced(self.lines)


class JournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A journal entry as the ledger holds it."""

    id: str
    """Canonical id of the entry (e.g. ``<company>-<fiscal year>-<document number>`` for SAP)."""
    company_code: CompanyCode
    """Entity posted in."""
    posting_date: dt.date
    """Posting date."""
    document_date: dt.date
    """Date of the source document."""
    lines: list[JournalLine]
    """At least two lines, balanced per currency."""
    status: JournalEntryStatus = "posted"
    """Lifecycle status."""
    fiscal_year: int | None = None
    """Fiscal year the ERP assigned."""
    erp_document_number: str | None = None
    """Document number in the ERP."""
    reference: str | None = None
    """External reference (source document number)."""
    text: str | None = None
    """Header text."""
    reversal_of: str | None = None
    """Id of the entry this one reverses."""
    reversed_by: str | None = None
    """Id of the entry that reversed this one."""
    mapping_version: str | None = None
    """Version of the mapping set used to produce the entry (DESIGN.md §4)."""
    created_at: Instant | None = None
    """When the ledger recorded it."""

    def __post_init__(self) -> None:
        check_choice(self.status, get_args(JournalEntryStatus), "journal entry status")
        check_balanced(self.lines)
        msgspec.structs.force_setattr(self, "created_at", require_aware(self.created_at, "created_at"))
