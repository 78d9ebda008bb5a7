"""Journal entries balance per currency by construction; periods, cost centers, tax codes behave."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from system_apis.canonical import (
    CURRENCY_MINOR_UNITS,
    AccountingPeriod,
    CostCenter,
    JournalEntry,
    JournalEntryDraft,
    JournalLine,
    Money,
    SupplierInvoiceDraft,
    SupplierInvoiceLine,
    TaxCode,
    UnbalancedEntryError,
)

CURRENCIES = sorted(CURRENCY_MINOR_UNITS)
TODAY = dt.date(2025, 3, 14)


@st.composite
def balanced_lines(draw: st.DrawFn) -> list[JournalLine]:
    """Lines in 1-3 currencies: random debits, and credits that split the same total at random."""
    lines: list[JournalLine] = []
    for currency in draw(st.lists(st.sampled_from(CURRENCIES), min_size=1, max_size=3, unique=True)):
        debits = draw(st.lists(st.integers(min_value=1, max_value=10**12), min_size=1, max_size=4))
        total = Money.from_minor(sum(debits), currency)
        ratios = draw(st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=4))
        credits = [part for part in total.allocate(ratios) if part.is_positive()]
        lines += [JournalLine(gl_account="400000", side="debit", amount=Money.from_minor(d, currency)) for d in debits]
        lines += [JournalLine(gl_account="160000", side="credit", amount=c) for c in credits]
    return draw(st.permutations(lines))


def entry(lines: list[JournalLine]) -> JournalEntry:
    return JournalEntry(id="DE01-2025-1", company_code="DE01", posting_date=TODAY, document_date=TODAY, lines=lines)


@given(balanced_lines())
def test_balanced_lines_construct_and_round_trip(lines: list[JournalLine]) -> None:
    journal = entry(lines)
    assert msgspec.json.decode(msgspec.json.encode(journal), type=JournalEntry) == journal
    draft = JournalEntryDraft(company_code="DE01", posting_date=TODAY, lines=lines)
    assert msgspec.json.decode(msgspec.json.encode(draft), type=JournalEntryDraft) == draft


@given(balanced_lines(), st.data())
def test_one_minor_unit_off_on_any_line_is_refused(lines: list[JournalLine], data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
    line = lines[index]
    nudged = msgspec.structs.replace(line, amount=line.amount + Money.from_minor(1, line.amount.currency))
    perturbed = [*lines[:index], nudged, *lines[index + 1 :]]
    with pytest.raises(UnbalancedEntryError, match=f"{line.amount.currency} (debit|credit) excess"):
        entry(perturbed)
    with pytest.raises(UnbalancedEntryError):
        JournalEntryDraft(company_code="DE01", posting_date=TODAY, lines=perturbed)
    body = msgspec.json.encode(msgspec.structs.asdict(entry(lines)) | {"lines": perturbed})
    with pytest.raises(msgspec.ValidationError, match="do not balance"):
        msgspec.json.decode(body, type=JournalEntry)


def test_balance_is_per_currency_not_overall() -> None:
    lines = [
        JournalLine(gl_account="400000", side="debit", amount=Money.of("100.00", "EUR")),
        JournalLine(gl_account="160000", side="credit", amount=Money.of("100.00", "USD")),
    ]
    with pytest.raises(UnbalancedEntryError, match=r"EUR debit excess 100\.00; USD credit excess 100\.00"):
        entry(lines)


def test_a_single_line_is_not_an_entry() -> None:
    with pytest.raises(UnbalancedEntryError, match="at least two lines"):
        entry([JournalLine(gl_account="400000", side="debit", amount=Money.of("1.00", "EUR"))])


@pytest.mark.parametrize("amount", ["0.00", "-5.00"])
def test_journal_line_amount_must_be_positive(amount: str) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        JournalLine(gl_account="400000", side="debit", amount=Money.of(amount, "EUR"))


def test_journal_line_side_is_checked() -> None:
    with pytest.raises(ValueError, match="side must be one of debit, credit"):
        JournalLine(gl_account="400000", side="left", amount=Money.of("1.00", "EUR"))  # type: ignore[arg-type]
    with pytest.raises(msgspec.ValidationError, match="Invalid enum value 'left'"):
        msgspec.json.decode(
            b'{"gl_account": "1", "side": "left", "amount": {"amount": "1", "currency": "EUR"}}', type=JournalLine
        )


def test_accounting_period_validation_and_contains() -> None:
    period = AccountingPeriod(
        company_code="DE01", fiscal_year=2025, period=3, start=dt.date(2025, 3, 1), end=dt.date(2025, 3, 31), open=True
    )
    assert period.contains(TODAY)
    assert not period.contains(dt.date(2025, 4, 1))
    with pytest.raises(ValueError, match="between 1 and 16"):
        msgspec.structs.replace(period, period=17)
    with pytest.raises(ValueError, match="before start"):
        msgspec.structs.replace(period, end=dt.date(2025, 2, 28))


def test_cost_center_usable_only_when_active_and_valid() -> None:
    center = CostCenter(company_code="DE01", code="1010", name="Sales", valid_from=dt.date(2024, 1, 1),
                        valid_to=dt.date(2025, 12, 31))  # fmt: skip
    assert center.is_usable_on(TODAY)
    assert not center.is_usable_on(dt.date(2026, 1, 1))
    assert not center.is_usable_on(dt.date(2023, 12, 31))
    assert not msgspec.structs.replace(center, active=False).is_usable_on(TODAY)
    with pytest.raises(ValueError, match="before valid_from"):
        msgspec.structs.replace(center, valid_to=dt.date(2023, 1, 1))


def test_tax_code_rate_and_tax_on() -> None:
    code = TaxCode(code="V1", description="Input tax 19%", rate=Decimal(19), country="DE")
    assert code.tax_on(Money.of("100.05", "EUR")) == Money.of("19.01", "EUR")  # 19.0095
    with pytest.raises(ValueError, match="between 0 and 100"):
        TaxCode(code="X", description="bad", rate=Decimal(101))
    with pytest.raises(ValueError, match="Decimal percentage"):
        TaxCode(code="X", description="bad", rate=0.19)  # type: ignore[arg-type]


def test_supplier_invoice_draft_checks() -> None:
    line = SupplierInvoiceLine(line_number=1, amount=Money.of("100.00", "EUR"), gl_account="400000")
    draft = SupplierInvoiceDraft(company_code="DE01", supplier_id="17300001", invoice_number="INV-1",
                                 invoice_date=TODAY, gross_amount=Money.of("119.00", "EUR"),
                                 tax_amount=Money.of("19.00", "EUR"), lines=[line])  # fmt: skip
    assert draft.is_balanced()
    assert draft.currency == "EUR"
    assert not msgspec.structs.replace(draft, tax_amount=Money.of("18.99", "EUR")).is_balanced()
    with pytest.raises(ValueError, match="mixes currencies: EUR, USD"):
        msgspec.structs.replace(draft, tax_amount=Money.of("19.00", "USD"))
    with pytest.raises(ValueError, match="at least one line"):
        msgspec.structs.replace(draft, lines=[])
    with pytest.raises(msgspec.ValidationError, match="unknown field `status`"):
        msgspec.json.decode(msgspec.json.encode(draft)[:-1] + b', "status": "posted"}', type=SupplierInvoiceDraft)
