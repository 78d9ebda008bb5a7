"""Concur <-> canonical: the only place that knows what Concur's codes and fields mean.

* Employees are identified by their Concur login id (what reports and card transactions
  reference); the HR number (``EmployeeID``) is the canonical ``employee_number``.
* A report's status is read from two Concur codes: the approval status (``A_...``) and the
  payment status (``P_...``). Approved and not yet paid, the payment status tells whether the
  report was posted to the financial system (``P_PROC``, processing payment) or not (``P_NOTP``).
* The report's company code is org unit 1, its cost center org unit 2, and the document number
  of its ERP posting custom field 20 (the sandbox's configuration, and a common one).
* Personal expenses (``IsPersonal``) are neither reimbursed nor posted: they are left out of
  the canonical entries, and the canonical total is Concur's claimed (non-personal) amount, so
  the entries always add up to the total.
* Concur may send naive date-times; they are UTC.

Every function raises ``ValueError`` (or a subclass such as ``MoneyError``) when the answer
cannot be a valid canonical object; the connector turns that into ``MalformedAnswer``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Final, Literal

from system_apis.canonical import CardTransaction, Employee, ExpenseEntry, ExpenseReport, Money
from system_apis.canonical.expense import ExpenseReportStatus, PaymentType
from system_apis.connectors.expense.wire import (
    CardTransactionWire,
    CustomFieldWire,
    EntryWire,
    ReportWire,
    UserWire,
)

__all__ = [
    "PAYMENT_STATUS_FOR",
    "STATUS_FILTERS",
    "card_transaction_from_wire",
    "date_filter",
    "employee_from_wire",
    "employee_to_wire",
    "entry_from_wire",
    "entry_to_wire",
    "report_from_wire",
    "report_status",
    "report_to_wire",
]

_PAYMENT_TYPES: Final[dict[str, PaymentType]] = {"CASHX": "cash", "IBCP": "company_card", "CBCP": "company_paid"}
_PAYMENT_TYPE_IDS: Final[dict[PaymentType, str]] = {v: k for k, v in _PAYMENT_TYPES.items()}

STATUS_FILTERS: Final[dict[ExpenseReportStatus, tuple[str | None, str | None]]] = {
    "draft": ("A_NOTF", None),
    "submitted": ("A_PEND", None),
    "sent_back": ("A_RESU", None),
    "rejected": ("A_TEXP", None),
    "approved": ("A_APPR", "P_NOTP"),
    "posted": ("A_APPR", "P_PROC"),
    "paid": (None, "P_PAID"),
}
"""Canonical status -> Concur (approvalStatusCode, paymentStatusCode) list filters."""

PAYMENT_STATUS_FOR: Final[dict[Literal["posted", "paid"], Literal["P_PROC", "P_PAID"]]] = {
    "posted": "P_PROC",
    "paid": "P_PAID",
}
"""The payment status code a status update sets."""

_CODES_FOR: Final[dict[ExpenseReportStatus, tuple[str, str]]] = {
    "draft": ("A_NOTF", "P_NOTP"),
    "submitted": ("A_PEND", "P_NOTP"),
    "sent_back": ("A_RESU", "P_NOTP"),
    "rejected": ("A_TEXP", "P_NOTP"),
    "approved": ("A_APPR", "P_NOTP"),
    "posted": ("A_APPR", "P_PROC"),
    "paid": ("A_APPR", "P_PAID"),
}


def report_status(approval_code: str, payment_code: str) -> ExpenseReportStatus:
    """The canonical status of a report from its Concur approval and payment status codes.

    Unknown (custom) approval codes are workflow steps: ``submitted``.
    """
    if payment_code in ("P_PAID", "P_PAYC"):
        return "paid"
    if approval_code == "A_APPR":
        return "posted" if payment_code == "P_PROC" else "approved"
    return {"A_NOTF": "draft", "A_RESU": "sent_back", "A_TEXP": "rejected"}.get(approval_code, "submitted")  # type: ignore[return-value]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _code(field: CustomFieldWire | None) -> str | None:
    if field is None:
        return None
    return field.code or field.value


def _payment_type(entry: EntryWire) -> PaymentType:
    known = _PAYMENT_TYPES.get(entry.payment_type_id)
    if known is not None:
        return known
    name = (entry.payment_type_name or "").lower()
    if "card" in name:
        return "company_card"
    return "company_paid" if "company" in name else "cash"


def entry_from_wire(entry: EntryWire, report_currency: str) -> ExpenseEntry:
    """A canonical entry; ``report_currency`` is the currency of ``PostedAmount``."""
    return ExpenseEntry(
        id=entry.id,
        expense_type=entry.expense_type_code,
        transaction_date=entry.transaction_date.date(),
        amount=Money(entry.transaction_amount, entry.transaction_currency_code),
        posted_amount=Money(entry.posted_amount, report_currency),
        payment_type=_payment_type(entry),
        vendor=entry.vendor_description,
        description=entry.description,
        receipt_attached=entry.has_image,
        card_transaction_id=entry.company_card_transaction_id,
    )


def entry_to_wire(entry: ExpenseEntry, report_id: str) -> EntryWire:
    """The Concur entry of a canonical entry (the inverse of :func:`entry_from_wire`)."""
    return EntryWire(
        id=entry.id,
        report_id=report_id,
        expense_type_code=entry.expense_type,
        payment_type_id=_PAYMENT_TYPE_IDS[entry.payment_type],
        transaction_date=datetime(
            entry.transaction_date.year, entry.transaction_date.month, entry.transaction_date.day, tzinfo=UTC
        ),
        transaction_amount=entry.amount.amount,
        transaction_currency_code=entry.amount.currency,
        posted_amount=entry.posted_amount.amount,
        vendor_description=entry.vendor,
        description=entry.description,
        has_image=entry.receipt_attached,
        company_card_transaction_id=entry.card_transaction_id,
    )


def report_from_wire(report: ReportWire, entries: list[EntryWire] | None = None) -> ExpenseReport:
    """A canonical report; ``entries`` (all of the report's) when the caller fetched them.

    Raises:
        ValueError: No company code on the report, or an amount invalid for its currency.
    """
    company_code = _code(report.org_unit1)
    if not company_code:
        raise ValueError(f"report {report.id} has no company code (org unit 1)")
    status = report_status(report.approval_status_code, report.payment_status_code)
    claimed = report.total_claimed_amount if report.total_claimed_amount is not None else report.total
    approved = status in ("approved", "posted", "paid")
    return ExpenseReport(
        id=report.id,
        name=report.name,
        employee_id=report.owner_login_id,
        company_code=company_code,
        status=status,
        total=Money(claimed, report.currency_code),
        entries=[entry_from_wire(e, report.currency_code) for e in entries or () if not e.is_personal],
        cost_center=_code(report.org_unit2),
        submitted_at=_utc(report.submit_date),
        approved_at=_utc(report.processing_payment_date) if approved else None,
        paid_at=_utc(report.paid_date) if status == "paid" else None,
        erp_document_number=report.custom20.value if report.custom20 else None,
    )


def report_to_wire(report: ExpenseReport) -> tuple[ReportWire, list[EntryWire]]:
    """The Concur report header and entries of a canonical report (inverse of :func:`report_from_wire`)."""
    approval, payment = _CODES_FOR[report.status]
    wire = ReportWire(
        id=report.id,
        name=report.name,
        total=report.total.amount,
        total_claimed_amount=report.total.amount,
        currency_code=report.total.currency,
        owner_login_id=report.employee_id,
        approval_status_code=approval,
        payment_status_code=payment,
        submit_date=report.submitted_at,
        processing_payment_date=report.approved_at,
        paid_date=report.paid_at,
        org_unit1=CustomFieldWire(type="List", value=report.company_code, code=report.company_code),
        org_unit2=CustomFieldWire(type="List", value=report.cost_center, code=report.cost_center)
        if report.cost_center
        else None,
        custom20=CustomFieldWire(type="Text", value=report.erp_document_number) if report.erp_document_number else None,
    )
    return wire, [entry_to_wire(e, report.id) for e in report.entries]


def employee_from_wire(user: UserWire) -> Employee:
    """A canonical employee, identified by the Concur login id."""
    return Employee(
        id=user.login_id,
        first_name=user.first_name,
        last_name=user.last_name,
        email=user.primary_email or user.login_id,
        company_code=user.ledger_code,
        employee_number=user.employee_id,
        cost_center=user.cost_center,
        currency=user.reimbursement_currency_code,
        country=user.country_code,
        manager_id=user.approver_login_id,
        active=user.active,
    )


def employee_to_wire(employee: Employee) -> UserWire:
    """The Concur user of a canonical employee (inverse of :func:`employee_from_wire`)."""
    return UserWire(
        login_id=employee.id,
        employee_id=employee.employee_number,
        first_name=employee.first_name,
        last_name=employee.last_name,
        primary_email=employee.email,
        active=employee.active,
        ledger_code=employee.company_code,
        country_code=employee.country,
        reimbursement_currency_code=employee.currency,
        cost_center=employee.cost_center,
        approver_login_id=employee.manager_id,
    )


def card_transaction_from_wire(card: CardTransactionWire) -> CardTransaction:
    """A canonical card transaction."""
    posted = None
    if card.posted_amount is not None and card.posted_currency_code:
        posted = Money(card.posted_amount, card.posted_currency_code)
    return CardTransaction(
        id=card.id,
        employee_id=card.employee_login_id,
        transaction_date=card.transaction_date.date(),
        amount=Money(card.transaction_amount, card.transaction_currency_code),
        merchant=card.merchant_name,
        posted_amount=posted,
        card_last_digits=card.account_number_last_segment,
        expense_entry_id=card.expense_entry_id,
    )


def date_filter(value: date | datetime) -> str:
    """A Concur date filter value (RFC 3339 for instants, ``YYYY-MM-DD`` for dates)."""
    if isinstance(value, datetime):
        return (_utc(value) or value).isoformat()
    return value.isoformat()

