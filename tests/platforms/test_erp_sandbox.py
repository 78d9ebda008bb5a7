"""The ERP sandbox speaks SAP S/4HANA OData V2: envelopes, query options, CSRF, errors, postings."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import msgspec
import pytest

from gateway.lifespan import lifespan
from platforms.erp.app import create_app
from platforms.kit.config import SandboxConfig

ROOT = "/sap/opu/odata/sap"
BP = f"{ROOT}/API_BUSINESS_PARTNER"
SI = f"{ROOT}/API_SUPPLIERINVOICE_PROCESS_SRV"
JE = f"{ROOT}/API_JOURNALENTRY_POST_SRV"
AUTH = ("finrail", "sandbox")


@pytest.fixture(scope="module")
def app() -> Any:
    """One seeded in-memory sandbox for the read-only tests of this module."""
    return create_app()


@pytest.fixture
async def erp(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)), base_url="http://sandbox.erp",
                                 auth=AUTH) as http:
        yield http


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded sandbox file; tests that write start from a copy (seeding once keeps them fast)."""
    path = tmp_path_factory.mktemp("erp") / "seed.db"
    create_app(SandboxConfig(data_path=str(path))).state.sandbox.store.close()
    return path


@pytest.fixture
async def fresh(seeded: Path, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A sandbox of its own, for tests that write."""
    copy = tmp_path / "erp.db"
    shutil.copy(seeded, copy)
    app = create_app(SandboxConfig(data_path=str(copy)))
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)),
                                                base_url="http://sandbox.erp", auth=AUTH) as http:
        yield http


async def token(http: httpx.AsyncClient) -> dict[str, str]:
    answer = await http.get(f"{BP}/", headers={"x-csrf-token": "Fetch"})
    assert answer.status_code == 200
    return {"x-csrf-token": answer.headers["x-csrf-token"]}


def supplier_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "BusinessPartnerCategory": "2",
        "OrganizationBPName1": "Harbor Freight GmbH",
        "to_BusinessPartnerAddress": {"results": [{"Country": "DE", "CityName": "Bremen"}]},
        "to_BusinessPartnerBank": {"results": [{"IBAN": "DE89370400440532013000", "SWIFTCode": "COBADEFFXXX"}]},
        "to_BusinessPartnerTax": {"results": [{"BPTaxType": "DE0", "BPTaxNumber": "DE136695976"}]},
        "to_Supplier": {"SupplierName": "Harbor Freight GmbH",
                        "to_SupplierCompany": {"results": [{"CompanyCode": "DE01", "PaymentTerms": "NT30"}]}},
    }
    body.update(overrides)
    return body


def invoice_body(supplier: str, posting: str = "/Date(1767225600000)/", **overrides: Any) -> dict[str, Any]:
    """An invoice of 119.00 EUR (100 net + 19 tax); the default posting date is 2026-01-01."""
    body: dict[str, Any] = {
        "CompanyCode": "DE01", "DocumentDate": posting, "PostingDate": posting, "InvoicingParty": supplier,
        "SupplierInvoiceIDByInvcgParty": "INV-77", "DocumentCurrency": "EUR", "InvoiceGrossAmount": "119.00",
        "AssignmentReference": "FRREF1",
        "to_SupplierInvoiceItemGLAcct": {"results": [
            {"GLAccount": "63000000", "CostCenter": "20110201", "SupplierInvoiceItemAmount": "100.00",
             "DebitCreditCode": "S", "TaxCode": "V1"}]},
        "to_SupplierInvoiceTax": {"results": [{"TaxCode": "V1", "TaxAmount": "19.00"}]},
    }
    body.update(overrides)
    return body


async def test_collections_come_in_the_odata_v2_envelope_with_count_and_paging(erp: httpx.AsyncClient) -> None:
    first = await erp.get(f"{BP}/A_Supplier", params={"$top": "5", "$inlinecount": "allpages"})
    assert first.status_code == 200
    body = first.json()["d"]
    assert int(body["__count"]) == 200
    assert len(body["results"]) == 5
    assert body["results"][0]["__metadata"]["type"] == "API_BUSINESS_PARTNER.A_SupplierType"
    second = await erp.get(f"{BP}/A_Supplier", params={"$top": "5", "$skip": "5"})
    numbers = [s["Supplier"] for s in body["results"] + second.json()["d"]["results"]]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 10
    one = await erp.get(f"{BP}/A_Supplier('{numbers[0]}')")
    assert one.json()["d"]["Supplier"] == numbers[0]


async def test_filter_supports_eq_and_substringof_and_ranges(erp: httpx.AsyncClient) -> None:
    answer = await erp.get(f"{BP}/A_Supplier", params={"$filter": "substringof('acme', SupplierName) and "
                                                                   "PostingIsBlocked eq false"})
    rows = answer.json()["d"]["results"]
    assert rows
    assert all("acme" in r["SupplierName"].lower() and not r["PostingIsBlocked"] for r in rows)
    closed = await erp.get(f"{ROOT}/API_FISCALPERIOD_SRV/A_FiscalPeriod",
                           params={"$filter": "IsOpen eq false and FiscalYear eq '2025'"})
    assert [(p["CompanyCode"], p["FiscalPeriod"]) for p in closed.json()["d"]["results"]] == [("DE01", "006")]
    after = await erp.get(f"{BP}/A_BusinessPartner", params={"$filter": "BusinessPartner gt '1000195'",
                                                             "$select": "BusinessPartner"})
    assert [r["BusinessPartner"] for r in after.json()["d"]["results"]][:2] == ["1000196", "1000197"]
    bad = await erp.get(f"{BP}/A_Supplier", params={"$filter": "NoSuchField eq 'x'"})
    assert bad.status_code == 400
    assert "NoSuchField" in bad.json()["error"]["message"]["value"]


async def test_expand_inlines_navigation_properties_and_defers_the_rest(erp: httpx.AsyncClient) -> None:
    answer = await erp.get(f"{BP}/A_BusinessPartner('1000000')", params={"$expand": "to_BusinessPartnerBank"})
    partner = answer.json()["d"]
    assert isinstance(partner["to_BusinessPartnerBank"]["results"], list)
    assert "__deferred" in partner["to_BusinessPartnerTax"]
    assert partner["CreationDate"].startswith("/Date(")


async def test_seed_has_the_mess_real_master_data_has(erp: httpx.AsyncClient) -> None:
    taxes = (await erp.get(f"{BP}/A_BusinessPartnerTaxNumber")).json()["d"]["results"]
    numbers = [t["BPTaxNumber"] for t in taxes]
    assert len(numbers) != len(set(numbers)), "near-duplicates share a tax number"
    banks = (await erp.get(f"{BP}/A_BusinessPartnerBank")).json()["d"]["results"]
    from schwifty import IBAN

    def valid(iban: str) -> bool:
        try:
            IBAN(iban)
        except ValueError:
            return False
        return True

    assert any(b["IBAN"] and not valid(b["IBAN"]) for b in banks), "some bank data is bad"
    centers = (await erp.get(f"{ROOT}/API_COSTCENTER_SRV/A_CostCenter")).json()["d"]["results"]
    assert len(centers) >= 30
    assert any(c["IsBlkdForPrimaryCostsPosting"] for c in centers)
    accounts = (await erp.get(f"{ROOT}/API_GLACCOUNTINCHARTOFACCOUNTS_SRV/A_GLAccountInChartOfAccounts",
                              params={"$inlinecount": "allpages", "$top": "0"})).json()["d"]
    assert int(accounts["__count"]) >= 60
    companies = (await erp.get(f"{ROOT}/API_COMPANYCODE_SRV/A_CompanyCode")).json()["d"]["results"]
    assert {("US01", "USD"), ("DE01", "EUR"), ("GB01", "GBP")} <= {(c["CompanyCode"], c["Currency"]) for c in companies}


async def test_basic_auth_is_required(app: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox.erp") as http:
        answer = await http.get(f"{BP}/A_Supplier", auth=("finrail", "wrong"))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert answer.json()["error"]["message"]["lang"] == "en"


async def test_writes_need_the_fetched_csrf_token(fresh: httpx.AsyncClient) -> None:
    refused = await fresh.post(f"{BP}/A_BusinessPartner", json=supplier_body())
    assert refused.status_code == 403
    assert refused.headers["x-csrf-token"] == "Required"
    assert refused.json()["error"]["message"]["value"] == "CSRF token validation failed"
    headers = await token(fresh)
    created = await fresh.post(f"{BP}/A_BusinessPartner", json=supplier_body(), headers=headers)
    assert created.status_code == 201, created.text
    await fresh.post("/_sandbox/csrf/rotate")
    stale = await fresh.post(f"{BP}/A_BusinessPartner", json=supplier_body(), headers=headers)
    assert stale.status_code == 403


async def test_supplier_is_created_only_by_deep_insert_of_a_business_partner(fresh: httpx.AsyncClient) -> None:
    headers = await token(fresh)
    direct = await fresh.post(f"{BP}/A_Supplier", json={"SupplierName": "Nope"}, headers=headers)
    assert direct.status_code == 501
    created = await fresh.post(f"{BP}/A_BusinessPartner", json=supplier_body(), headers=headers)
    partner = created.json()["d"]
    number = partner["BusinessPartner"]
    assert len(number) <= 10
    assert partner["Supplier"] == number
    assert partner["to_Supplier"]["VATRegistration"] == "DE136695976"
    assert partner["to_Supplier"]["to_SupplierCompany"]["results"][0]["PaymentTerms"] == "NT30"
    supplier = await fresh.get(f"{BP}/A_Supplier('{number}')")
    assert supplier.json()["d"]["SupplierName"] == "Harbor Freight GmbH"
    assert created.headers["location"].endswith(f"A_BusinessPartner('{number}')")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"to_Supplier": {"SupplierName": "x" * 81}}, "SupplierName"),
        ({"to_BusinessPartnerBank": {"results": [{"IBAN": "DE89" + "1" * 31}]}}, "IBAN"),
        ({"to_BusinessPartnerBank": {"results": [{"IBAN": "DE89370400440532013000", "SWIFTCode": "COBADEFFXXXX"}]}},
         "SWIFTCode"),
        ({"BusinessPartner": "12345678901"}, "BusinessPartner"),
        ({"to_BusinessPartnerBank": {"results": [{"IBAN": "DE00370400440532013000"}]}}, "IBAN"),
        ({"Unknown": 1}, "Unknown"),
    ],
)
async def test_too_long_or_invalid_fields_are_refused_with_an_odata_error(
    fresh: httpx.AsyncClient, change: dict[str, Any], message: str
) -> None:
    answer = await fresh.post(f"{BP}/A_BusinessPartner", json=supplier_body(**change), headers=await token(fresh))
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert message in error["message"]["value"]
    assert error["innererror"]["errordetails"]


async def test_invoice_lifecycle_park_post_cancel(fresh: httpx.AsyncClient) -> None:
    headers = await token(fresh)
    supplier = (await fresh.post(f"{BP}/A_BusinessPartner", json=supplier_body(), headers=headers)).json()["d"]
    created = await fresh.post(f"{SI}/A_SupplierInvoice", json=invoice_body(supplier["Supplier"]), headers=headers)
    assert created.status_code == 201, created.text
    invoice = created.json()["d"]
    assert invoice["SupplierInvoiceStatus"] == "A"
    assert invoice["to_SupplierInvoiceItemGLAcct"]["results"][0]["SupplierInvoiceItemAmount"] == "100.00"
    key = {"SupplierInvoice": f"'{invoice['SupplierInvoice']}'", "FiscalYear": f"'{invoice['FiscalYear']}'"}
    posted = await fresh.post(f"{SI}/Post", params=key, headers=headers)
    assert posted.status_code == 200
    assert posted.json()["d"]["SupplierInvoiceStatus"] == "5"
    again = await fresh.post(f"{SI}/Post", params=key, headers=headers)
    assert again.status_code == 400
    duplicate = await fresh.post(f"{SI}/A_SupplierInvoice", json=invoice_body(supplier["Supplier"]), headers=headers)
    assert duplicate.status_code == 400
    assert "already entered" in duplicate.json()["error"]["message"]["value"]
    cancelled = await fresh.post(f"{SI}/Cancel", params=key, headers=headers)
    assert cancelled.json()["d"]["IsReversed"] is True
    reversal = cancelled.json()["d"]["ReverseDocument"]
    by_reference = await fresh.get(f"{SI}/A_SupplierInvoice", params={"$filter": "AssignmentReference eq 'FRREF1'"})
    assert {r["SupplierInvoice"] for r in by_reference.json()["d"]["results"]} == {invoice["SupplierInvoice"],
                                                                                   reversal}


async def test_postings_into_a_closed_period_are_refused(fresh: httpx.AsyncClient) -> None:
    headers = await token(fresh)
    supplier = (await fresh.post(f"{BP}/A_BusinessPartner", json=supplier_body(), headers=headers)).json()["d"]
    june_2025 = "/Date(1749945600000)/"  # 2025-06-15: DE01's closed period
    invoice = (await fresh.post(f"{SI}/A_SupplierInvoice", json=invoice_body(supplier["Supplier"], june_2025),
                                headers=headers)).json()["d"]
    refused = await fresh.post(f"{SI}/Post", headers=headers, params={
        "SupplierInvoice": f"'{invoice['SupplierInvoice']}'", "FiscalYear": "'2025'"})
    assert refused.status_code == 400
    assert refused.json()["error"]["message"]["value"] == "Posting period 006 2025 is not open"
    entry = {"CompanyCode": "DE01", "DocumentDate": june_2025, "PostingDate": june_2025, "to_JournalEntryItem": [
        {"GLAccount": "63000000", "AmountInTransactionCurrency": "10.00", "TransactionCurrency": "EUR",
         "DebitCreditCode": "S"},
        {"GLAccount": "11001000", "AmountInTransactionCurrency": "10.00", "TransactionCurrency": "EUR",
         "DebitCreditCode": "H"}]}
    closed = await fresh.post(f"{JE}/A_JournalEntry", json=entry, headers=headers)
    assert closed.status_code == 400
    assert "not open" in closed.json()["error"]["message"]["value"]


async def test_journal_entries_balance_and_reverse(fresh: httpx.AsyncClient) -> None:
    headers = await token(fresh)
    day = "/Date(1767225600000)/"
    lines = [
        {"GLAccount": "64000000", "AmountInTransactionCurrency": "250.00", "TransactionCurrency": "EUR",
         "DebitCreditCode": "S", "CostCenter": "20110201"},
        {"GLAccount": "21700000", "AmountInTransactionCurrency": "250.00", "TransactionCurrency": "EUR",
         "DebitCreditCode": "H"},
    ]
    entry = {"CompanyCode": "DE01", "DocumentDate": day, "PostingDate": day, "DocumentReferenceID": "FRJE1",
             "to_JournalEntryItem": {"results": lines}}
    unbalanced = {**entry, "to_JournalEntryItem": [lines[0], {**lines[1], "AmountInTransactionCurrency": "200.00"}]}
    refused = await fresh.post(f"{JE}/A_JournalEntry", json=unbalanced, headers=headers)
    assert refused.status_code == 400
    assert "not zero" in refused.json()["error"]["message"]["value"]
    created = (await fresh.post(f"{JE}/A_JournalEntry", json=entry, headers=headers)).json()["d"]
    reversal = await fresh.post(f"{JE}/Reverse", headers=headers, params={
        "AccountingDocument": f"'{created['AccountingDocument']}'", "CompanyCode": "'DE01'", "FiscalYear": "'2026'"})
    assert reversal.status_code == 200
    items = reversal.json()["d"]["to_JournalEntryItem"]["results"]
    assert [i["DebitCreditCode"] for i in items] == ["H", "S"]
    original = (await fresh.get(f"{JE}/A_JournalEntry(AccountingDocument='{created['AccountingDocument']}',"
                                "CompanyCode='DE01',FiscalYear='2026')")).json()["d"]
    assert original["IsReversed"] is True
    assert original["ReverseDocument"] == reversal.json()["d"]["AccountingDocument"]


async def test_errors_and_faults_use_the_odata_error_body(fresh: httpx.AsyncClient) -> None:
    missing = await fresh.get(f"{BP}/A_Supplier('NOPE')")
    assert missing.status_code == 404
    assert "error" in missing.json()
    unknown = await fresh.get(f"{ROOT}/NO_SUCH_SRV/A_Thing")
    assert unknown.status_code == 404
    assert "error" in unknown.json()
    await fresh.put("/_sandbox/faults", json={"maintenance": True, "retry_after_seconds": 7})
    down = await fresh.get(f"{BP}/A_Supplier")
    assert down.status_code == 503
    assert down.headers["retry-after"] == "7"
    assert down.json()["error"]["message"]["value"]


async def test_state_persists_across_restarts_with_a_file(seeded: Path, tmp_path: Path) -> None:
    shutil.copy(seeded, tmp_path / "erp.db")
    config = SandboxConfig(data_path=str(tmp_path / "erp.db"))
    app = create_app(config)
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, app)),
                                                base_url="http://sandbox.erp", auth=AUTH) as http:
        created = await http.post(f"{BP}/A_BusinessPartner", json=supplier_body(), headers=await token(http))
        number = created.json()["d"]["BusinessPartner"]
    again = create_app(config)
    async with lifespan(again), httpx.AsyncClient(transport=httpx.ASGITransport(app=cast(Any, again)),
                                                  base_url="http://sandbox.erp", auth=AUTH) as http:
        found = await http.get(f"{BP}/A_Supplier('{number}')")
        assert found.status_code == 200
        assert found.json()["d"]["SupplierName"] == "Harbor Freight GmbH"
        count = (await http.get(f"{BP}/A_Supplier", params={"$top": "0", "$inlinecount": "allpages"})).json()
        assert count["d"]["__count"] == "201"
        following = await http.post(f"{BP}/A_BusinessPartner", json=supplier_body(), headers=await token(http))
        assert int(following.json()["d"]["BusinessPartner"]) == int(number) + 1


@pytest.mark.parametrize(("body", "message"), [
    (supplier_body(BusinessPartnerIsBlocked="true"), "Property 'BusinessPartnerIsBlocked' has an invalid value"),
    (supplier_body(to_Supplier={"SupplierName": "Harbor Freight GmbH", "PostingIsBlocked": 1}),
     "Property 'PostingIsBlocked' has an invalid value"),
    (b'{"BusinessPartnerCategory": ', "The request body is not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "The request body is nested too deeply"),
])
async def test_bodies_are_read_strictly_and_refused_with_an_odata_error(
    fresh: httpx.AsyncClient, body: dict[str, Any] | bytes, message: str
) -> None:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    answer = await fresh.post(f"{BP}/A_BusinessPartner", content=content,
                              headers={**await token(fresh), "content-type": "application/json"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "/IWBEP/CM_MGW_RT/004"
    assert error["message"]["value"].startswith(message)
    assert error["innererror"]["errordetails"]
