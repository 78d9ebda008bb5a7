"""The documents the expense sandbox serves, in SAP Concur's wire format.

Field names follow the v3.0 swagger definitions (``ReportGet``, ``EntryGet``, ``CustomField``,
``ReportCollection``...): PascalCase, with Concur's spelling of ``ID``, ``URI`` and ``LoginID``.
Amounts are ``Decimal`` in the sandbox and JSON numbers on the wire (as Concur sends them);
absent values are left out rather than sent as ``null``, because the swagger declares no
field nullable. The same Structs are the sandbox's storage format (``to_builtins`` /
``convert``), so what is stored is exactly what is served.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

import msgspec
from litestar.openapi.spec import OpenAPIType

__all__ = [
    "ENCODER",
    "CardTransaction",
    "Collection",
    "ConcurError",
    "CustomField",
    "EntryGet",
    "Number",
    "OAuthError",
    "ReportGet",
    "ReportStatusPatch",
    "StatusChangedEvent",
    "StatusChangedFacts",
    "TokenAnswer",
    "TokenRequest",
    "User",
    "WorkflowAction",
    "WorkflowResult",
]

ENCODER = msgspec.json.Encoder(decimal_format="number")
"""Encodes Decimals as JSON numbers, as Concur does."""

Number = Annotated[Decimal, msgspec.Meta(extra_json_schema={"extra": {"type": OpenAPIType.NUMBER}})]
"""A Decimal sent as a JSON number (:data:`ENCODER`); the OpenAPI document must say ``number``,
not the ``string`` it says for a plain Decimal."""

T = TypeVar("T")


class _Pascal(msgspec.Struct, rename="pascal", omit_defaults=True, kw_only=True):
    """Base of Concur v3 documents: PascalCase names, absent values omitted."""


class CustomField(_Pascal, kw_only=True):
    """An org unit or custom field (``#/definitions/CustomField``)."""

    type: str
    """Field type: Amount, Boolean, ConnectedList, Date, Integer, List, Number, Text."""
    value: str | None = None
    """The value; for list fields the list item's name."""
    code: str | None = None
    """For list fields, the list item code."""
    list_item_id: str | None = msgspec.field(default=None, name="ListItemID")
    """For list fields, the list item id."""


class ReportGet(_Pascal, kw_only=True):
    """An expense report header (``#/definitions/ReportGet``; the fields the sandbox keeps)."""

    id: str = msgspec.field(name="ID")
    uri: str | None = msgspec.field(default=None, name="URI")
    name: str
    total: Number
    currency_code: str
    country: str | None = None
    owner_login_id: str = msgspec.field(name="OwnerLoginID")
    owner_name: str
    approver_login_id: str | None = msgspec.field(default=None, name="ApproverLoginID")
    approver_name: str | None = None
    approval_status_code: str
    approval_status_name: str
    payment_status_code: str
    payment_status_name: str
    create_date: datetime
    submit_date: datetime | None = None
    processing_payment_date: datetime | None = None
    paid_date: datetime | None = None
    user_defined_date: datetime | None = None
    last_modified_date: datetime
    amount_due_employee: Number
    amount_due_company_card: Number
    total_claimed_amount: Number
    total_approved_amount: Number
    personal_amount: Number
    has_exception: bool = False
    ever_sent_back: bool = False
    receipts_received: bool = False
    last_comment: str | None = None
    ledger_name: str | None = None
    policy_id: str | None = msgspec.field(default=None, name="PolicyID")
    workflow_action_url: str | None = None
    org_unit1: CustomField | None = None
    """Company code (ledger entity) of the report owner."""
    org_unit2: CustomField | None = None
    """Cost center charged."""
    custom20: CustomField | None = None
    """Document number of the report's posting in the financial system, once posted."""


class EntryGet(_Pascal, kw_only=True):
    """An expense entry (``#/definitions/EntryGet``; the fields the sandbox keeps)."""

    id: str = msgspec.field(name="ID")
    uri: str | None = msgspec.field(default=None, name="URI")
    report_id: str = msgspec.field(name="ReportID")
    report_owner_id: str = msgspec.field(name="ReportOwnerID")
    expense_type_code: str
    expense_type_name: str
    spend_category_code: str | None = None
    spend_category_name: str | None = None
    payment_type_id: str = msgspec.field(name="PaymentTypeID")
    payment_type_name: str
    transaction_date: datetime
    transaction_amount: Number
    transaction_currency_code: str
    exchange_rate: Number
    posted_amount: Number
    approved_amount: Number
    vendor_description: str | None = None
    location_country: str | None = None
    location_name: str | None = None
    description: str | None = None
    is_personal: bool = False
    is_billable: bool = False
    has_vat: bool = msgspec.field(default=False, name="HasVAT")
    has_image: bool = False
    receipt_received: bool = False
    allocation_type: str = "N"
    company_card_transaction_id: str | None = msgspec.field(default=None, name="CompanyCardTransactionID")
    last_modified: datetime


class User(_Pascal, kw_only=True):
    """An employee, as the v3.0 Users API lists them (plus the employee form's ledger fields)."""

    id: str = msgspec.field(name="ID")
    uri: str | None = msgspec.field(default=None, name="URI")
    login_id: str = msgspec.field(name="LoginID")
    employee_id: str = msgspec.field(name="EmployeeID")
    first_name: str
    last_name: str
    middle_name: str | None = None
    primary_email: str
    active: bool
    organization_unit: str | None = None
    ledger_code: str
    """Company code of the employee's legal entity (e.g. ``DE01``)."""
    country_code: str
    reimbursement_currency_code: str
    cost_center: str | None = None
    approver_login_id: str | None = msgspec.field(default=None, name="ApproverLoginID")


class CardTransaction(_Pascal, kw_only=True):
    """A corporate card transaction imported from the card feed."""

    id: str = msgspec.field(name="ID")
    uri: str | None = msgspec.field(default=None, name="URI")
    employee_login_id: str = msgspec.field(name="EmployeeLoginID")
    account_number_last_segment: str
    transaction_date: datetime
    posted_date: datetime
    merchant_name: str
    merchant_country_code: str
    transaction_amount: Number
    transaction_currency_code: str
    posted_amount: Number
    posted_currency_code: str
    expense_type_code: str | None = None
    status: Literal["UN", "AS"]
    """``UN`` unassigned, ``AS`` assigned to an expense entry."""
    expense_entry_id: str | None = msgspec.field(default=None, name="ExpenseEntryID")


class Collection(msgspec.Struct, Generic[T], omit_defaults=True):
    """A v3.0 page: ``{"Items": [...], "NextPage": "<uri>"}`` (``NextPage`` left out on the last page)."""

    Items: list[T]
    NextPage: str | None = None


class ConcurError(msgspec.Struct):
    """Concur's v3 error body, sent with every 4xx and 5xx of the API."""

    Message: str
    """What went wrong."""
    server_time: str = msgspec.field(name="Server-Time")
    """When the error happened (RFC 3339)."""
    Id: str
    """Id of the error, for Concur support."""


class WorkflowResult(msgspec.Struct):
    """Answer of a successful workflow action."""

    Message: Literal["SUCCESS"]
    Status: Literal["SUCCESS"]


class WorkflowAction(msgspec.Struct, forbid_unknown_fields=True):
    """Body of a workflow action on a report (the v1.1 WorkflowAction, in JSON)."""

    Action: Literal["Submit", "Approve", "Send Back", "Recall"]
    Comment: str | None = None


class ReportStatusPatch(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """Body of the v4-style report PATCH that moves an approved report through payment."""

    payment_status: Literal["P_PROC", "P_PAID"]
    """``P_PROC`` once posted to the financial system, ``P_PAID`` once paid."""
    external_document_id: str | None = None
    """Document number of the posting in the financial system."""
    comment: str | None = None
    """Recorded as the report's last comment."""


class TokenRequest(msgspec.Struct, kw_only=True):
    """Form of the token request (client credentials in the form, or as HTTP Basic instead)."""

    grant_type: Annotated[str, msgspec.Meta(extra_json_schema={"extra": {"enum": ["client_credentials"]}})]
    """Only ``client_credentials``; any other grant is refused with ``unsupported_grant_type``."""
    client_id: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    """The client id, unless sent as HTTP Basic."""
    client_secret: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    """The client secret, unless sent as HTTP Basic."""


class OAuthError(msgspec.Struct):
    """An OAuth2 error answer (RFC 6749 section 5.2)."""

    error: Literal["invalid_request", "invalid_client", "unsupported_grant_type"]
    error_description: str


class TokenAnswer(msgspec.Struct):
    """Answer of the OAuth2 token endpoint."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str
    geolocation: str


class StatusChangedFacts(msgspec.Struct, rename="camel"):
    """``facts`` of a v4 expense report ``statusChanged`` event."""

    company_id: str
    user_id: str | None
    acting_user_id: str | None
    report_id: str
    previous_approval_status: str
    current_approval_status: str
    previous_payment_status: str
    current_payment_status: str
    step_code: str | None
    href: str


class StatusChangedEvent(msgspec.Struct, rename="camel"):
    """A ``statusChanged`` event on topic ``public.concur.expense.report``."""

    id: str
    correlation_id: str
    event_type: str
    topic: str
    subtopic: str
    time_stamp: str
    facts: StatusChangedFacts
