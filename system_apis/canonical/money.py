"""Money: an exact amount in one ISO 4217 currency, never a float.

Finance data crosses five platforms with different number formats. Keeping every amount as a
:class:`~decimal.Decimal` tied to its currency, checking the currency's minor units at
construction and refusing arithmetic across currencies means a rounding or currency mistake
fails loudly at the boundary instead of turning into a booking difference weeks later.

On the wire a :class:`Money` is ``{"amount": "12.50", "currency": "EUR"}``: the amount is a
JSON string, so no JSON parser anywhere turns it into a binary float.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Final

import msgspec

__all__ = [
    "AMOUNT_PATTERN",
    "CURRENCY_MINOR_UNITS",
    "MAX_AMOUNT",
    "Amount",
    "CurrencyCode",
    "CurrencyMismatchError",
    "Money",
    "MoneyError",
    "OptionalCurrencyCode",
    "minor_units",
]

CURRENCY_MINOR_UNITS: Final[dict[str, int]] = {
    # 0 decimals
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    # 3 decimals
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # 4 decimals
    "CLF": 4, "UYW": 4,
    # 2 decimals
    "AED": 2, "ARS": 2, "AUD": 2, "BDT": 2, "BGN": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2,
    "COP": 2, "CZK": 2, "DKK": 2, "DZD": 2, "EGP": 2, "EUR": 2, "GBP": 2, "GHS": 2, "HKD": 2,
    "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "KES": 2, "KZT": 2, "LKR": 2, "MAD": 2, "MXN": 2,
    "MYR": 2, "NGN": 2, "NOK": 2, "NZD": 2, "PEN": 2, "PHP": 2, "PKR": 2, "PLN": 2, "QAR": 2,
    "RON": 2, "RSD": 2, "RUB": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TRY": 2, "TWD": 2,
    "UAH": 2, "USD": 2, "UYU": 2, "ZAR": 2,
}  # fmt: skip
"""Minor units (decimal places) of the supported ISO 4217 currencies."""

CurrencyCode = Annotated[
    str,
    msgspec.Meta(
        pattern="^[A-Z]{3}$",
        extra_json_schema={
            "description": "ISO 4217 alphabetic currency code",
            "examples": ["EUR"],
            "extra": {"enum": sorted(CURRENCY_MINOR_UNITS)},
        },
    ),
]
"""An ISO 4217 alphabetic currency code such as ``EUR`` (one of :data:`CURRENCY_MINOR_UNITS`)."""

OptionalCurrencyCode = (
    Annotated[
        str,
        msgspec.Meta(
            pattern="^[A-Z]{3}$",
            extra_json_schema={
                "description": "ISO 4217 alphabetic currency code, or null",
                "examples": ["EUR"],
                # Litestar renders ``X | None`` as one schema whose ``enum`` applies to null too.
                "extra": {"enum": [*sorted(CURRENCY_MINOR_UNITS), None]},
            },
        ),
    ]
    | None
)
"""A :data:`CurrencyCode` or ``None``, documented so that ``null`` is valid."""

AMOUNT_PATTERN: Final = r"^-?[0-9]{1,18}(\.[0-9]{1,4})?$"
"""What an amount looks like on the wire; the currency then limits the decimals further."""

Amount = Annotated[
    Decimal,
    msgspec.Meta(
        extra_json_schema={
            "description": "Decimal amount as a string, with at most the currency's minor units of decimals",
            "examples": ["12.50"],
            "extra": {"pattern": AMOUNT_PATTERN},
        }
    ),
]
"""A decimal amount; JSON string on the wire."""

MAX_AMOUNT: Final = Decimal(10) ** 18
"""Exclusive bound on the magnitude of an amount: far above any real booking, and it keeps
every amount inside ``NUMERIC(22, 4)`` columns and the exact range of the arithmetic below."""

_CONTEXT: Final = decimal.Context(prec=40, rounding=ROUND_HALF_EVEN, traps=[decimal.InvalidOperation])


class MoneyError(ValueError):
    """An amount or currency that cannot be a :class:`Money`, or an operation Money refuses."""


class CurrencyMismatchError(MoneyError):
    """Arithmetic or comparison between amounts in different currencies."""


def minor_units(currency: str) -> int:
    """Return the number of decimal places of ``currency``.

    Raises:
        MoneyError: the currency is not a supported ISO 4217 code.
    """
    try:
        return CURRENCY_MINOR_UNITS[currency]
    except (KeyError, TypeError):
        raise MoneyError(f"unknown currency {currency!r}: expected a supported ISO 4217 code") from None


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


class Money(msgspec.Struct, frozen=True):
    """An exact amount of one currency.

    Construction validates: ``amount`` must be a :class:`~decimal.Decimal` (or ``int``; a
    ``float`` is refused because it already lost precision), finite, below :data:`MAX_AMOUNT`,
    with no more decimals than the currency's minor units. The stored amount is normalised to
    exactly the minor units, so ``Money(Decimal("12.5"), "EUR")`` encodes as ``"12.50"``.
    Decoding JSON runs the same checks (msgspec calls ``__post_init__``).

    Example:
        >>> Money(Decimal("10.00"), "EUR") + Money(Decimal("2.50"), "EUR")
        Money(amount=Decimal('12.50'), currency='EUR')
    """

    amount: Amount
    """The amount, with exactly the currency's minor units; negative for credits/refunds."""
    currency: CurrencyCode
    """ISO 4217 alphabetic currency code."""

    def __post_init__(self) -> None:
        amount: Any = self.amount
        if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
            raise MoneyError(
                f"amount must be a Decimal or int, not {type(amount).__name__}: floats are never used for money"
            )
        amount = Decimal(amount)
        if not amount.is_finite():
            raise MoneyError(f"amount must be finite, got {amount}")
        if abs(amount) >= MAX_AMOUNT:
            raise MoneyError(f"amount {amount} is out of range (magnitude must be below 10^18)")
        digits = minor_units(self.currency)
        exponent = amount.as_tuple().exponent
        assert isinstance(exponent, int)  # finite, checked above
        if -exponent > digits:
            normalised = amount.normalize(_CONTEXT)
            exponent = normalised.as_tuple().exponent
            assert isinstance(exponent, int)
            if -exponent > digits:
                raise MoneyError(
                    f"amount {amount} has more decimals than {self.currency} allows ({digits} minor units)"
                )
        quantised = amount.quantize(_quantum(self.currency), context=_CONTEXT)
        if quantised.is_zero():
            quantised = abs(quantised)  # no "-0.00" on the wire
        msgspec.structs.force_setattr(self, "amount", quantised)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Build from a decimal string, int or Decimal, e.g. ``Money.of("12.50", "EUR")``.

        Raises:
            MoneyError: the string is not a decimal number, or the amount is invalid.
        """
        if isinstance(amount, str):
            try:
                amount = Decimal(amount)
            except decimal.InvalidOperation:
                raise MoneyError(f"amount {amount!r} is not a decimal number") from None
            return cls(amount, currency)
        if isinstance(amount, bool) or not isinstance(amount, (int, Decimal)):
            raise MoneyError(f"amount must be a decimal string, int or Decimal, not {type(amount).__name__}")
        return cls(Decimal(amount), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Zero in ``currency``."""
        return cls(Decimal(0), currency)

    @classmethod
    def from_minor(cls, units: int, currency: str) -> Money:
        """Build from an integer count of minor units, e.g. ``from_minor(1250, "EUR")`` is 12.50 EUR."""
        return cls(Decimal(units).scaleb(-minor_units(currency)), currency)

    @classmethod
    def sum(cls, items: Sequence[Money], currency: str) -> Money:
        """Add up ``items`` (all in ``currency``); an empty sequence gives zero.

        Raises:
            CurrencyMismatchError: an item is in another currency.
        """
        total = cls.zero(currency)
        for item in items:
            total = total + item
        return total

    # -- inspection ---------------------------------------------------------------------------

    @property
    def minor_units(self) -> int:
        """Decimal places of this currency."""
        return minor_units(self.currency)

    def to_minor(self) -> int:
        """The amount as an integer count of minor units (12.50 EUR -> 1250)."""
        return int(self.amount.scaleb(self.minor_units, context=_CONTEXT))

    def is_zero(self) -> bool:
        """Whether the amount is zero."""
        return self.amount.is_zero()

    def is_positive(self) -> bool:
        """Whether the amount is strictly above zero."""
        return self.amount > 0

    def is_negative(self) -> bool:
        """Whether the amount is strictly below zero."""
        return self.amount < 0

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    # -- arithmetic ---------------------------------------------------------------------------

    def _same_currency(self, other: object, operation: str) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot {operation} Money and {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatchError(f"cannot {operation} {self.currency} and {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        other = self._same_currency(other, "add")
        return Money(_CONTEXT.add(self.amount, other.amount), self.currency)

    def __sub__(self, other: Money) -> Money:
        other = self._same_currency(other, "subtract")
        return Money(_CONTEXT.subtract(self.amount, other.amount), self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def multiply(self, factor: Decimal | int, *, rounding: str = ROUND_HALF_EVEN) -> Money:
        """Multiply by an exact factor and round to the currency's minor units.

        Args:
            factor: a Decimal or int (a float is refused).
            rounding: a :mod:`decimal` rounding mode; banker's rounding by default.

        Raises:
            MoneyError: ``factor`` is a float or not finite.
        """
        if isinstance(factor, bool) or not isinstance(factor, (Decimal, int)):
            raise MoneyError(f"factor must be a Decimal or int, not {type(factor).__name__}")
        factor = Decimal(factor)
        if not factor.is_finite():
            raise MoneyError(f"factor must be finite, got {factor}")
        product = _CONTEXT.multiply(self.amount, factor)
        return Money(product.quantize(_quantum(self.currency), rounding=rounding, context=_CONTEXT), self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, float):
            raise MoneyError("cannot multiply Money by a float: use a Decimal")
        if not isinstance(factor, (Decimal, int)):
            return NotImplemented
        return self.multiply(factor)

    __rmul__ = __mul__

    def split(self, parts: int) -> list[Money]:
        """Split into ``parts`` amounts that sum exactly to this one and differ by at most one minor unit.

        The leftover minor units go to the first parts, so ``10.00`` in 3 is ``3.34, 3.33, 3.33``.

        Raises:
            MoneyError: ``parts`` is below 1.
        """
        if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
            raise MoneyError(f"parts must be a positive int, got {parts!r}")
        return self.allocate([1] * parts)

    def allocate(self, ratios: Sequence[Decimal | int]) -> list[Money]:
        """Allocate this amount by ``ratios``; the parts always sum exactly to the total.

        Each part gets the floor of its exact share in minor units; the remaining minor units
        go one each to the parts with the largest remainders (earlier parts win ties). Equal
        ratios therefore give parts that differ by at most one minor unit.

        Raises:
            MoneyError: no ratios, a negative or float ratio, or all ratios zero.
        """
        if not ratios:
            raise MoneyError("allocate needs at least one ratio")
        weights: list[Decimal] = []
        for ratio in ratios:
            if isinstance(ratio, bool) or not isinstance(ratio, (Decimal, int)):
                raise MoneyError(f"ratios must be Decimal or int, not {type(ratio).__name__}")
            weight = Decimal(ratio)
            if not weight.is_finite() or weight < 0:
                raise MoneyError(f"ratios must be finite and not negative, got {ratio}")
            weights.append(weight)
        total_weight = sum(weights, Decimal(0))
        if total_weight == 0:
            raise MoneyError("ratios must not all be zero")
        units = self.to_minor()
        sign = -1 if units < 0 else 1
        units = abs(units)
        shares: list[int] = []
        remainders: list[Decimal] = []
        for weight in weights:
            exact = _CONTEXT.divide(_CONTEXT.multiply(Decimal(units), weight), total_weight)
            share = int(exact)  # floor: exact >= 0
            shares.append(share)
            remainders.append(exact - share)
        leftover = units - sum(shares)
        order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
        for i in order[:leftover]:
            shares[i] += 1
        return [Money.from_minor(sign * share, self.currency) for share in shares]

    # -- comparison (same currency only) -------------------------------------------------------

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same_currency(other, "compare").amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same_currency(other, "compare").amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same_currency(other, "compare").amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same_currency(other, "compare").amount
