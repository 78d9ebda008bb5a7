"""The ERP connector: mapping round trips, and the real sandbox behind ASGITransport (with faults)."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from gateway.lifespan import lifespan
from platforms.erp.app import create_app
from platforms.kit.config import SandboxConfig
from system_apis.canonical import (
    BankAccount,
    JournalEntryDraft,
    JournalLine,
    Money,
    PaymentDraft,
    SupplierDraft,
    TaxId,
)
from system_apis.canonical.procurement import SupplierInvoiceDraft, SupplierInvoiceLine
from system_apis.connectors.erp import mapping, wire
from system_apis.connectors.erp.client import ErpConnector
from system_apis.connectors.kit import (
    ConnectionConfig,
    MalformedAnswer,
    PlatformRejected,
    PlatformUnavailable,
)

BASE = "http://sandbox.erp"


def eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


def invoice_draft(supplier: str, number: str = "INV-1", day: dt.date = dt.date(2026, 1, 10)) -> SupplierInvoiceDraft:
    return SupplierInvoiceDraft(
        company_code="DE01", supplier_id=supplier, invoice_number=number, invoice_date=day,
        gross_amount=eur("119.00"), tax_amount=eur("19.00"), payment_terms="NET30",
        lines=[SupplierInvoiceLine(line_number=1, amount=eur("100.00"), gl_account="63000000",
                                   cost_center="20110201", tax_code="V1", description="Paper")],
    )


def supplier_draft(name: str = "Harbor Freight GmbH") -> SupplierDraft:
    return SupplierDraft(
        name=name, country="DE", tax_id=TaxId(country="DE", value="DE136695976"),
        bank_accounts=[BankAccount(holder=name, iban="DE89370400440532013000", bic="COBADEFFXXX")],
        payment_terms="NET30",
    )


# --- mapping ------------------------------------------------------------------------------


def test_supplier_round_trips_wire_canonical_wire() -> None:
    partner = mapping.supplier_to_wire(supplier_draft(), company_codes=("DE01",), reference="FRX")
    assert partner.to_Supplier is not None
    answered = msgspec.structs.replace(
        partner, BusinessPartner="1000300", Supplier="1000300",
        to_Supplier=msgspec.structs.replace(partner.to_Supplier, Supplier="1000300"),
    )
    supplier = mapping.supplier_from_wire(answered)
    assert (supplier.id, supplier.name, supplier.country, supplier.payment_terms) == (
        "1000300", "Harbor Freight GmbH", "DE", "NET30")
    assert supplier.tax_id == TaxId(country="DE", value="DE136695976")
    assert [a.iban for a in supplier.bank_accounts] == ["DE89370400440532013000"]
    assert supplier.company_codes == ["DE01"]
    assert supplier.status == "active"
    again = mapping.supplier_to_wire(
        SupplierDraft(name=supplier.name, country=supplier.country or "", tax_id=supplier.tax_id,
                      bank_accounts=supplier.bank_accounts, payment_terms=supplier.payment_terms),
        company_codes=tuple(supplier.company_codes), reference="FRX",
    )
    strip = msgspec.json.encode
    assert strip(again.to_BusinessPartnerTax) == strip(partner.to_BusinessPartnerTax)
    assert again.to_BusinessPartnerBank is not None
    assert partner.to_BusinessPartnerBank is not None
    assert [b.IBAN for b in again.to_BusinessPartnerBank.results] == [
        b.IBAN for b in partner.to_BusinessPartnerBank.results]
    assert strip(again.to_Supplier) == strip(partner.to_Supplier)


def test_invalid_bank_and_tax_data_become_issues_not_failures() -> None:
    partner = wire.BusinessPartner(
        BusinessPartner="1000001", Supplier="1000001", BusinessPartnerFullName="Bad Data Ltd",
        to_BusinessPartnerBank=wire.Results(results=[wire.BusinessPartnerBank(BankIdentification="0001",
                                                                              IBAN="DE00370400440532013000")]),
        to_BusinessPartnerTax=wire.Results(results=[wire.BusinessPartnerTaxNumber(BPTaxType="DE0",
                                                                                  BPTaxNumber="DE136695977")]),
        to_Supplier=wire.Supplier(Supplier="1000001", SupplierName="Bad Data Ltd", PaymentIsBlockedForSupplier=True),
    )
    supplier = mapping.supplier_from_wire(partner)
    assert supplier.bank_accounts == []
    assert supplier.tax_id is None
    assert len(supplier.issues) == 2
    assert supplier.status == "blocked"


def test_invoice_round_trips_canonical_wire_canonical() -> None:
    draft = invoice_draft("1000000")
    sent = mapping.invoice_to_wire(draft, reference="FRREF")
    answered = wire.Entity[wire.SupplierInvoice](
        d=msgspec.structs.replace(sent, SupplierInvoice="5100000001", FiscalYear="2026", SupplierInvoiceStatus="5")
    )
    decoded = msgspec.json.decode(msgspec.json.encode(answered), type=wire.Entity[wire.SupplierInvoice]).d
    invoice = mapping.invoice_from_wire(decoded)
    assert invoice.id == "5100000001-2026"
    assert invoice.status == "posted"
    assert invoice.reference == "FRREF"
    assert (invoice.gross_amount, invoice.tax_amount, invoice.invoice_number) == (
        draft.gross_amount, draft.tax_amount, draft.invoice_number)
    assert invoice.lines == draft.lines
    assert invoice.payment_terms == "NET30"
    assert invoice.invoice_date == draft.invoice_date
    assert invoice.posting_date == draft.invoice_date


def test_journal_entry_and_payment_round_trip() -> None:
    draft = JournalEntryDraft(company_code="DE01", posting_date=dt.date(2026, 2, 1), reference="EXP-9", lines=[
        JournalLine(gl_account="64000000", side="debit", amount=eur("80.00"), cost_center="20110201"),
        JournalLine(gl_account="21700000", side="credit", amount=eur("80.00")),
    ])
    sent = mapping.journal_entry_to_wire(draft, reference="FRJE")
    entry = mapping.journal_entry_from_wire(msgspec.structs.replace(sent, AccountingDocument="0100000000",
                                                                    FiscalYear="2026"))
    assert entry.id == "DE01-2026-0100000000"
    assert entry.lines == draft.lines
    assert entry.reference == "EXP-9"
    assert entry.posting_date == draft.posting_date
    payment_draft = PaymentDraft(company_code="DE01", amount=eur("119.00"), value_date=dt.date(2026, 2, 1),
                                 payee_name="Harbor", supplier_id="1000300", obligation_ids=["5100000001-2026"],
                                 payee_bank_account=BankAccount(holder="Harbor", iban="DE89370400440532013000"))
    sent_payment = mapping.payment_to_wire(payment_draft, reference="FRPY")
    payment = mapping.payment_from_wire(msgspec.structs.replace(
        sent_payment, PaymentDocument="1500000000", FiscalYear="2026", PaymentStatus="P"))
    assert (payment.amount, payment.value_date, payment.obligation_ids, payment.supplier_id) == (
        payment_draft.amount, payment_draft.value_date, payment_draft.obligation_ids, "1000300")
    assert payment.payee_bank_account == payment_draft.payee_bank_account
    assert payment.status == "sent"


def test_sap_dates_and_terms() -> None:
    assert mapping.from_sap_date("/Date(1767225600000)/") == dt.date(2026, 1, 1)
    assert mapping.to_sap_date(dt.date(2026, 1, 1)) == "/Date(1767225600000)/"
    assert mapping.payment_terms_from_sap("NT45") == "NET45"
    assert mapping.payment_terms_to_sap("NET45") == "NT45"
    assert mapping.payment_terms_to_sap("IMMEDIATE") == "0001"
    with pytest.raises(ValueError, match="SAP JSON date"):
        mapping.from_sap_date("2026-01-01")


# --- against the sandbox ------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded sandbox file, copied per test (seeding once keeps the tests fast)."""
    path = tmp_path_factory.mktemp("erp") / "seed.db"
    app = create_app(SandboxConfig(data_path=str(path)))
    app.state.sandbox.store.close()
    return path


@pytest.fixture
def sandbox(seeded: Path, tmp_path: Path) -> Any:
    path = tmp_path / "erp.db"
    shutil.copy(seeded, path)
    return create_app(SandboxConfig(data_path=str(path)))


def connector_for(app: Any, **config: Any) -> ErpConnector:
    settings = {"base_url": BASE, "username": "finrail", "password": "sandbox", "backoff_base_seconds": 0.01,
                **config}
    return ErpConnector(ConnectionConfig(**settings), transport=httpx.ASGITransport(app=app))


@pytest.fixture
async def erp(sandbox: Any) -> AsyncIterator[ErpConnector]:
    async with lifespan(sandbox):
        connector = connector_for(sandbox)
        yield connector
        await connector.aclose()


async def count_by_reference(app: Any, entity: str, field: str, reference: str) -> int:
    service = {"A_SupplierInvoice": "API_SUPPLIERINVOICE_PROCESS_SRV", "A_JournalEntry": "API_JOURNALENTRY_POST_SRV",
               "A_BusinessPartner": "API_BUSINESS_PARTNER"}[entity]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE,
                                 auth=("finrail", "sandbox")) as http:
        answer = await http.get(f"/sap/opu/odata/sap/{service}/{entity}", params={
            "$filter": f"{field} eq '{reference}'", "$inlinecount": "allpages", "$top": "0"})
    return int(answer.json()["d"]["__count"])


async def test_paging_through_every_supplier_sees_each_once(erp: ErpConnector) -> None:
    seen: list[str] = []
    after = None
    while True:
        page, after = await erp.list_suppliers(limit=64, after=after)
        seen.extend(s.id for s in page)
        if after is None:
            break
    assert len(seen) == 200
    assert len(set(seen)) == 200
    assert seen == sorted(seen)


async def test_search_by_tax_id_iban_and_name_finds_near_duplicates(erp: ErpConnector) -> None:
    everyone: list[Any] = []
    after = None
    while True:
        page, after = await erp.list_suppliers(limit=200, after=after)
        everyone.extend(page)
        if after is None:
            break
    by_tax: dict[str, list[str]] = {}
    for supplier in everyone:
        if supplier.tax_id:
            by_tax.setdefault(supplier.tax_id.value, []).append(supplier.id)
    shared_tax, ids = next((tax, ids) for tax, ids in by_tax.items() if len(ids) > 1)
    found, _ = await erp.list_suppliers(tax_id=shared_tax)
    assert sorted(s.id for s in found) == sorted(ids)
    with_bank = next(s for s in everyone if s.bank_accounts and s.bank_accounts[0].iban)
    iban = with_bank.bank_accounts[0].iban or ""
    spaced = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    found, _ = await erp.list_suppliers(iban=spaced)
    assert with_bank.id in {s.id for s in found}
    word = with_bank.name.split()[0].lower()
    found, _ = await erp.list_suppliers(name=word, limit=200)
    assert found
    assert all(word in s.name.lower() for s in found)
    assert any(s.issues for s in everyone), "bad seeded bank data is reported, not fatal"
    nothing, _ = await erp.list_suppliers(iban="DE02120300000000202051")
    assert nothing == []


async def test_create_supplier_fetches_csrf_and_refetches_once_after_expiry(erp: ErpConnector, sandbox: Any) -> None:
    first = await erp.create_supplier(supplier_draft(), reference="FRSUP1", company_codes=("DE01",))
    assert first.company_codes == ["DE01"]
    assert first.bank_accounts
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url=BASE) as http:
        await http.post("/_sandbox/csrf/rotate")
    second = await erp.create_supplier(supplier_draft("Other Freight GmbH"), reference="FRSUP2")
    assert second.id != first.id
    assert second.name == "Other Freight GmbH"
    again = await erp.create_supplier(supplier_draft(), reference="FRSUP1")
    assert again.id == first.id
    assert await count_by_reference(sandbox, "A_BusinessPartner", "SearchTerm2", "FRSUP1") == 1


async def test_too_long_supplier_name_is_rejected_with_the_erps_message(erp: ErpConnector) -> None:
    with pytest.raises(PlatformRejected) as caught:
        await erp.create_supplier(supplier_draft("A" * 81), reference="FRLONG")
    assert caught.value.platform_status == 400
    assert "SupplierName" in caught.value.detail
    assert caught.value.problem().status == 422


async def test_invoice_create_post_cancel_and_closed_period(erp: ErpConnector) -> None:
    invoice = await erp.create_invoice(invoice_draft("1000000"), reference="FRINV1")
    assert invoice.status == "received"
    assert invoice.reference == "FRINV1"
    posted = await erp.post_invoice(invoice.id)
    assert posted.status == "posted"
    assert posted.lines == invoice.lines
    assert (await erp.post_invoice(invoice.id)).status == "posted", "posting twice is harmless"
    cancelled = await erp.cancel_invoice(invoice.id)
    assert cancelled.status == "cancelled"
    closed = await erp.create_invoice(invoice_draft("1000000", "INV-2", dt.date(2025, 6, 3)), reference="FRINV2")
    with pytest.raises(PlatformRejected, match="not open"):
        await erp.post_invoice(closed.id)
    period = await erp.period_of("DE01", dt.date(2025, 6, 3))
    assert period is not None
    assert not period.open


async def test_a_create_that_times_out_after_succeeding_is_not_created_twice(sandbox: Any) -> None:
    async with lifespan(sandbox), httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox),
                                                    base_url=BASE) as admin:
        erp = connector_for(sandbox, timeout_seconds=0.3, retries=2)
        try:
            await erp.list_legal_entities()
            await erp._fetch_token(None)  # the token fetch itself is not under test here
            await admin.put("/_sandbox/faults", json={"timeout_rate": 1.0, "hang_seconds": 2.0})

            async def heal() -> None:
                await asyncio.sleep(0.1)  # the create has been processed; its answer is held back
                await admin.put("/_sandbox/faults", json={})

            healing = asyncio.create_task(heal())
            invoice = await erp.create_invoice(invoice_draft("1000000"), reference="FRTIMEOUT")
            await healing
            assert invoice.reference == "FRTIMEOUT"
            again = await erp.create_invoice(invoice_draft("1000000"), reference="FRTIMEOUT")
            assert again.id == invoice.id
            assert await count_by_reference(sandbox, "A_SupplierInvoice", "AssignmentReference", "FRTIMEOUT") == 1
        finally:
            await erp.aclose()


async def test_journal_entry_create_and_reverse(erp: ErpConnector, sandbox: Any) -> None:
    draft = JournalEntryDraft(company_code="DE01", posting_date=dt.date(2026, 2, 1), lines=[
        JournalLine(gl_account="64000000", side="debit", amount=eur("80.00"), cost_center="20110201"),
        JournalLine(gl_account="21700000", side="credit", amount=eur("80.00")),
    ])
    entry = await erp.create_journal_entry(draft, reference="FRJE1")
    assert entry.status == "posted"
    assert entry.lines == draft.lines
    assert (await erp.create_journal_entry(draft, reference="FRJE1")).id == entry.id
    assert await count_by_reference(sandbox, "A_JournalEntry", "DocumentReferenceID", "FRJE1") == 1
    reversal = await erp.reverse_journal_entry(entry.id)
    assert reversal.reversal_of == entry.id
    assert [line.side for line in reversal.lines] == ["credit", "debit"]
    assert (await erp.get_journal_entry(entry.id)).status == "reversed"


async def test_payment_clears_a_posted_invoice(erp: ErpConnector) -> None:
    supplier = await erp.create_supplier(supplier_draft(), reference="FRPAYSUP", company_codes=("DE01",))
    invoice = await erp.post_invoice((await erp.create_invoice(invoice_draft(supplier.id), reference="FRPI")).id)
    draft = PaymentDraft(company_code="DE01", amount=eur("119.00"), value_date=dt.date(2026, 2, 1),
                         payee_name=supplier.name, payee_bank_account=supplier.bank_accounts[0],
                         supplier_id=supplier.id, obligation_ids=[invoice.id])
    payment = await erp.create_payment(draft, reference="FRPAY1")
    assert payment.obligation_ids == [invoice.id]
    assert payment.status == "sent"
    listed, _ = await erp.list_payments(supplier_id=supplier.id)
    assert [p.id for p in listed] == [payment.id]
    with pytest.raises(PlatformRejected, match="already cleared"):
        await erp.create_payment(draft, reference="FRPAY2")


async def test_maintenance_is_platform_unavailable(sandbox: Any) -> None:
    async with lifespan(sandbox):
        sandbox.state.sandbox.set_faults(msgspec.convert({"maintenance": True, "retry_after_seconds": 60},
                                                         type(sandbox.state.sandbox.faults)))
        erp = connector_for(sandbox, retry_after_max_seconds=1.0)
        try:
            with pytest.raises(PlatformUnavailable) as caught:
                await erp.list_legal_entities()
        finally:
            await erp.aclose()
    problem = caught.value.problem()
    assert problem.status == 503
    assert problem.headers["Retry-After"] == "60"


async def test_a_malformed_answer_is_a_malformed_answer() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("A_CompanyCode"):
            return httpx.Response(200, json={"d": {"results": [{"CompanyCode": "DE01", "Currency": "EURO",
                                                                "Country": "DE", "CompanyCodeName": "x"}]}})
        return httpx.Response(200, json={"d": {"results": "not a list"}})

    erp = ErpConnector(ConnectionConfig(base_url=BASE, username="u", password="p"),
                       transport=httpx.MockTransport(answer))
    try:
        with pytest.raises(MalformedAnswer):
            await erp.list_gl_accounts()
        with pytest.raises(MalformedAnswer) as caught:
            await erp.list_legal_entities()
        assert caught.value.problem().status == 502
    finally:
        await erp.aclose()
