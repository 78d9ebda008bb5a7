"""The treasury sandbox's deterministic data set.

Per legal entity: an operating account and a payroll account in the entity's currency, plus
one closed account (DE01); and a dozen PENDING payment obligations to seeded suppliers, so
a payment run can be built from a fresh sandbox at once.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

from platforms.kit.seeddata import bank_account, company_name, legal_entities
from platforms.kit.store import Store

__all__ = ["SEED_DATE", "seed"]

SEED_DATE = dt.date(2026, 1, 5)
"""The seed's notion of 'today': value dates and stamps derive from it, so seeds are stable."""

_STAMP = "2026-01-05T08:00:00.000Z"
_SUPPLIER_COUNTRIES = {"US": "US", "DE": "DE", "GB": "GB", "JP": "JP"}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def seed(store: Store, rng: random.Random) -> None:
    """Fill an empty store (the kit calls this on first start and on reset)."""
    accounts: list[tuple[Any, dict[str, Any]]] = []
    for entity in legal_entities():
        for kind, label in (("OPS", "Operating"), ("PAY", "Payroll")):
            bank = bank_account(rng, entity.country)
            account: dict[str, Any] = {
                "uuid": _uuid(rng),
                "code": f"{entity.code}-{kind}-{entity.currency}",
                "description": f"{entity.name} {label} {entity.currency}",
                "company": {"code": entity.code, "name": entity.name},
                "currency": {"code": entity.currency},
                "bank": {"code": bank.bank_code, "bic": bank.bic, "name": bank.bank_name},
                "iban": bank.iban,
                "accountNumber": bank.account_number,
                "countryCode": entity.country,
                "status": "OPENED",
                "balance": {"amount": str(Decimal(rng.randrange(50_000, 5_000_000))), "date": SEED_DATE.isoformat()},
            }
            store.put("bank_accounts", account["uuid"], account)
            accounts.append((entity, account))
    closed_bank = bank_account(rng, "DE")
    closed: dict[str, Any] = {
        "uuid": _uuid(rng), "code": "DE01-OLD-EUR", "description": "Finrail GmbH former operating EUR",
        "company": {"code": "DE01", "name": "Finrail GmbH"}, "currency": {"code": "EUR"},
        "bank": {"code": closed_bank.bank_code, "bic": closed_bank.bic, "name": closed_bank.bank_name},
        "iban": closed_bank.iban, "accountNumber": None, "countryCode": "DE", "status": "CLOSED",
        "balance": {"amount": "0", "date": SEED_DATE.isoformat()},
    }
    store.put("bank_accounts", closed["uuid"], closed)
    operating = [(entity, account) for entity, account in accounts if "-OPS-" in account["code"]]
    for number in range(1, 13):
        entity, account = operating[(number - 1) % len(operating)]
        beneficiary_bank = bank_account(rng, _SUPPLIER_COUNTRIES[entity.country])
        places = 0 if entity.currency == "JPY" else 2
        amount = Decimal(rng.randrange(10_000, 2_500_000)).scaleb(-places)
        if entity.currency == "JPY":
            amount *= 100
        obligation: dict[str, Any] = {
            "uuid": _uuid(rng),
            "reference": f"SEED-{number:04d}",
            "company": {"code": entity.code},
            "bankAccount": {"uuid": account["uuid"], "code": account["code"]},
            "beneficiary": {k: v for k, v in {
                "name": company_name(rng, entity.country), "code": f"{100000 + number * 7:010d}",
                "iban": beneficiary_bank.iban,
                "accountNumber": beneficiary_bank.account_number, "bankCode": beneficiary_bank.bank_code,
                "bic": beneficiary_bank.bic, "countryCode": beneficiary_bank.country}.items() if v is not None},
            "amount": str(amount),
            "currency": {"code": entity.currency},
            "valueDate": (SEED_DATE + dt.timedelta(days=number)).isoformat(),
            "description": f"Supplier invoice settlement {number}",
            "remittanceInformation": f"INV-{2026_0000 + number}",
            "status": "PENDING",
            "paymentRun": None,
            "bankReference": None,
            "creationDateTime": _STAMP,
            "lastModifiedDateTime": _STAMP,
        }
        store.put("obligations", obligation["uuid"], obligation)
