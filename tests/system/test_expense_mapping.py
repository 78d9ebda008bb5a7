"""Concur <-> canonical mapping: round trips, status codes, and what is left out on purpose."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import msgspec
import pytest

from system_apis.canonical import Employee, ExpenseEntry, ExpenseReport, Money
from system_apis.connectors.expense.mapping import (
    employee_from_wire,
    employee_to_wire,
    entry_from_wire,
    report_from_wire,
    report_status,
    report_to_wire,
)
from system_apis.connectors.expense.wire import EntryPage, ReportWire

REPORT = ExpenseReport(
    id="57EE1FDA348046E8A08B",
    name="Tokyo March 2025",
    employee_id="anna.sato.0001@de01.finrail.example",
    company_code="DE01",
    status="posted",
    total=Money(Decimal("1234.56"), "EUR"),
    entries=[
        ExpenseEntry(id="E1", expense_type="LODNG", transaction_date=date(2025, 3, 3),
                     amount=Money(Decimal("120000"), "JPY"), posted_amount=Money(Decimal("734.56"), "EUR"),
                     payment_type="company_card", vendor="Hilton", description="Hotel Tokyo",
                     receipt_attached=True, card_transaction_id="C1"),
        ExpenseEntry(id="E2", expense_type="AIRFR", transaction_date=date(2025, 3, 1),
                     amount=Money(Decimal("500.00"), "EUR"), posted_amount=Money(Decimal("500.00"), "EUR")),
    ],
    cost_center="DE2000",
    submitted_at=datetime(2025, 3, 10, 9, 0, tzinfo=UTC),
    approved_at=datetime(2025, 3, 12, 9, 0, tzinfo=UTC),
    erp_document_number="5100000042",
)


def test_a_canonical_report_survives_the_round_trip_through_concur_json() -> None:
    header, entries = report_to_wire(REPORT)
    # through real JSON, as Concur would send it (amounts as numbers)
    header = msgspec.json.decode(msgspec.json.encode(header), type=ReportWire)
    lines = msgspec.json.decode(msgspec.json.encode({"Items": entries}), type=EntryPage).Items
    assert report_from_wire(header, lines) == REPORT


def test_an_employee_survives_the_round_trip() -> None:
    employee = Employee(id="liam.weber.0042@gb01.finrail.example", first_name="Liam", last_name="Weber",
                        email="liam.weber.0042@gb01.finrail.example", company_code="GB01", employee_number="E00042",
                        cost_center="GB3000", currency="GBP", country="GB",
                        manager_id="grace.smith.0201@gb01.finrail.example", active=False)
    assert employee_from_wire(employee_to_wire(employee)) == employee


@pytest.mark.parametrize(
    ("approval", "payment", "status"),
    [("A_NOTF", "P_NOTP", "draft"), ("A_PEND", "P_NOTP", "submitted"), ("A_ACCO", "P_NOTP", "submitted"),
     ("A_RESU", "P_NOTP", "sent_back"), ("A_TEXP", "P_NOTP", "rejected"), ("A_APPR", "P_NOTP", "approved"),
     ("A_APPR", "P_PROC", "posted"), ("A_APPR", "P_PAID", "paid"), ("A_APPR", "P_PAYC", "paid"),
     ("CUSTOM_STEP", "P_NOTP", "submitted")],
)
def test_concur_status_codes(approval: str, payment: str, status: str) -> None:
    assert report_status(approval, payment) == status


def test_amounts_are_exact_and_naive_times_are_utc() -> None:
    raw = (b'{"ID": "R", "Name": "n", "Total": 0.1, "TotalClaimedAmount": 0.1, "CurrencyCode": "USD",'
           b' "OwnerLoginID": "a", "ApprovalStatusCode": "A_APPR", "PaymentStatusCode": "P_PAID",'
           b' "SubmitDate": "2025-01-02T03:04:05", "ProcessingPaymentDate": "2025-01-03T00:00:00",'
           b' "PaidDate": "2025-01-09T00:00:00", "OrgUnit1": {"Type": "List", "Value": "US01", "Code": "US01"}}')
    report = report_from_wire(msgspec.json.decode(raw, type=ReportWire))
    assert report.total == Money(Decimal("0.10"), "USD")
    assert report.submitted_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert report.paid_at == datetime(2025, 1, 9, tzinfo=UTC)


def test_personal_expenses_are_not_part_of_the_canonical_report() -> None:
    header, entries = report_to_wire(REPORT)
    personal = msgspec.structs.replace(entries[1], id="P", is_personal=True, posted_amount=Decimal("40.00"))
    mapped = report_from_wire(header, [*entries, personal])
    assert [e.id for e in mapped.entries] == ["E1", "E2"]
    assert entry_from_wire(personal, "EUR").posted_amount == Money(Decimal("40.00"), "EUR")
