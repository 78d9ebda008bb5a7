"""Wire Structs of the Kyriba-like treasury API, as the platform sends and accepts them.

Field names are the platform's (camelCase through ``rename="camel"``); unknown fields in
answers are ignored, so the platform may add fields without breaking us, but a missing or
mistyped field we rely on makes the answer malformed (502). Amounts are JSON numbers on the
wire and decoded straight into :class:`~decimal.Decimal`, never through float.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Generic, Literal, TypeVar

import msgspec

__all__ = [
    "Balance",
    "Bank",
    "BankConfirmation",
    "Beneficiary",
    "CodeRef",
    "Links",
    "Metadata",
    "ObligationCreate",
    "ObligationStatus",
    "PageOf",
    "PaymentObligation",
    "PaymentRun",
    "PaymentRunCreate",
    "RunStatus",
    "RunTotal",
    "WireBankAccount",
]

T = TypeVar("T")

ObligationStatus = Literal["PENDING", "IN_RUN", "RELEASED", "PAID", "CANCELLED"]
RunStatus = Literal["CREATED", "RELEASED", "CONFIRMED", "REJECTED"]


class CodeRef(msgspec.Struct, frozen=True, omit_defaults=True):
    """A reference to another object: Kyriba references by code, and by uuid where it has one."""

    code: str
    uuid: str | None = None
    name: str | None = None


class Links(msgspec.Struct, frozen=True, omit_defaults=True):
    """Navigation links of a page."""

    self_: str | None = msgspec.field(default=None, name="self")
    next: str | None = None
    previous: str | None = None


class Metadata(msgspec.Struct, frozen=True, rename="camel"):
    """Paging metadata of a list answer."""

    number_of_total_results: int
    page_limit: int
    page_offset: int
    links: Links = msgspec.field(default_factory=Links)


class PageOf(msgspec.Struct, Generic[T], frozen=True):
    """``{"metadata": {...}, "results": [...]}``."""

    metadata: Metadata
    results: list[T]


class Bank(msgspec.Struct, frozen=True):
    """The bank holding an account."""

    bic: str | None = None
    code: str | None = None
    name: str | None = None


class Balance(msgspec.Struct, frozen=True):
    """Latest balance of an account."""

    amount: Decimal
    date: dt.date


class WireBankAccount(msgspec.Struct, frozen=True, rename="camel"):
    """``/bank-accounts`` element: one of the company's own accounts."""

    uuid: str
    code: str
    company: CodeRef
    currency: CodeRef
    status: Literal["OPENED", "CLOSED"]
    bank: Bank = msgspec.field(default_factory=Bank)
    description: str | None = None
    iban: str | None = None
    account_number: str | None = None
    country_code: str | None = None
    balance: Balance | None = None


class Beneficiary(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """Who is paid, and where."""

    name: str
    code: str | None = None
    iban: str | None = None
    account_number: str | None = None
    bank_code: str | None = None
    bic: str | None = None
    country_code: str | None = None


class PaymentObligation(msgspec.Struct, frozen=True, rename="camel"):
    """``/payment-obligations`` element."""

    uuid: str
    reference: str
    company: CodeRef
    bank_account: CodeRef
    beneficiary: Beneficiary
    amount: Decimal
    currency: CodeRef
    value_date: dt.date
    status: ObligationStatus
    creation_date_time: dt.datetime
    description: str | None = None
    remittance_information: str | None = None
    payment_run: CodeRef | None = None
    bank_reference: str | None = None
    last_modified_date_time: dt.datetime | None = None


class ObligationCreate(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """Body of ``POST /payment-obligations``."""

    reference: str
    company: CodeRef
    bank_account: CodeRef
    beneficiary: Beneficiary
    amount: Decimal
    currency: CodeRef
    value_date: dt.date
    description: str | None = None
    remittance_information: str | None = None


class RunTotal(msgspec.Struct, frozen=True):
    """Total of a run in one currency."""

    currency: CodeRef
    amount: Decimal


class PaymentRun(msgspec.Struct, frozen=True, rename="camel"):
    """``/payment-runs`` element."""

    uuid: str
    code: str
    company: CodeRef
    status: RunStatus
    execution_date: dt.date
    obligations: list[str]
    totals: list[RunTotal]
    reference: str | None = None
    number_of_payments: int = 0
    creation_date_time: dt.datetime | None = None
    release_date_time: dt.datetime | None = None
    confirmation_date_time: dt.datetime | None = None


class PaymentRunCreate(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    """Body of ``POST /payment-runs``."""

    obligations: list[str]
    reference: str | None = None
    execution_date: dt.date | None = None


class BankConfirmation(msgspec.Struct, frozen=True, rename="camel"):
    """``/bank-confirmations`` element: the bank's answer to a released run."""

    uuid: str
    payment_run: CodeRef
    result: Literal["ACCEPTED", "REJECTED"]
    bank_reference: str
    received_date_time: dt.datetime
