"""Money: exact amounts, enforced minor units, no mixed currencies, exact allocation."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from system_apis.canonical import CURRENCY_MINOR_UNITS, CurrencyMismatchError, Money, MoneyError

CURRENCIES = sorted(CURRENCY_MINOR_UNITS)
UNITS = st.integers(min_value=-(10**15), max_value=10**15)


@st.composite
def monies(draw: st.DrawFn, currency: str | None = None) -> Money:
    code = currency or draw(st.sampled_from(CURRENCIES))
    return Money.from_minor(draw(UNITS), code)


@st.composite
def same_currency(draw: st.DrawFn, count: int) -> list[Money]:
    code = draw(st.sampled_from(CURRENCIES))
    return [draw(monies(code)) for _ in range(count)]


def decimals_of(money: Money) -> int:
    exponent = money.amount.as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


# -- construction and validation ----------------------------------------------------------------


def test_amount_is_normalised_to_the_minor_units_of_its_currency() -> None:
    assert Money(Decimal("12.5"), "EUR").amount.as_tuple() == Decimal("12.50").as_tuple()
    assert str(Money(Decimal(7), "BHD")) == "7.000 BHD"
    assert str(Money(Decimal("1500"), "JPY")) == "1500 JPY"
    assert str(Money(Decimal("12.500"), "EUR")) == "12.50 EUR"  # trailing zeros are not precision


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("12.345", "EUR"), ("1.5", "JPY"), ("0.0001", "KWD"), ("0.001", "USD")],
)
def test_more_decimals_than_the_currency_has_is_refused(amount: str, currency: str) -> None:
    with pytest.raises(MoneyError, match="more decimals than"):
        Money(Decimal(amount), currency)


def test_a_float_is_never_money() -> None:
    with pytest.raises(MoneyError, match="floats are never used"):
        Money(12.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money.of(12.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        Money(True, "EUR")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity", "1E+18"])
def test_non_finite_and_absurd_amounts_are_refused(amount: str) -> None:
    with pytest.raises(MoneyError):
        Money(Decimal(amount), "USD")


@pytest.mark.parametrize("currency", ["XYZ", "eur", "EURO", ""])
def test_unknown_currency_is_refused(currency: str) -> None:
    with pytest.raises(MoneyError, match="unknown currency"):
        Money(Decimal(1), currency)


def test_of_parses_strings_and_refuses_garbage() -> None:
    assert Money.of("12.50", "EUR") == Money(Decimal("12.50"), "EUR")
    assert Money.of(3, "JPY").amount == 3
    with pytest.raises(MoneyError, match="not a decimal number"):
        Money.of("twelve", "EUR")


def test_negative_zero_is_plain_zero_on_the_wire() -> None:
    assert msgspec.json.encode(Money(Decimal("-0.00"), "EUR")) == b'{"amount":"0.00","currency":"EUR"}'


# -- JSON --------------------------------------------------------------------------------------------


def test_json_amount_is_a_string_with_the_minor_units() -> None:
    assert msgspec.json.encode(Money(Decimal("12.5"), "EUR")) == b'{"amount":"12.50","currency":"EUR"}'
    assert msgspec.json.encode(Money(Decimal(5), "KWD")) == b'{"amount":"5.000","currency":"KWD"}'


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"amount": "12.345", "currency": "EUR"}', "more decimals"),
        (b'{"amount": "10", "currency": "ABC"}', "unknown currency"),
        (b'{"amount": "ten", "currency": "EUR"}', "Invalid decimal"),
        (b'{"amount": "10", "currency": "eur"}', "matching regex"),
    ],
)
def test_decoding_json_validates(body: bytes, reason: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=reason):
        msgspec.json.decode(body, type=Money)


@given(monies())
def test_json_round_trip(money: Money) -> None:
    encoded = msgspec.json.encode(money)
    assert msgspec.json.decode(encoded, type=Money) == money
    assert isinstance(msgspec.json.decode(encoded)["amount"], str)


# -- arithmetic properties ----------------------------------------------------------------------------


@given(same_currency(2))
def test_add_is_commutative(pair: list[Money]) -> None:
    a, b = pair
    assert a + b == b + a


@given(same_currency(3))
def test_add_is_associative(triple: list[Money]) -> None:
    a, b, c = triple
    assert (a + b) + c == a + (b + c)


@given(monies())
def test_a_plus_minus_a_is_zero(a: Money) -> None:
    assert (a + -a).is_zero()
    assert a - a == Money.zero(a.currency)
    assert a.__neg__().__neg__() == a


@given(same_currency(2))
def test_subtract_is_adding_the_negation(pair: list[Money]) -> None:
    a, b = pair
    assert a - b == a + (-b)
    assert (a - b) + b == a


def test_mixed_currencies_are_refused() -> None:
    eur, usd = Money.of("1.00", "EUR"), Money.of("1.00", "USD")
    with pytest.raises(CurrencyMismatchError, match="cannot add EUR and USD"):
        eur + usd
    with pytest.raises(CurrencyMismatchError):
        eur - usd
    with pytest.raises(CurrencyMismatchError):
        assert eur < usd
    with pytest.raises(CurrencyMismatchError):
        Money.sum([eur, usd], "EUR")
    with pytest.raises(TypeError):
        eur + Decimal(1)  # type: ignore[operator]


def test_comparison_within_a_currency() -> None:
    small, large = Money.of("1.00", "EUR"), Money.of("2.00", "EUR")
    assert small < large
    assert large >= small
    assert max([small, large]) == large


# -- multiplication and rounding ----------------------------------------------------------------------


@given(
    monies(),
    st.decimals(min_value=-1000, max_value=1000, places=6, allow_nan=False, allow_infinity=False),
)
def test_multiply_rounds_half_even_to_the_minor_units(money: Money, factor: Decimal) -> None:
    result = money * factor
    assert result.currency == money.currency
    assert decimals_of(result) == CURRENCY_MINOR_UNITS[money.currency]
    with localcontext() as ctx:
        ctx.prec = 60
        exact = money.amount * factor
    assert abs(exact - result.amount) <= Decimal(1).scaleb(-money.minor_units) / 2


@pytest.mark.parametrize(
    ("amount", "factor", "expected"),
    [
        ("0.25", "0.5", "0.12"),  # 0.125 -> 0.12 (half to even)
        ("0.35", "0.5", "0.18"),  # 0.175 -> 0.18
        ("100.00", "0.19", "19.00"),
        ("-0.25", "0.5", "-0.12"),
    ],
)
def test_banker_rounding_examples(amount: str, factor: str, expected: str) -> None:
    assert (Money.of(amount, "EUR") * Decimal(factor)).amount == Decimal(expected)


def test_rounding_mode_can_be_chosen_explicitly() -> None:
    assert Money.of("0.25", "EUR").multiply(Decimal("0.5"), rounding=ROUND_HALF_UP).amount == Decimal("0.13")
    assert Money.of("7", "JPY").multiply(Decimal("0.5"), rounding=ROUND_HALF_EVEN).amount == Decimal(4)


def test_multiply_by_a_float_is_refused() -> None:
    with pytest.raises(MoneyError, match="float"):
        Money.of("1.00", "EUR") * 1.5  # type: ignore[operator]
    assert 3 * Money.of("1.10", "EUR") == Money.of("3.30", "EUR")


# -- allocation ----------------------------------------------------------------------------------------


@given(monies(), st.integers(min_value=1, max_value=50))
def test_split_sums_exactly_and_parts_differ_by_at_most_one_minor_unit(money: Money, parts: int) -> None:
    shares = money.split(parts)
    assert len(shares) == parts
    assert Money.sum(shares, money.currency) == money
    units = [share.to_minor() for share in shares]
    assert max(units) - min(units) <= 1
    assert all(decimals_of(share) == money.minor_units for share in shares)


@given(monies(), st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=10).filter(any))
def test_allocate_sums_exactly_and_each_part_is_within_one_unit_of_its_share(
    money: Money, ratios: list[int]
) -> None:
    shares = money.allocate(ratios)
    assert Money.sum(shares, money.currency) == money
    total = sum(ratios)
    for share, ratio in zip(shares, ratios, strict=True):
        exact = Decimal(money.to_minor()) * ratio / total
        assert abs(Decimal(share.to_minor()) - exact) < 1


def test_split_example_and_bad_arguments() -> None:
    assert [str(m) for m in Money.of("10.00", "EUR").split(3)] == ["3.34 EUR", "3.33 EUR", "3.33 EUR"]
    with pytest.raises(MoneyError):
        Money.of("10.00", "EUR").split(0)
    with pytest.raises(MoneyError):
        Money.of("10.00", "EUR").allocate([0, 0])
    with pytest.raises(MoneyError):
        Money.of("10.00", "EUR").allocate([1, -1])
    with pytest.raises(MoneyError):
        Money.of("10.00", "EUR").allocate([0.5, 0.5])  # type: ignore[list-item]
