"""Tax ids and bank accounts: validated on construction and on decoding, stored in one normal form."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from system_apis.canonical import (
    BankAccount,
    BankAccountError,
    Supplier,
    SupplierDraft,
    TaxId,
    TaxIdError,
    require_aware,
)


@pytest.mark.parametrize(
    ("country", "given", "stored"),
    [
        ("DE", "DE 136 695 976", "DE136695976"),
        ("DE", "136695976", "DE136695976"),
        ("FR", "FR 40 303 265 045", "FR40303265045"),
        ("GB", "GB980 7806 84", "GB980780684"),
        ("NL", "NL004495445B01", "NL004495445B01"),
        ("IT", "IT 00743110157", "IT00743110157"),
        ("ES", "ES-A13585625", "ESA13585625"),
        ("GR", "EL094259216", "EL094259216"),
        ("CH", "CHE-107.787.577 IVA", "CHE107787577IVA"),
        ("US", "042103594", "04-2103594"),
        ("JP", "3974315274205", "JP3974315274205"),  # stdnum refuses the prefix; read-back must work
        ("de", "DE136695976", "DE136695976"),
    ],
)
def test_valid_tax_ids_are_normalised(country: str, given: str, stored: str) -> None:
    tax_id = TaxId(country=country, value=given)
    assert tax_id.value == stored
    assert tax_id.country == country.upper()
    assert TaxId(country=tax_id.country, value=tax_id.value) == tax_id  # normal form is stable


@pytest.mark.parametrize(
    ("country", "value"),
    [
        ("DE", "DE136695977"),  # check digit
        ("FR", "FR41303265045"),
        ("GB", "GB980780685"),
        ("NL", "NL004495446B01"),
        ("IT", "IT00743110158"),
        ("ES", "ESA13585626"),
        ("US", "00-0000000"),  # no such EIN prefix
        ("DE", "FR40303265045"),  # a valid number of another country
        ("DE", ""),
    ],
)
def test_invalid_tax_ids_are_refused_with_a_clear_message(country: str, value: str) -> None:
    with pytest.raises(TaxIdError, match=f"invalid {country} (VAT|EIN)"):
        TaxId(country=country, value=value)


def test_tax_id_for_a_country_without_a_validator_is_refused() -> None:
    with pytest.raises(TaxIdError, match="no tax id validator for country 'XX'"):
        TaxId(country="XX", value="123")


def test_parse_takes_the_country_from_the_prefix() -> None:
    assert TaxId.parse("EL094259216").country == "GR"
    assert TaxId.parse("FR40303265045") == TaxId(country="FR", value="40303265045")
    assert TaxId.parse("04-2103594", "US").scheme == "ein"


def test_decoding_a_bad_tax_id_fails_validation() -> None:
    with pytest.raises(msgspec.ValidationError, match="invalid DE VAT"):
        msgspec.json.decode(b'{"country": "DE", "value": "DE000000000"}', type=TaxId)


def test_valid_iban_and_bic_are_stored_compact() -> None:
    account = BankAccount(holder="ACME GmbH", iban="de89 3704 0044 0532 0130 00", bic="deutdeff")
    assert account.iban == "DE89370400440532013000"
    assert account.bic == "DEUTDEFF"
    assert account.country == "DE"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"iban": "DE89370400440532013001"}, "invalid IBAN 'DE89370400440532013001'"),  # checksum
        ({"iban": "XX89370400440532013000"}, "invalid IBAN"),  # country
        ({"iban": "DE8937040044053201300"}, "invalid IBAN"),  # length
        ({"iban": "DE89370400440532013000", "bic": "DEUT1EFF"}, "invalid BIC 'DEUT1EFF'"),
        ({"iban": "DE89370400440532013000", "country": "FR"}, "is from DE, not FR"),
        ({"account_number": "123456789", "bank_code": "111000026", "country": "US"}, "invalid US routing number"),
        ({"account_number": "123456789"}, "needs an IBAN, or an account number, bank code and country"),
    ],
)
def test_invalid_bank_accounts_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(BankAccountError, match=message):
        BankAccount(holder="ACME", **fields)


def test_bank_account_needs_a_holder() -> None:
    with pytest.raises(BankAccountError, match="holder"):
        BankAccount(holder="  ", iban="DE89370400440532013000")


def test_us_account_with_a_valid_routing_number() -> None:
    account = BankAccount(holder="ACME Inc", account_number="0001-234567", bank_code="111000025", country="us")
    assert (account.account_number, account.bank_code, account.country) == ("0001234567", "111000025", "US")


def test_decoding_a_supplier_with_a_bad_iban_names_the_problem() -> None:
    body = b'{"id": "1", "name": "ACME", "bank_accounts": [{"holder": "ACME", "iban": "GB00NWBK60161331926819"}]}'
    with pytest.raises(msgspec.ValidationError, match=r"invalid IBAN .* - at `\$.bank_accounts\[0\]`"):
        msgspec.json.decode(body, type=Supplier)


def test_drafts_refuse_unknown_fields_and_bad_values() -> None:
    good = b'{"name": "ACME", "country": "DE", "tax_id": {"country": "DE", "value": "DE136695976"}}'
    assert msgspec.json.decode(good, type=SupplierDraft).tax_id == TaxId(country="DE", value="136695976")
    with pytest.raises(msgspec.ValidationError, match="unknown field `status`"):
        msgspec.json.decode(b'{"name": "ACME", "country": "DE", "status": "active"}', type=SupplierDraft)
    with pytest.raises(msgspec.ValidationError, match="must not be empty"):
        msgspec.json.decode(b'{"name": " ", "country": "DE"}', type=SupplierDraft)


def test_supplier_status_is_checked_on_construction() -> None:
    with pytest.raises(ValueError, match="supplier status must be one of"):
        Supplier(id="1", name="ACME", status="approved")  # type: ignore[arg-type]


def test_instants_must_be_aware_and_are_stored_in_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Supplier(id="1", name="ACME", created_at=dt.datetime(2025, 1, 1, 12, 0))
    cet = dt.timezone(dt.timedelta(hours=1))
    supplier = Supplier(id="1", name="ACME", created_at=dt.datetime(2025, 1, 1, 12, 0, tzinfo=cet))
    assert supplier.created_at == dt.datetime(2025, 1, 1, 11, 0, tzinfo=dt.UTC)
    assert supplier.created_at is not None
    assert supplier.created_at.tzinfo is dt.UTC
    with pytest.raises(msgspec.ValidationError, match="timezone"):
        msgspec.json.decode(b'{"id": "1", "name": "A", "created_at": "2025-01-01T12:00:00"}', type=Supplier)
    assert require_aware(None, "x") is None
