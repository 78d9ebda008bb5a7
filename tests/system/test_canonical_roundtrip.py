"""Every canonical Struct survives msgspec JSON: encode -> decode gives the original back.

Values are generated from each Struct's own field types (via msgspec.inspect), so a Struct added
later is covered without touching this file; only fields with cross-field rules get a hint.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import system_apis.canonical as canonical
from system_apis.canonical import (
    CURRENCY_MINOR_UNITS,
    BankAccount,
    JournalEntry,
    JournalEntryDraft,
    JournalLine,
    Money,
    Page,
    PaymentRun,
    Supplier,
    TaxId,
)

STRUCTS = sorted(
    (
        obj
        for obj in vars(canonical).values()
        if isinstance(obj, type) and issubclass(obj, msgspec.Struct) and not getattr(obj, "__parameters__", ())
    ),
    key=lambda cls: cls.__name__,
)

TAX_IDS = [
    TaxId(country="DE", value="DE136695976"),
    TaxId(country="FR", value="FR40303265045"),
    TaxId(country="GB", value="GB980780684"),
    TaxId(country="US", value="04-2103594"),
]
BANK_ACCOUNTS = [
    BankAccount(holder="ACME GmbH", iban="DE89370400440532013000", bic="DEUTDEFF"),
    BankAccount(holder="ACME Ltd", iban="GB29NWBK60161331926819", currency="GBP", id="0001"),
    BankAccount(holder="ACME Inc", account_number="123456789", bank_code="111000025", country="US"),
]
TIMEZONES = [dt.UTC, dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))]
TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12).map(lambda s: "x" + s)
DATES = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2060, 12, 31))
DECIMALS = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**9), places=4)

FIELD_HINTS: dict[str, st.SearchStrategy[Any]] = {
    "period": st.integers(min_value=1, max_value=16),
    "rate": st.decimals(min_value=0, max_value=100, places=3),
    "valid_to": st.none() | st.dates(min_value=dt.date(2061, 1, 1), max_value=dt.date(2099, 12, 31)),
    "end": st.dates(min_value=dt.date(2061, 1, 1), max_value=dt.date(2099, 12, 31)),
}
"""Fields whose valid values depend on another field: later dates sort after earlier ones."""


@st.composite
def balanced_lines(draw: st.DrawFn, currency: str) -> list[JournalLine]:
    total = Money.from_minor(draw(st.integers(min_value=2, max_value=10**12)), currency)
    parts = [part for part in total.split(draw(st.integers(min_value=1, max_value=3))) if part.is_positive()]
    debits = [JournalLine(gl_account="400000", side="debit", amount=part) for part in parts]
    return [*debits, JournalLine(gl_account="160000", side="credit", amount=total, cost_center=draw(TEXT))]


def for_type(t: mi.Type, currency: str, name: str = "") -> st.SearchStrategy[Any]:
    """A strategy for values of the msgspec type ``t``; every Money is a positive amount in ``currency``."""
    if name in FIELD_HINTS:
        return FIELD_HINTS[name]
    if isinstance(t, mi.Metadata):
        enum = (t.extra_json_schema or {}).get("extra", {}).get("enum")
        return st.just(currency) if enum else for_type(t.type, currency, name)
    if isinstance(t, mi.UnionType):
        return st.one_of(*(for_type(member, currency, name) for member in t.types))
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.StrType):
        if name == "currency":
            return st.just(currency)
        return st.from_regex(t.pattern, fullmatch=True) if t.pattern else TEXT
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        return st.integers(min_value=-(2**40), max_value=2**40)
    if isinstance(t, mi.DecimalType):
        return DECIMALS
    if isinstance(t, mi.DateType):
        return DATES
    if isinstance(t, mi.DateTimeType):
        return st.datetimes(
            min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2090, 1, 1), timezones=st.sampled_from(TIMEZONES)
        )
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.ListType):
        return st.lists(for_type(t.item_type, currency), min_size=1 if name == "lines" else 0, max_size=3)
    if isinstance(t, mi.StructType):
        return for_struct(t.cls, currency)
    raise AssertionError(f"no strategy for {t!r} ({name})")


def for_struct(cls: type[msgspec.Struct], currency: str) -> st.SearchStrategy[Any]:
    """A strategy building valid instances of ``cls`` field by field."""
    if cls is Money:
        return st.integers(min_value=1, max_value=10**15).map(lambda units: Money.from_minor(units, currency))
    if cls is TaxId:
        return st.sampled_from(TAX_IDS)
    if cls is BankAccount:
        return st.sampled_from(BANK_ACCOUNTS)
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in info.fields:
        if cls in (JournalEntry, JournalEntryDraft) and field.name == "lines":
            fields[field.name] = balanced_lines(currency)
        elif cls is PaymentRun and field.name == "totals":
            fields[field.name] = st.lists(for_struct(Money, currency), max_size=1)
        else:
            strategy = for_type(field.type, currency, field.name)
            fields[field.name] = strategy if field.required else st.none() | strategy if _nullable(field) else strategy
    return st.fixed_dictionaries(fields).map(lambda values: cls(**values))


def _nullable(field: mi.Field) -> bool:
    return isinstance(field.type, mi.UnionType) and any(isinstance(m, mi.NoneType) for m in field.type.types)


def test_every_public_struct_is_covered() -> None:
    names = {cls.__name__ for cls in STRUCTS}
    assert {"Money", "Supplier", "JournalEntry", "SupplierInvoice", "ExpenseReport", "BudgetLine"} <= names
    assert len(STRUCTS) >= 40


@pytest.mark.parametrize("cls", STRUCTS, ids=lambda cls: cls.__name__)
@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_json_round_trip(cls: type[msgspec.Struct], data: st.DataObject) -> None:
    currency = data.draw(st.sampled_from(sorted(CURRENCY_MINOR_UNITS)), label="currency")
    original = data.draw(for_struct(cls, currency), label=cls.__name__)
    encoded = msgspec.json.encode(original)
    assert msgspec.json.decode(encoded, type=cls) == original
    assert msgspec.json.encode(msgspec.json.decode(encoded, type=cls)) == encoded
    assert b'"amount":' not in encoded or b'"amount":"' in encoded  # amounts are strings, never numbers


@settings(max_examples=25)
@given(data=st.data())
def test_page_round_trip(data: st.DataObject) -> None:
    suppliers = data.draw(st.lists(for_struct(Supplier, "EUR"), max_size=3))
    page = Page(items=suppliers, next_cursor=data.draw(st.none() | TEXT))
    assert msgspec.json.decode(msgspec.json.encode(page), type=Page[Supplier]) == page
