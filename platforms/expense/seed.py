"""The expense sandbox's deterministic data set.

About 300 employees across US01, DE01 and GB01 (each with a cost center and an approver),
about 400 reports in every state of the workflow (not submitted, pending approval, sent back,
approved, posted to the financial system, paid), 1 to 5 entries per report in several
transaction currencies (trips abroad are paid in EUR, GBP, CHF or JPY and converted into the
report currency) and corporate card transactions, some still unassigned. Times are laid out
before a fixed instant, so the same seed gives byte-identical data on every run.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from platforms.expense.codes import (
    APPROVAL_NAMES,
    EXPENSE_TYPES,
    PAYMENT_NAMES,
    PAYMENT_TYPES,
    USD_RATES,
    exchange_rate,
    quantize,
)
from platforms.expense.wire import CardTransaction, CustomField, EntryGet, ReportGet, User
from platforms.kit.seeddata import legal_entities, person_name
from platforms.kit.store import Store

__all__ = [
    "COMPANY_ID",
    "DEPARTMENTS",
    "EMPLOYEE_ENTITIES",
    "SEED_NOW",
    "seed",
]

SEED_NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
"""Every seeded time lies before this instant."""

COMPANY_ID = "685fa226-b72d-47f9-b9ad-e621de12d094"
"""The Concur company id of the sandbox (``companyId`` and ``subtopic`` of events)."""

EMPLOYEE_ENTITIES = ("US01", "DE01", "GB01")
"""Legal entities whose employees use the expense platform."""

DEPARTMENTS = ("1000", "2000", "3000", "4000", "5000")
"""Department numbers; an employee's cost center is ``<country><department>``, e.g. ``DE2000``."""

EMPLOYEES_PER_ENTITY = 100
MANAGERS_PER_ENTITY = 10
REPORTS = 400

_CITIES = {"US": "New York", "DE": "Berlin", "GB": "London", "CH": "Zurich", "JP": "Tokyo"}
_CURRENCY = {"US": "USD", "DE": "EUR", "GB": "GBP", "CH": "CHF", "JP": "JPY"}
_VENDORS = {
    "AIRFR": ("Lufthansa", "British Airways", "United Airlines", "Swiss"),
    "LODNG": ("Marriott", "Hilton", "Motel One", "Premier Inn"),
    "BUSML": ("Trattoria Roma", "The Ivy", "Sushi Ko", "Steakhouse 21"),
    "TAXIX": ("City Cab", "Uber", "FreeNow"),
    "CARRT": ("Sixt", "Hertz", "Avis"),
    "TRAIN": ("Deutsche Bahn", "Avanti West Coast", "Amtrak", "SBB"),
    "PARKG": ("APCOA", "City Parking"),
    "OFCSP": ("Staples", "Office Depot", "Viking"),
}
_USD_RANGES = {
    "AIRFR": (200, 1500), "LODNG": (90, 400), "BUSML": (30, 250), "TAXIX": (10, 80),
    "CARRT": (60, 300), "TRAIN": (20, 200), "PARKG": (5, 40), "OFCSP": (5, 120),
}  # fmt: skip
_CARD_SHARE = {"AIRFR": 0.6, "LODNG": 0.6, "CARRT": 0.6}
# state -> (approval status, payment status, share of reports)
_STATES = (
    ("A_NOTF", "P_NOTP", 0.12),
    ("A_PEND", "P_NOTP", 0.15),
    ("A_RESU", "P_NOTP", 0.05),
    ("A_APPR", "P_NOTP", 0.20),
    ("A_APPR", "P_PROC", 0.15),
    ("A_APPR", "P_PAID", 0.33),
)


def _hex(rng: random.Random, length: int) -> str:
    return f"{rng.getrandbits(4 * length):0{length}X}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _store(store: Store, collection: str, id: str, doc: msgspec.Struct) -> None:
    body: dict[str, Any] = msgspec.to_builtins(doc)
    store.put(collection, id, body)


def _employees(store: Store, rng: random.Random) -> list[User]:
    employees: list[User] = []
    entities = {e.code: e for e in legal_entities()}
    number = 0
    for code in EMPLOYEE_ENTITIES:
        entity = entities[code]
        managers: list[User] = []
        for index in range(EMPLOYEES_PER_ENTITY):
            number += 1
            first, last = person_name(rng)
            login = f"{first.lower()}.{last.lower()}.{number:04d}@{code.lower()}.finrail.example"
            login = unicodedata.normalize("NFKD", login).encode("ascii", "ignore").decode()  # Chloé -> chloe
            department = DEPARTMENTS[index % len(DEPARTMENTS)]
            user = User(
                id=_uuid(rng),
                login_id=login,
                employee_id=f"E{number:05d}",
                first_name=first,
                last_name=last,
                primary_email=login,
                # A few leavers: their old reports stay, they file no new ones.
                active=index < MANAGERS_PER_ENTITY or rng.random() > 0.05,
                organization_unit=f"{entity.name} / {department}",
                ledger_code=code,
                country_code=entity.country,
                reimbursement_currency_code=entity.currency,
                cost_center=f"{entity.country}{department}",
                approver_login_id=None if index < MANAGERS_PER_ENTITY else rng.choice(managers).login_id,
            )
            if index < MANAGERS_PER_ENTITY:
                managers.append(user)
            employees.append(user)
            _store(store, "users", user.id, user)
    return employees


def _pick_state(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    for approval, payment, share in _STATES:
        if roll < share:
            return approval, payment
        roll -= share
    return _STATES[-1][0], _STATES[-1][1]


def _report(
    store: Store, rng: random.Random, owner: User, by_login: dict[str, User], erp_numbers: list[int]
) -> None:
    report_id = _hex(rng, 20)
    currency = owner.reimbursement_currency_code
    home = owner.country_code
    abroad = rng.random() < 0.4
    destination = rng.choice([c for c in _CITIES if c != home]) if abroad else home
    created = SEED_NOW - timedelta(days=rng.randrange(3, 240), minutes=rng.randrange(0, 600))
    approval, payment = _pick_state(rng)
    entries: list[EntryGet] = []
    cards: list[CardTransaction] = []
    for _ in range(rng.randint(1, 5)):
        code = rng.choice(list(EXPENSE_TYPES))
        country = destination if code != "OFCSP" else home
        tx_currency = _CURRENCY[country]
        low, high = _USD_RANGES[code]
        usd = Decimal(rng.randrange(low * 100, high * 100)) / 100
        tx_amount = quantize(usd / USD_RATES[tx_currency], tx_currency)
        rate = exchange_rate(tx_currency, currency)
        posted = quantize(tx_amount * rate, currency)
        personal = rng.random() < 0.05
        payment_type = "IBCP" if rng.random() < _CARD_SHARE.get(code, 0.3) else "CASHX"
        tx_date = (created - timedelta(days=rng.randrange(0, 20))).replace(hour=0, minute=0, second=0, microsecond=0)
        name, category = EXPENSE_TYPES[code]
        entry_id = _hex(rng, 20)
        card_id = None
        if payment_type == "IBCP":
            card_id = _hex(rng, 16)
            cards.append(
                CardTransaction(
                    id=card_id,
                    employee_login_id=owner.login_id,
                    account_number_last_segment=f"{rng.randrange(10000):04d}",
                    transaction_date=tx_date,
                    posted_date=tx_date + timedelta(days=rng.randint(1, 3)),
                    merchant_name=rng.choice(_VENDORS[code]),
                    merchant_country_code=country,
                    transaction_amount=tx_amount,
                    transaction_currency_code=tx_currency,
                    posted_amount=posted,
                    posted_currency_code=currency,
                    expense_type_code=code,
                    status="AS",
                    expense_entry_id=entry_id,
                )
            )
        entries.append(
            EntryGet(
                id=entry_id,
                report_id=report_id,
                report_owner_id=owner.login_id,
                expense_type_code=code,
                expense_type_name=name,
                spend_category_code=category,
                payment_type_id=payment_type,
                payment_type_name=PAYMENT_TYPES[payment_type],
                transaction_date=tx_date,
                transaction_amount=tx_amount,
                transaction_currency_code=tx_currency,
                exchange_rate=rate,
                posted_amount=posted,
                approved_amount=Decimal(0) if personal else posted,
                vendor_description=rng.choice(_VENDORS[code]),
                location_country=country,
                location_name=_CITIES[country],
                description=f"{name} {_CITIES[country]}",
                is_personal=personal,
                is_billable=rng.random() < 0.1,
                has_vat=country in ("DE", "GB", "CH"),
                has_image=rng.random() < 0.9,
                receipt_received=approval == "A_APPR",
                company_card_transaction_id=card_id,
                last_modified=created,
            )
        )
    total = sum((e.posted_amount for e in entries), Decimal(0))
    personal_amount = sum((e.posted_amount for e in entries if e.is_personal), Decimal(0))
    due_card = sum((e.posted_amount for e in entries if e.payment_type_id == "IBCP" and not e.is_personal), Decimal(0))
    approver = by_login.get(owner.approver_login_id or "")
    submitted = created + timedelta(days=rng.randint(0, 3)) if approval != "A_NOTF" else None
    approved = submitted + timedelta(days=rng.randint(1, 5)) if approval == "A_APPR" and submitted else None
    posted_at = approved + timedelta(days=rng.randint(0, 2)) if approved and payment != "P_NOTP" else None
    paid_at = posted_at + timedelta(days=rng.randint(1, 7)) if posted_at and payment == "P_PAID" else None
    erp_document = None
    if posted_at is not None:
        erp_numbers[0] += 1
        erp_document = CustomField(type="Text", value=f"{erp_numbers[0]}")
    modified = max(t for t in (created, submitted, approved, posted_at, paid_at) if t is not None)
    report = ReportGet(
        id=report_id,
        name=f"{_CITIES[destination]} {created:%B %Y}" if abroad else f"Expenses {created:%B %Y}",
        total=total,
        currency_code=currency,
        country=home,
        owner_login_id=owner.login_id,
        owner_name=f"{owner.first_name} {owner.last_name}",
        approver_login_id=approver.login_id if approver else None,
        approver_name=f"{approver.first_name} {approver.last_name}" if approver else None,
        approval_status_code=approval,
        approval_status_name=APPROVAL_NAMES[approval],
        payment_status_code=payment,
        payment_status_name=PAYMENT_NAMES[payment],
        create_date=created,
        submit_date=submitted,
        processing_payment_date=approved,
        paid_date=paid_at,
        user_defined_date=created.replace(hour=0, minute=0),
        last_modified_date=modified,
        amount_due_employee=total - personal_amount - due_card,
        amount_due_company_card=due_card,
        total_claimed_amount=total - personal_amount,
        total_approved_amount=total - personal_amount,
        personal_amount=personal_amount,
        ever_sent_back=approval == "A_RESU",
        receipts_received=approval == "A_APPR",
        last_comment="Please attach the hotel receipt." if approval == "A_RESU" else None,
        ledger_name=f"{owner.ledger_code} Ledger",
        policy_id=f"POL-{owner.ledger_code}",
        org_unit1=CustomField(type="List", value=owner.ledger_code, code=owner.ledger_code),
        org_unit2=CustomField(type="List", value=owner.cost_center, code=owner.cost_center),
        custom20=erp_document,
    )
    _store(store, "reports", report_id, report)
    for entry in entries:
        _store(store, "entries", entry.id, entry)
    for card in cards:
        _store(store, "cards", card.id, card)


def _unassigned_cards(store: Store, rng: random.Random, employees: list[User]) -> None:
    for _ in range(120):
        owner = rng.choice(employees)
        code = rng.choice(("AIRFR", "LODNG", "TAXIX", "BUSML"))
        country = rng.choice(list(_CITIES))
        tx_currency = _CURRENCY[country]
        low, high = _USD_RANGES[code]
        usd = Decimal(rng.randrange(low * 100, high * 100)) / 100
        tx_amount = quantize(usd / USD_RATES[tx_currency], tx_currency)
        currency = owner.reimbursement_currency_code
        day = (SEED_NOW - timedelta(days=rng.randrange(1, 30))).replace(hour=0, minute=0, second=0, microsecond=0)
        card = CardTransaction(
            id=_hex(rng, 16),
            employee_login_id=owner.login_id,
            account_number_last_segment=f"{rng.randrange(10000):04d}",
            transaction_date=day,
            posted_date=day + timedelta(days=1),
            merchant_name=rng.choice(_VENDORS[code]),
            merchant_country_code=country,
            transaction_amount=tx_amount,
            transaction_currency_code=tx_currency,
            posted_amount=quantize(tx_amount * exchange_rate(tx_currency, currency), currency),
            posted_currency_code=currency,
            expense_type_code=code,
            status="UN",
        )
        _store(store, "cards", card.id, card)


def seed(store: Store, rng: random.Random) -> None:
    """Fill an empty store with the data set (the kit's ``SeedFunction``)."""
    employees = _employees(store, rng)
    by_login = {e.login_id: e for e in employees}
    filers = [e for e in employees if e.active]
    erp_numbers = [5100000000]
    for _ in range(REPORTS):
        _report(store, rng, rng.choice(filers), by_login, erp_numbers)
    _unassigned_cards(store, rng, employees)
