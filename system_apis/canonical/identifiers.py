"""Validated identifiers shared by the canonical model: tax ids, bank accounts, codes, instants.

A supplier record with a mistyped IBAN or VAT number is the classic source of a failed payment
or a rejected tax return. The canonical model therefore refuses such values at construction
(and on JSON decoding, since msgspec runs ``__post_init__`` there too) with a message saying
which value is wrong and why, and stores every identifier in one normal form so that searching
by tax id or IBAN compares like with like.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any, Final

import msgspec
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import get_cc_module

__all__ = [
    "BankAccount",
    "BankAccountError",
    "CompanyCode",
    "CountryCode",
    "Instant",
    "TaxId",
    "TaxIdError",
    "check_choice",
    "require_aware",
    "utc_now",
]

CountryCode = Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code")]
"""An ISO 3166-1 alpha-2 country code such as ``DE``."""

CompanyCode = Annotated[
    str, msgspec.Meta(pattern="^[A-Z0-9]{1,10}$", description="Company code of a legal entity, e.g. DE01")
]
"""The code of a legal entity (SAP company code), e.g. ``DE01``."""

Instant = Annotated[dt.datetime, msgspec.Meta(tz=True, description="RFC 3339 date-time with a UTC offset")]
"""A point in time; always timezone-aware (decoding refuses naive date-times)."""


def utc_now() -> dt.datetime:
    """The current time, UTC-aware."""
    return dt.datetime.now(dt.UTC)


def require_aware(value: dt.datetime | None, field: str) -> dt.datetime | None:
    """Check that ``value`` is a timezone-aware datetime and return it converted to UTC.

    Raises:
        ValueError: ``value`` is naive or not a datetime.
    """
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{field} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} must be timezone-aware (naive datetimes are ambiguous)")
    return value.astimezone(dt.UTC)


def check_choice(value: object, choices: Iterable[str], field: str) -> None:
    """Check that ``value`` is one of ``choices`` (status codes are Literal types, unchecked by ``__init__``).

    Raises:
        ValueError: ``value`` is not allowed.
    """
    allowed = tuple(choices)
    if value not in allowed:
        raise ValueError(f"{field} must be one of {', '.join(allowed)}; got {value!r}")


# -- tax ids ---------------------------------------------------------------------------------


class TaxIdError(ValueError):
    """A tax id that is malformed, fails its check digits, or has no validator for its country."""


_VAT_PREFIX: Final = {"GR": "EL"}
"""Countries whose VAT prefix differs from their ISO code."""
_NATIONAL_SCHEME: Final = {"US": "ein"}
"""Countries without a VAT: the national business tax number used instead."""


def _tax_module(country: str) -> tuple[str, Any]:
    scheme = _NATIONAL_SCHEME.get(country, "vat")
    module = get_cc_module(country.lower(), scheme) if country.isalpha() and len(country) == 2 else None
    if module is None:
        raise TaxIdError(f"no tax id validator for country {country!r}")
    return scheme, module


class TaxId(msgspec.Struct, frozen=True, kw_only=True):
    """A business tax id, validated with python-stdnum for its country.

    VAT numbers (EU, GB, CH, NO, ...) are stored in compact form with their country prefix
    (``DE136695976``, ``GB980780684``, ``EL094259216``); a US EIN is stored as ``12-3456789``.
    Input may carry spaces, dots, dashes and, for VAT numbers, the prefix or not.
    """

    country: CountryCode
    """ISO 3166-1 alpha-2 code of the issuing country."""
    value: str
    """The normalised tax number."""

    def __post_init__(self) -> None:
        if not isinstance(self.country, str) or not isinstance(self.value, str):
            raise TaxIdError("tax id country and value must be strings")
        country = self.country.upper()
        scheme, module = _tax_module(country)
        number: Any = self.value.strip()
        try:
            if scheme == "vat":
                prefix = _VAT_PREFIX.get(country, country)
                # stdnum answers the compact form without the country prefix, except where the
                # prefix is part of the number itself (Swiss CHE...).
                try:
                    valid = module.validate(number)
                except ValueError:
                    # Some schemes (Japan's corporate number) refuse the prefix our own
                    # normalised form carries; a value read back must validate again.
                    compact = "".join(ch for ch in number if ch not in " .-").upper()
                    if not compact.startswith(prefix):
                        raise
                    valid = module.validate(compact[len(prefix):])
                normalised = valid if valid.upper().startswith(prefix) else prefix + valid
            else:
                normalised = module.format(module.validate(number))
        except ValueError as error:  # stdnum's ValidationError subclasses ValueError
            raise TaxIdError(f"invalid {country} {scheme.upper()} {self.value!r}: {error}") from None
        msgspec.structs.force_setattr(self, "country", country)
        msgspec.structs.force_setattr(self, "value", normalised)

    @property
    def scheme(self) -> str:
        """``vat`` or the national scheme (``ein`` for the US)."""
        return _NATIONAL_SCHEME.get(self.country, "vat")

    @classmethod
    def parse(cls, value: str, country: str | None = None) -> TaxId:
        """Build from a VAT number with its prefix (``"DE 136 695 976"``) or from value and country.

        Raises:
            TaxIdError: no country can be found, or the number is invalid.
        """
        if country is None:
            prefix = value.strip()[:2].upper()
            country = {"EL": "GR"}.get(prefix, prefix)
        return cls(country=country, value=value)


# -- bank accounts --------------------------------------------------------------------------


class BankAccountError(ValueError):
    """A bank account with an invalid IBAN, BIC, routing number or missing parts."""


class BankAccount(msgspec.Struct, frozen=True, kw_only=True):
    """A payee's bank account, validated with schwifty.

    Either an ``iban`` (validated and stored compact, e.g. ``DE89370400440532013000``) or, for
    countries without IBANs such as the US, ``account_number`` plus ``bank_code`` (for the US
    the ABA routing number, checked with python-stdnum) and ``country``. The ``bic`` is optional
    (SEPA does not need it) but validated when present and stored compact (8 or 11 characters).
    """

    holder: str
    """Name of the account holder, as the bank knows it."""
    iban: str | None = None
    """International Bank Account Number, compact upper case."""
    bic: str | None = None
    """SWIFT BIC of the bank, compact upper case."""
    account_number: str | None = None
    """National account number, when the country has no IBAN."""
    bank_code: str | None = None
    """National bank code (US: ABA routing number), when the country has no IBAN."""
    country: CountryCode | None = None
    """Country of the bank; derived from the IBAN when one is given."""
    currency: str | None = None
    """Currency the account is held in, if known."""
    bank_name: str | None = None
    """Name of the bank, if known."""
    id: str | None = None
    """The account's id within its owner (e.g. SAP ``BankIdentification``), if any."""

    def __post_init__(self) -> None:
        if not isinstance(self.holder, str) or not self.holder.strip():
            raise BankAccountError("bank account holder must be a non-empty name")
        if self.iban is not None:
            try:
                iban = IBAN(self.iban)
            except SchwiftyException as error:
                raise BankAccountError(f"invalid IBAN {self.iban!r}: {error}") from None
            iban_country = iban.country_code
            if self.country is not None and self.country.upper() != iban_country:
                raise BankAccountError(f"IBAN {self.iban!r} is from {iban_country}, not {self.country}")
            msgspec.structs.force_setattr(self, "iban", iban.compact)
            msgspec.structs.force_setattr(self, "country", iban_country)
        elif self.account_number is None or self.bank_code is None or self.country is None:
            raise BankAccountError("a bank account needs an IBAN, or an account number, bank code and country")
        else:
            country = self.country.upper()
            account = self.account_number.replace(" ", "").replace("-", "")
            if not account.isalnum() or not 4 <= len(account) <= 34:
                raise BankAccountError(f"invalid account number {self.account_number!r}")
            bank_code = self.bank_code.replace(" ", "").replace("-", "")
            if country == "US":
                rtn = get_cc_module("us", "rtn")
                assert rtn is not None
                try:
                    bank_code = rtn.validate(bank_code)
                except ValueError as error:
                    raise BankAccountError(f"invalid US routing number {self.bank_code!r}: {error}") from None
            msgspec.structs.force_setattr(self, "country", country)
            msgspec.structs.force_setattr(self, "account_number", account)
            msgspec.structs.force_setattr(self, "bank_code", bank_code)
        if self.bic is not None:
            try:
                bic = BIC(self.bic)
            except SchwiftyException as error:
                raise BankAccountError(f"invalid BIC {self.bic!r}: {error}") from None
            msgspec.structs.force_setattr(self, "bic", bic.compact)
