"""Seed data building blocks: deterministic, and valid where validity matters (and invalid on purpose)."""

from __future__ import annotations

import random

import pytest
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from platforms.kit.seeddata import (
    bad_iban,
    bad_tax_id,
    bank_account,
    company_name,
    is_valid_tax_id,
    legal_entities,
    person_name,
    tax_id,
)

COUNTRIES = ["US", "DE", "GB", "FR", "NL", "JP"]


def test_legal_entities_cover_the_shared_company_codes() -> None:
    entities = {e.code: e for e in legal_entities()}
    assert {"US01", "DE01", "GB01"} <= set(entities)
    assert (entities["US01"].currency, entities["DE01"].currency, entities["GB01"].currency) == ("USD", "EUR", "GBP")
    for entity in entities.values():
        assert is_valid_tax_id(entity.country, entity.tax_id), entity


def test_generators_are_deterministic_per_seed() -> None:
    def sample(seed: int) -> list[object]:
        rng = random.Random(seed)
        return [person_name(rng), company_name(rng, "DE"), bank_account(rng, "GB"), tax_id(rng, "FR")]

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


@pytest.mark.parametrize("country", COUNTRIES)
def test_tax_ids_are_valid_and_bad_ones_are_not(country: str) -> None:
    rng = random.Random(3)
    for _ in range(20):
        assert is_valid_tax_id(country, tax_id(rng, country))
        assert not is_valid_tax_id(country, bad_tax_id(rng, country))


@pytest.mark.parametrize("country", ["DE", "GB", "FR", "NL"])
def test_ibans_validate_and_carry_the_banks_bic(country: str) -> None:
    rng = random.Random(4)
    for _ in range(10):
        account = bank_account(rng, country)
        assert account.iban is not None
        iban = IBAN(account.iban)
        assert iban.country_code == country
        assert iban.bic == BIC(account.bic)
    with pytest.raises(SchwiftyException):
        IBAN(bad_iban(rng, country))


@pytest.mark.parametrize("country", ["US", "JP"])
def test_accounts_without_iban_have_domestic_numbers(country: str) -> None:
    account = bank_account(random.Random(5), country)
    assert account.iban is None
    assert account.bank_code
    assert account.account_number
    assert BIC(account.bic).country_code == country


def test_unknown_countries_are_refused() -> None:
    with pytest.raises(ValueError, match="XX"):
        tax_id(random.Random(1), "XX")
    with pytest.raises(ValueError, match="XX"):
        bank_account(random.Random(1), "XX")
