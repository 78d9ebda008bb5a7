"""Deterministic building blocks for sandbox seeds: entities, names, bank accounts, tax ids.

Every generator takes the sandbox's seeded :class:`random.Random`, so the same seed gives the
same data on every machine. Bank accounts and tax ids are *valid* (IBAN checksums and bank
codes checked with ``schwifty``, tax ids with ``python-stdnum``), because the canonical model
validates them; ``bad_iban`` and ``bad_tax_id`` make invalid ones on purpose, to exercise
the validation paths.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import msgspec
from schwifty import BIC, IBAN
from stdnum.de import vat as de_vat
from stdnum.fr import siren as fr_siren
from stdnum.fr import tva as fr_tva
from stdnum.gb import vat as gb_vat
from stdnum.jp import cn as jp_cn
from stdnum.nl import btw as nl_btw
from stdnum.us import ein as us_ein

__all__ = [
    "BankAccountSeed",
    "LegalEntitySeed",
    "bad_iban",
    "bad_tax_id",
    "bank_account",
    "company_name",
    "is_valid_tax_id",
    "legal_entities",
    "person_name",
    "tax_id",
]


class LegalEntitySeed(msgspec.Struct, frozen=True, kw_only=True):
    """A company code every sandbox shares, so cross-platform flows line up."""

    code: str
    """Company code, e.g. ``US01``."""
    name: str
    """Registered name."""
    country: str
    """ISO 3166-1 alpha-2 country."""
    currency: str
    """ISO 4217 functional currency."""
    city: str
    """Seat of the company."""
    tax_id: str
    """Valid VAT / tax id of the entity (country prefix for EU VAT numbers)."""


class BankAccountSeed(msgspec.Struct, frozen=True, kw_only=True):
    """A valid bank account: an IBAN where the country has them, a domestic number otherwise."""

    country: str
    """ISO 3166-1 alpha-2 country of the bank."""
    bic: str
    """SWIFT/BIC of the bank (8 or 11 characters)."""
    bank_name: str
    """Name of the bank."""
    iban: str | None = None
    """IBAN (electronic format, no spaces); ``None`` in countries without IBANs (US, JP)."""
    bank_code: str | None = None
    """Domestic bank code: ABA routing number (US), Zengin bank code (JP)."""
    account_number: str | None = None
    """Domestic account number where there is no IBAN."""


_ENTITIES = (
    LegalEntitySeed(
        code="US01", name="Finrail Inc.", country="US", currency="USD", city="New York", tax_id="12-3456789"
    ),
    LegalEntitySeed(
        code="DE01", name="Finrail GmbH", country="DE", currency="EUR", city="Berlin", tax_id="DE136695976"
    ),
    LegalEntitySeed(code="GB01", name="Finrail Ltd", country="GB", currency="GBP", city="London", tax_id="GB980780684"),
    LegalEntitySeed(
        code="JP01", name="Finrail K.K.", country="JP", currency="JPY", city="Tokyo", tax_id="5835678256246"
    ),
)

# (bank code for IBAN generation, bank name); the BIC comes from schwifty's bank registry.
_IBAN_BANKS: dict[str, tuple[tuple[str, str], ...]] = {
    "DE": (("37040044", "Commerzbank"), ("10070000", "Deutsche Bank"), ("50010517", "ING-DiBa")),
    "GB": (("NWBK601613", "NatWest"), ("BARC200000", "Barclays"), ("HBUK400515", "HSBC UK")),
    "FR": (("3000600001", "Crédit Agricole"), ("2004101005", "La Banque Postale")),
    "NL": (("ABNA", "ABN AMRO"), ("INGB", "ING Bank"), ("RABO", "Rabobank")),
}
# Countries without IBANs: (bank code, BIC, bank name).
_DOMESTIC_BANKS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "US": (("021000021", "CHASUS33", "JPMorgan Chase"), ("026009593", "BOFAUS3N", "Bank of America")),
    "JP": (("0001", "MHCBJPJT", "Mizuho Bank"), ("0005", "BOTKJPJT", "MUFG Bank")),
}

_FIRST_NAMES = (
    "Anna", "Ben", "Chloé", "David", "Elif", "Felix", "Grace", "Hiro", "Ines", "Jonas",
    "Keiko", "Liam", "Maya", "Noah", "Olivia", "Pedro", "Quinn", "Rosa", "Sven", "Tara",
)  # fmt: skip
_LAST_NAMES = (
    "Schmidt", "Smith", "Müller", "Johnson", "Tanaka", "Dubois", "Brown", "Weber", "Garcia", "Jansen",
    "Sato", "Wilson", "Fischer", "Martin", "Taylor", "Becker", "Suzuki", "Moreau", "Davies", "Visser",
)  # fmt: skip
_COMPANY_WORDS = (
    "Acme", "Northwind", "Blue Harbor", "Granite", "Silverline", "Evergreen", "Atlas", "Brightway",
    "Cedar", "Horizon", "Keystone", "Lumen", "Meridian", "Nimbus", "Orchard", "Pioneer",
)  # fmt: skip
_COMPANY_TRADES = ("Logistics", "Office Supplies", "Consulting", "Software", "Facilities", "Travel", "Hardware")
_LEGAL_FORMS = {"US": "Inc.", "DE": "GmbH", "GB": "Ltd", "FR": "SAS", "NL": "B.V.", "JP": "K.K."}


def legal_entities() -> list[LegalEntitySeed]:
    """The legal entities (company codes) every sandbox knows: US01, DE01, GB01, JP01."""
    return list(_ENTITIES)


def person_name(rng: random.Random) -> tuple[str, str]:
    """A ``(first, last)`` name."""
    return rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)


def company_name(rng: random.Random, country: str = "US") -> str:
    """A supplier-like company name with the country's legal form, e.g. ``Atlas Logistics GmbH``."""
    form = _LEGAL_FORMS.get(country, "Ltd")
    return f"{rng.choice(_COMPANY_WORDS)} {rng.choice(_COMPANY_TRADES)} {form}"


def _digits(rng: random.Random, count: int, *, leading_zero: bool = True) -> str:
    first = str(rng.randrange(0 if leading_zero else 1, 10))
    return first + "".join(str(rng.randrange(10)) for _ in range(count - 1))


def bank_account(rng: random.Random, country: str) -> BankAccountSeed:
    """A valid bank account at a real bank of ``country`` (DE, GB, FR, NL, US, JP).

    Raises:
        ValueError: For a country without bank data here.
    """
    if country in _IBAN_BANKS:
        bank_code, bank_name = rng.choice(_IBAN_BANKS[country])
        iban = IBAN.generate(country, bank_code=bank_code, account_code=_digits(rng, 8, leading_zero=False))
        bic = iban.bic
        if bic is None:  # pragma: no cover - the tables above only name registered banks
            msg = f"no BIC for bank {bank_code} in {country}"
            raise ValueError(msg)
        return BankAccountSeed(country=country, bic=str(bic), bank_name=bank_name, iban=iban.compact)
    if country in _DOMESTIC_BANKS:
        bank_code, bic_code, bank_name = rng.choice(_DOMESTIC_BANKS[country])
        return BankAccountSeed(
            country=country,
            bic=str(BIC(bic_code)),
            bank_name=bank_name,
            bank_code=bank_code,
            account_number=_digits(rng, 10 if country == "US" else 7, leading_zero=False),
        )
    msg = f"no bank data for country {country!r}"
    raise ValueError(msg)


def bad_iban(rng: random.Random, country: str = "DE") -> str:
    """An IBAN of ``country`` whose check digits are wrong (fails validation on purpose)."""
    account = bank_account(rng, country)
    assert account.iban is not None, "bad_iban needs an IBAN country"
    check = int(account.iban[2:4])
    wrong = (check + 1 + rng.randrange(90)) % 97 + 2  # any other value in 02..98
    if wrong == check:
        wrong = 2 if check != 2 else 3
    return f"{account.iban[:2]}{wrong:02d}{account.iban[4:]}"


_Validator = Callable[[str], bool]
_VALIDATORS: dict[str, _Validator] = {
    "US": us_ein.is_valid,
    "DE": de_vat.is_valid,
    "GB": gb_vat.is_valid,
    "FR": fr_tva.is_valid,
    "NL": nl_btw.is_valid,
    "JP": jp_cn.is_valid,
}


def is_valid_tax_id(country: str, value: str) -> bool:
    """Whether ``value`` is a valid tax id of ``country`` per python-stdnum (and rtn for routing)."""
    validator = _VALIDATORS.get(country)
    return validator is not None and validator(value)


def _complete(valid: _Validator, make: Callable[[str], str], width: int) -> str | None:
    for n in range(10**width):
        candidate = make(f"{n:0{width}d}")
        if valid(candidate):
            return candidate
    return None


def tax_id(rng: random.Random, country: str) -> str:
    """A valid tax id of ``country``: US EIN, or VAT number (DE, GB, FR, NL), or JP corporate number.

    EU/UK VAT numbers carry their country prefix (``DE123456789``); the US EIN is formatted
    ``12-3456789``.

    Raises:
        ValueError: For a country without a generator here.
    """
    result: str | None
    if country == "US":
        result = us_ein.format(rng.choice(("12", "20", "27", "45", "46", "52", "84")) + _digits(rng, 7))
    elif country == "DE":
        base = _digits(rng, 8, leading_zero=False)
        result = _complete(de_vat.is_valid, lambda tail: f"DE{base}{tail}", 1)
    elif country == "GB":
        base = _digits(rng, 7, leading_zero=False)
        result = _complete(gb_vat.is_valid, lambda tail: f"GB{base}{tail}", 2)
    elif country == "NL":
        base = _digits(rng, 8, leading_zero=False)
        result = _complete(nl_btw.is_valid, lambda tail: f"NL{base}{tail}B01", 1)
    elif country == "FR":
        base = _digits(rng, 8, leading_zero=False)
        siren = _complete(lambda s: fr_siren.is_valid(s), lambda tail: base + tail, 1)
        result = None if siren is None else _complete(fr_tva.is_valid, lambda key: f"FR{key}{siren}", 2)
    elif country == "JP":
        base = _digits(rng, 12, leading_zero=False)
        result = _complete(jp_cn.is_valid, lambda check: f"{check}{base}", 1)
    else:
        msg = f"no tax id generator for country {country!r}"
        raise ValueError(msg)
    if result is None:  # pragma: no cover - every base above has a valid completion
        return tax_id(rng, country)
    return result


def bad_tax_id(rng: random.Random, country: str) -> str:
    """A tax id of ``country`` in the right shape but invalid (wrong check digit; US: prefix 00)."""
    valid = tax_id(rng, country)
    if country == "US":  # an EIN has no check digit; prefix 00 is never issued
        return "00" + valid[2:]
    digits = [i for i, ch in enumerate(valid) if ch.isdigit()]
    for position in reversed(digits):
        for delta in range(1, 10):
            candidate = valid[:position] + str((int(valid[position]) + delta) % 10) + valid[position + 1 :]
            if not is_valid_tax_id(country, candidate):
                return candidate
    msg = f"cannot make an invalid tax id for {country!r}"  # pragma: no cover
    raise ValueError(msg)  # pragma: no cover
