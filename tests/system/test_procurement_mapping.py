"""Coupa wire objects <-> canonical objects: round trips, meaning of statuses, and what cannot be mapped."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest

from system_apis.canonical import Money
from system_apis.connectors.procurement import mapping, wire
from system_apis.connectors.procurement.drafts import PurchaseOrderDraft, PurchaseOrderDraftLine

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def coupa_supplier(**changes: object) -> wire.Supplier:
    base = {
        "id": 12, "name": "Atlas Logistics GmbH", "number": "SUP-00012", "status": "approved",
        "created-at": "2026-01-05T09:00:00Z", "updated-at": "2026-01-05T09:00:00Z", "tax-id": "DE136695976",
        "payment-term": {"code": "Net 45", "days-for-net-payment": 45}, "on-hold": False,
        "primary-address": {"country": {"code": "DE"}, "city": "Berlin"},
        "remit-to-addresses": [{"country": {"code": "DE"}, "bank-account-holder": "Atlas Logistics GmbH",
                                "iban": "DE89370400440532013000", "bic": "COBADEFFXXX"}],
        "custom-fields": {"company-code": "DE01", "erp-supplier-number": "0001000012"},
        **changes,
    }
    return msgspec.convert(base, wire.Supplier)


def test_supplier_round_trip() -> None:
    canonical = mapping.supplier_from_wire(coupa_supplier())
    assert canonical.id == canonical.procurement_supplier_id == "12"
    assert canonical.status == "active"
    assert canonical.payment_terms == "NET45"
    assert canonical.tax_id is not None
    assert canonical.tax_id.value == "DE136695976"
    assert canonical.bank_accounts[0].iban == "DE89370400440532013000"
    assert canonical.company_codes == ["DE01"]
    assert canonical.erp_supplier_number == "0001000012"
    assert canonical.issues == []
    again = mapping.supplier_from_wire(mapping.supplier_to_wire(canonical))
    assert again == canonical


def test_supplier_statuses_and_bad_data_become_issues() -> None:
    assert mapping.supplier_from_wire(coupa_supplier(**{"on-hold": True})).status == "blocked"
    assert mapping.supplier_from_wire(coupa_supplier(status="pending_approval")).status == "pending"
    assert mapping.supplier_from_wire(coupa_supplier(status="draft")).status == "pending"
    assert mapping.supplier_from_wire(coupa_supplier(status="inactive")).status == "inactive"
    bad = mapping.supplier_from_wire(coupa_supplier(**{
        "tax-id": "DE136695977",
        "remit-to-addresses": [{"country": {"code": "DE"}, "iban": "DE88370400440532013000"}],
    }))
    assert bad.tax_id is None
    assert bad.bank_accounts == []
    assert len(bad.issues) == 2
    assert "tax id" in bad.issues[0]
    assert "IBAN" in bad.issues[1]
    with pytest.raises(mapping.MappingError, match="unknown status"):
        mapping.supplier_from_wire(coupa_supplier(status="exploded"))


def test_payment_terms_both_ways() -> None:
    assert mapping.payment_terms_from_wire(wire.PaymentTerm(code="Net 30")) == "NET30"
    assert mapping.payment_terms_from_wire(wire.PaymentTerm(code="Due now", days_for_net_payment=0)) == "IMMEDIATE"
    assert mapping.payment_terms_from_wire(wire.PaymentTerm(code="2/10 EOM")) is None
    term = mapping.payment_terms_to_wire("NET60")
    assert term is not None
    assert mapping.payment_terms_from_wire(term) == "NET60"


def test_purchase_order_draft_to_wire_and_back() -> None:
    draft = PurchaseOrderDraft(supplier_id="12", company_code="DE01", lines=[
        PurchaseOrderDraftLine(description="Pallet", quantity=Decimal(3), unit_price=Money.of("19.99", "EUR"),
                               gl_account="610000", cost_center="CC1000")])
    body = mapping.purchase_order_to_wire(draft, "FRREF")
    encoded = msgspec.json.decode(msgspec.json.encode(body))
    assert encoded["order-lines"][0] == {"description": "Pallet", "quantity": "3", "price": "19.99", "account": {
        "code": "DE01-610000-CC1000", "segment-1": "DE01", "segment-2": "610000", "segment-3": "CC1000"}}
    assert encoded["custom-fields"] == {"company-code": "DE01", "external-ref": "FRREF"}
    answer = wire.PurchaseOrder(
        id=7, po_number="001007", status="draft", supplier=wire.SupplierRef(id=12), currency=body.currency,
        total=Decimal("59.97"), created_at=AT, custom_fields=body.custom_fields,
        order_lines=[wire.OrderLine(id=1, line_num=1, description="Pallet", quantity=Decimal(3),
                                    price=Decimal("19.99"), total=Decimal("59.97"), currency=body.currency,
                                    account=body.order_lines[0].account)],
    )
    order = mapping.purchase_order_from_wire(answer)
    assert order.company_code == "DE01"
    assert order.total == Money.of("59.97", "EUR")
    line = order.lines[0]
    assert (line.gl_account, line.cost_center, line.quantity) == ("610000", "CC1000", Decimal(3))
    assert line.amount == Money.of("59.97", "EUR")
    assert order.order_date == AT.date()


def test_orders_that_cannot_be_canonical_are_mapping_errors() -> None:
    base = {"id": 7, "po-number": "1", "status": "draft", "supplier": {"id": 1}, "currency": {"code": "JPY"},
            "total": "10.5", "created-at": "2026-01-05T09:00:00Z", "custom-fields": {"company-code": "JP01"}}
    # A computed total carries the platform's precision; yen have no minor units: rounded half-even.
    assert mapping.purchase_order_from_wire(msgspec.convert(base, wire.PurchaseOrder)).total == Money.of("10", "JPY")
    for bad in ({"total": "1E+30"}, {"total": "NaN"}, {"currency": {"code": "ZZZ"}}):
        with pytest.raises(mapping.MappingError, match="purchase order 7"):
            mapping.purchase_order_from_wire(msgspec.convert({**base, **bad}, wire.PurchaseOrder))
    nameless = {**base, "currency": {"code": "USD"}, "custom-fields": {}}
    with pytest.raises(mapping.MappingError, match="company code"):
        mapping.purchase_order_from_wire(msgspec.convert(nameless, wire.PurchaseOrder))


def test_invoice_and_budget_line_mapping() -> None:
    invoice = msgspec.convert({
        "id": 3, "invoice-number": "INV-9", "invoice-date": "2026-02-02", "status": "pending_approval",
        "supplier": {"id": 12}, "currency": {"code": "GBP"}, "total": "30.00", "custom-fields": {},
        "invoice-lines": [{"line-num": 1, "description": "Toner", "price": "10.00", "quantity": "3", "total": "30.00",
                           "po-number": "001002", "order-header-id": 2, "order-line-num": 1,
                           "account": {"code": "GB01-610000", "segment-1": "GB01", "segment-2": "610000"}}],
    }, wire.Invoice)
    canonical = mapping.invoice_from_wire(invoice)
    assert (canonical.status, canonical.company_code, canonical.purchase_order_id) == ("received", "GB01", "2")
    assert canonical.is_balanced()
    assert canonical.lines[0].purchase_order_line == 1
    budget = mapping.budget_line_from_wire(msgspec.convert({
        "id": 5, "amount": "1000.00", "consumed": "1200.00", "currency": {"code": "USD"},
        "period": {"name": "FY2026-Q3", "start-date": "2026-07-01", "end-date": "2026-09-30"},
        "account": {"code": "US01-640000-CC2000", "segment-1": "US01", "segment-2": "640000", "segment-3": "CC2000"},
    }, wire.BudgetLine))
    assert (budget.budget_id, budget.fiscal_year, budget.period, budget.cost_center) == ("FY2026-Q3", 2026, 7, "CC2000")
    assert budget.remaining == Money.of("-200.00", "USD")
