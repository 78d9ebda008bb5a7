"""The procurement sandbox's deterministic data set.

About 200 suppliers spread over the shared legal entities (``custom-fields.company-code``),
most approved and already known to the ERP (``erp-supplier-number``), some approved but not
yet in the ERP, some waiting for approval, a few inactive or on hold; near-duplicates (same
tax id, name spelled differently) and bad bank data (wrong IBAN check digits, invalid tax
ids) on purpose; requisitions, purchase orders in every status with receipts, invoices and
budget lines per entity, account and quarter. Same seed, same data.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Literal

import msgspec

from platforms.kit import seeddata
from platforms.kit.store import Store
from platforms.procurement.common import save
from platforms.procurement.models import (
    Account,
    Address,
    BudgetLine,
    CountryRef,
    CurrencyRef,
    IdRef,
    Invoice,
    InvoiceLine,
    OrderLine,
    OrderLineRef,
    PaymentTerm,
    Period,
    PurchaseOrder,
    ReceivingTransaction,
    RemitToAddress,
    Requisition,
    RequisitionLine,
    Supplier,
    SupplierRef,
    SupplierStatus,
    UserRef,
)

__all__ = ["GL_ACCOUNTS", "SUPPLIER_COUNT", "seed"]

SUPPLIER_COUNT = 200
CENT = Decimal("0.01")
EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ENTITY_CODES = ("US01", "DE01", "GB01")
GL_ACCOUNTS = {"610000": "Office supplies", "620000": "IT hardware", "630000": "Consulting", "640000": "Travel"}
COST_CENTERS = ("CC1000", "CC2000", "CC3000", "CC4000")
TERMS = (PaymentTerm(code="Net 30", days_for_net_payment=30), PaymentTerm(code="Net 45", days_for_net_payment=45),
         PaymentTerm(code="Net 60", days_for_net_payment=60))
OrderStatus = Literal["draft", "issued", "closed", "cancelled"]
ITEMS = ("Laptop", "Desk chair", "Printer paper", "Consulting day", "Monitor", "Cloud subscription", "Toner")


def _at(minutes: int) -> datetime:
    return EPOCH + timedelta(minutes=minutes)


def _account(entity: str, rng: random.Random) -> Account:
    gl, cc = rng.choice(tuple(GL_ACCOUNTS)), rng.choice(COST_CENTERS)
    return Account(code=f"{entity}-{gl}-{cc}", segment_1=entity, segment_2=gl, segment_3=cc)


def _remit_to(rng: random.Random, name: str, country: str, city: str, *, bad: bool) -> RemitToAddress:
    bank = seeddata.bank_account(rng, country)
    iban, bank_code = bank.iban, bank.bank_code
    if bad and iban is not None:
        iban = seeddata.bad_iban(rng, country)
    elif bad and bank_code is not None:  # a routing number with a wrong check digit
        bank_code = bank_code[:-1] + str((int(bank_code[-1]) + 1) % 10)
    return RemitToAddress(
        name="Main", street1=f"{rng.randrange(1, 200)} Market Street", city=city,
        postal_code=f"{rng.randrange(10000, 99999)}", country=CountryRef(code=country),
        bank_account_holder=name, iban=iban, bic=bank.bic, bank_code=bank_code,
        bank_account_number=bank.account_number,
    )


def _suppliers(store: Store, rng: random.Random) -> list[Supplier]:
    entities = {e.code: e for e in seeddata.legal_entities()}
    suppliers: list[Supplier] = []
    names: set[str] = set()
    for index in range(SUPPLIER_COUNT):
        id = index + 1
        entity = entities[ENTITY_CODES[index % len(ENTITY_CODES)]]
        country = entity.country
        near_duplicate = index >= 20 and index % 23 == 0  # a re-keyed copy of an earlier supplier
        original = suppliers[index - 20] if near_duplicate else None
        if original is not None and original.primary_address is not None:
            country = original.primary_address.country.code
            name = original.name.upper().replace(" ", "  ", 1).replace(".", "")
            tax = original.tax_id
        else:
            name = seeddata.company_name(rng, country)
            while name in names:
                _first, last = seeddata.person_name(rng)
                name = seeddata.company_name(rng, country).replace(" ", f" {last} ", 1)
            tax = seeddata.bad_tax_id(rng, country) if index % 41 == 7 else seeddata.tax_id(rng, country)
        names.add(name)
        roll = index % 20
        status: SupplierStatus = {3: "pending_approval", 11: "draft", 17: "inactive"}.get(roll, "approved")  # type: ignore[assignment]
        in_erp = status in ("approved", "inactive") and roll not in (5, 13)  # 5, 13: approved, not yet in ERP
        city = entity.city if country == entity.country else "Somewhere"
        supplier = Supplier(
            id=id, created_at=_at(index), updated_at=_at(index), name=name, display_name=name,
            number=f"SUP-{id:05d}", status=status, tax_id=tax,
            invoice_matching_level="3-way" if index % 3 == 0 else "2-way",
            payment_term=TERMS[index % len(TERMS)], on_hold=index % 37 == 9,
            primary_address=Address(street1=f"{rng.randrange(1, 300)} High Street", city=city,
                                    postal_code=f"{rng.randrange(10000, 99999)}", country=CountryRef(code=country)),
            remit_to_addresses=[_remit_to(rng, name, country, city, bad=index % 29 == 4)],
            custom_fields={"company-code": entity.code,
                           "erp-supplier-number": f"{1000000 + id:010d}" if in_erp else None},
        )
        suppliers.append(supplier)
        save(store, "suppliers", supplier)
    store.next_number("suppliers.id", SUPPLIER_COUNT)  # carry on after the seed
    return suppliers


def _orders(store: Store, rng: random.Random, suppliers: list[Supplier]) -> None:
    entities = {e.code: e for e in seeddata.legal_entities()}
    approved = [s for s in suppliers if s.status == "approved" and not s.on_hold]
    statuses: tuple[OrderStatus, ...] = ("draft", "issued", "issued", "closed", "cancelled")
    line_id = receipt_id = invoice_id = invoice_line_id = requisition_line_id = 0
    for index in range(40):
        supplier = approved[(index * 7) % len(approved)]
        entity = str(supplier.custom_fields["company-code"])
        currency = CurrencyRef(code=entities[entity].currency)
        requisition_id = index + 1
        req_lines = []
        order_lines = []
        for number in range(1, rng.randrange(2, 4) + 1):
            quantity, price = Decimal(rng.randrange(1, 20)), Decimal(rng.randrange(500, 250000)).scaleb(-2)
            account = _account(entity, rng)
            item = rng.choice(ITEMS)
            requisition_line_id += 1
            line_id += 1
            req_lines.append(RequisitionLine(
                id=requisition_line_id, line_num=number, description=item, quantity=quantity, unit_price=price,
                total=(quantity * price).quantize(CENT), currency=currency, account=account,
                supplier=SupplierRef(id=supplier.id, name=supplier.name, number=supplier.number)))
            order_lines.append(OrderLine(id=line_id, line_num=number, description=item, quantity=quantity,
                                         price=price, total=(quantity * price).quantize(CENT), currency=currency,
                                         account=account))
        total = sum((x.total for x in req_lines), Decimal(0))
        status = statuses[index % len(statuses)]
        requisition = Requisition(
            id=requisition_id, created_at=_at(1000 + index), updated_at=_at(1000 + index),
            status="draft" if index >= 35 else "ordered", requested_by=UserRef(login=f"buyer{index % 5 + 1}"),
            currency=currency, requisition_lines=req_lines, total=total,
            submitted_at=None if index >= 35 else _at(1001 + index), custom_fields={"company-code": entity},
        )
        save(store, "requisitions", requisition)
        if index >= 35:
            continue
        order = PurchaseOrder(
            id=index + 1, created_at=_at(1002 + index), updated_at=_at(1003 + index), po_number=f"{index + 1001:06d}",
            status=status, supplier=SupplierRef(id=supplier.id, name=supplier.name, number=supplier.number),
            currency=currency, order_lines=order_lines, total=total, requisition_header=IdRef(id=requisition_id),
            issued_at=None if status in ("draft", "cancelled") else _at(1003 + index),
            custom_fields={"company-code": entity},
        )
        if status in ("issued", "closed"):
            received = []
            for line in order.order_lines:
                quantity = line.quantity if status == "closed" or index % 2 else line.quantity // 2
                if quantity:
                    receipt_id += 1
                    save(store, "receiving_transactions", ReceivingTransaction(
                        id=receipt_id, created_at=_at(2000 + receipt_id), transaction_date=_at(2000).date(),
                        quantity=quantity,
                        order_line=OrderLineRef(id=line.id, line_num=line.line_num, order_header_id=order.id,
                                                po_number=order.po_number)))
                received.append(msgspec.structs.replace(line, received=quantity))
            order = msgspec.structs.replace(order, order_lines=received)
        save(store, "purchase_orders", order)
        if status == "closed" or (status == "issued" and index % 3 == 0):
            invoice_id += 1
            lines = []
            for number, line in enumerate(order.order_lines, 1):
                invoice_line_id += 1
                lines.append(InvoiceLine(
                    id=invoice_line_id, line_num=number, description=line.description, price=line.price,
                    quantity=line.quantity, total=line.total, po_number=order.po_number, order_line_id=line.id,
                    order_header_id=order.id, order_line_num=line.line_num,
                    account=line.account))
            save(store, "invoices", Invoice(
                id=invoice_id, created_at=_at(3000 + invoice_id), updated_at=_at(3000 + invoice_id),
                invoice_number=f"INV-{rng.randrange(10000, 99999)}-{invoice_id}",
                invoice_date=date(2026, 2, 1) + timedelta(days=invoice_id), status=(
                    "approved" if status == "closed" else "pending_approval" if invoice_id % 2 else "draft"),
                supplier=order.supplier, currency=currency, invoice_lines=lines, total=order.total,
                custom_fields={"company-code": entity}))
    for sequence, value in (("requisitions.id", 40), ("purchase_orders.id", 35), ("order_lines.id", line_id),
                            ("requisition_lines.id", requisition_line_id), ("receiving_transactions.id", receipt_id),
                            ("invoices.id", invoice_id), ("invoice_lines.id", invoice_line_id)):
        store.next_number(sequence, value)


def _budget_lines(store: Store, rng: random.Random) -> None:
    entities = {e.code: e for e in seeddata.legal_entities()}
    quarters = [(f"FY2026-Q{q}", date(2026, 3 * q - 2, 1), date(2026 + (q == 4), (3 * q) % 12 + 1, 1))
                for q in range(1, 5)]
    id = 0
    for code in ENTITY_CODES:
        for gl, label in GL_ACCOUNTS.items():
            for cc in COST_CENTERS[:2]:
                for name, start, next_start in quarters:
                    id += 1
                    amount = Decimal(rng.randrange(20, 200) * 1000).quantize(CENT)
                    consumed = (amount * Decimal(rng.randrange(0, 110)) / 100).quantize(CENT)
                    save(store, "budget_lines", BudgetLine(
                        id=id, description=f"{label} {code} {cc} {name}", amount=amount, consumed=consumed,
                        remaining=amount - consumed, currency=CurrencyRef(code=entities[code].currency),
                        period=Period(name=name, start_date=start, end_date=next_start - timedelta(days=1)),
                        account=Account(code=f"{code}-{gl}-{cc}", segment_1=code, segment_2=gl, segment_3=cc)))
    store.next_number("budget_lines.id", id)


def seed(store: Store, rng: random.Random) -> None:
    """Fill an empty store with the data set of ``rng``'s seed."""
    suppliers = _suppliers(store, rng)
    _orders(store, rng, suppliers)
    _budget_lines(store, rng)
