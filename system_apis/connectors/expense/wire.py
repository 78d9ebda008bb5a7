"""SAP Concur's wire format, as the connector reads and writes it.

Only the fields the mapping needs are declared; anything else Concur sends is ignored, so new
fields on Concur's side never break the connector. Names are PascalCase (``rename="pascal"``)
with Concur's own spelling where it differs (``ID``, ``URI``, ``LoginID``, ``ReportID``...).
Concur sends amounts as JSON numbers: they are decoded straight into ``Decimal`` (msgspec keeps
the digits as sent), never through a float. Concur may send ``null`` for absent values and
naive date-times; both are accepted here and dealt with in the mapping.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

import msgspec

__all__ = [
    "CardTransactionPage",
    "CardTransactionWire",
    "CustomFieldWire",
    "EntryPage",
    "EntryWire",
    "ReportPage",
    "ReportStatusPatch",
    "ReportWire",
    "UserPage",
    "UserWire",
]


class _Pascal(msgspec.Struct, rename="pascal", kw_only=True, omit_defaults=True):
    """Base of Concur v3 documents."""


class CustomFieldWire(_Pascal, kw_only=True):
    """An org unit or custom field."""

    type: str | None = None
    value: str | None = None
    code: str | None = None


class ReportWire(_Pascal, kw_only=True):
    """A report header (``ReportGet``)."""

    id: str = msgspec.field(name="ID")
    name: str
    total: Decimal
    total_claimed_amount: Decimal | None = None
    currency_code: str
    owner_login_id: str = msgspec.field(name="OwnerLoginID")
    approval_status_code: str
    payment_status_code: str
    submit_date: datetime | None = None
    processing_payment_date: datetime | None = None
    paid_date: datetime | None = None
    last_modified_date: datetime | None = None
    org_unit1: CustomFieldWire | None = None
    """Company code of the report (the sandbox's and the usual configuration)."""
    org_unit2: CustomFieldWire | None = None
    """Cost center."""
    custom20: CustomFieldWire | None = None
    """Document number of the posting in the financial system."""


class EntryWire(_Pascal, kw_only=True):
    """An expense entry (``EntryGet``)."""

    id: str = msgspec.field(name="ID")
    report_id: str = msgspec.field(name="ReportID")
    expense_type_code: str
    payment_type_id: str = msgspec.field(name="PaymentTypeID")
    payment_type_name: str | None = None
    transaction_date: datetime
    transaction_amount: Decimal
    transaction_currency_code: str
    posted_amount: Decimal
    vendor_description: str | None = None
    description: str | None = None
    is_personal: bool = False
    has_image: bool = False
    company_card_transaction_id: str | None = msgspec.field(default=None, name="CompanyCardTransactionID")


class UserWire(_Pascal, kw_only=True):
    """An employee (v3.0 Users, with the employee form's ledger fields)."""

    login_id: str = msgspec.field(name="LoginID")
    employee_id: str | None = msgspec.field(default=None, name="EmployeeID")
    first_name: str
    last_name: str
    primary_email: str | None = None
    active: bool = True
    ledger_code: str
    country_code: str | None = None
    reimbursement_currency_code: str | None = None
    cost_center: str | None = None
    approver_login_id: str | None = msgspec.field(default=None, name="ApproverLoginID")


class CardTransactionWire(_Pascal, kw_only=True):
    """A corporate card transaction."""

    id: str = msgspec.field(name="ID")
    employee_login_id: str = msgspec.field(name="EmployeeLoginID")
    account_number_last_segment: str | None = None
    transaction_date: datetime
    merchant_name: str
    transaction_amount: Decimal
    transaction_currency_code: str
    posted_amount: Decimal | None = None
    posted_currency_code: str | None = None
    status: str | None = None
    expense_entry_id: str | None = msgspec.field(default=None, name="ExpenseEntryID")


class ReportPage(msgspec.Struct):
    """A page of reports: ``{"Items": [...], "NextPage": "<uri>"}``."""

    Items: list[ReportWire]
    NextPage: str | None = None


class EntryPage(msgspec.Struct):
    """A page of entries."""

    Items: list[EntryWire]
    NextPage: str | None = None


class UserPage(msgspec.Struct):
    """A page of users."""

    Items: list[UserWire]
    NextPage: str | None = None


class CardTransactionPage(msgspec.Struct):
    """A page of card transactions."""

    Items: list[CardTransactionWire]
    NextPage: str | None = None


class ReportStatusPatch(msgspec.Struct, rename="camel", omit_defaults=True):
    """Body of the v4-style ``PATCH /expensereports/v4/reports/{id}``."""

    payment_status: Literal["P_PROC", "P_PAID"]
    external_document_id: str | None = None
    comment: str | None = None
