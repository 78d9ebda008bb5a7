"""The ERP system API end to end: gateway chain -> ERP connector -> embedded SAP-dialect sandbox."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from litestar import Litestar

from gateway.app import Gateway, create_app
from gateway.catalog import ApiDescriptor, Catalog
from gateway.lifespan import lifespan
from gateway.registry import default_catalog
from gateway.settings import Settings
from platforms.erp.app import create_app as create_sandbox
from platforms.kit.config import SandboxConfig
from platforms.kit.faults import Faults
from system_apis.connectors.erp.client import ErpConnector
from system_apis.connectors.kit import ConnectionConfig
from system_apis.erp.api import PREFIX, SCOPES, SUMMARY, routes
from tests.support import register

CORE_APIS = tuple(a for a in default_catalog().apis if a.tier == "gateway")  # identity, admin, ops

IBAN = "DE89370400440532013000"


@dataclass
class Rig:
    sandbox: Litestar
    gateway: Gateway
    http: httpx.AsyncClient
    headers: dict[str, str]

    async def post(self, path: str, body: Any = None, key: str | None = None, **params: Any) -> httpx.Response:
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        return await self.http.post(f"{PREFIX}{path}", json=body, headers=headers, params=params)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"{PREFIX}{path}", params=params, headers=self.headers)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("erp") / "seed.db"
    create_sandbox(SandboxConfig(data_path=str(path))).state.sandbox.store.close()
    return path


@pytest.fixture
async def rig(settings: Settings, seeded: Path, tmp_path: Path) -> AsyncIterator[Rig]:
    path = tmp_path / "erp.db"
    shutil.copy(seeded, path)
    sandbox = create_sandbox(SandboxConfig(data_path=str(path)))
    async with lifespan(sandbox):
        connector = ErpConnector(
            ConnectionConfig(base_url="http://sandbox.erp", username="finrail", password="sandbox", retries=1,
                             backoff_base_seconds=0.01, backoff_max_seconds=0.02, retry_after_max_seconds=1.0),
            transport=httpx.ASGITransport(app=cast(Any, sandbox)),
        )
        api = ApiDescriptor(name="erp", tier="system", major=1, owner="finance-integration", summary=SUMMARY,
                            prefixes=(PREFIX,), scopes=SCOPES, routes=lambda ctx: routes(connector))
        gateway = create_app(settings, catalog=Catalog(apis=(*CORE_APIS, api)))
        await gateway.startup()
        transport = httpx.ASGITransport(app=gateway, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            operator = await register(gateway, http, sorted(gateway.catalog.scopes))
            yield Rig(sandbox, gateway, http, operator.headers)
        await gateway.shutdown()
        await connector.aclose()


def supplier() -> dict[str, Any]:
    return {"name": "Harbor Freight GmbH", "country": "DE", "tax_id": {"country": "DE", "value": "DE136695976"},
            "bank_accounts": [{"holder": "Harbor Freight GmbH", "iban": IBAN}], "payment_terms": "NET30"}


def invoice(supplier_id: str, day: str = "2026-01-10", number: str = "INV-77") -> dict[str, Any]:
    return {"company_code": "DE01", "supplier_id": supplier_id, "invoice_number": number, "invoice_date": day,
            "gross_amount": {"amount": "119.00", "currency": "EUR"},
            "tax_amount": {"amount": "19.00", "currency": "EUR"},
            "lines": [{"line_number": 1, "amount": {"amount": "100.00", "currency": "EUR"},
                       "gl_account": "63000000", "cost_center": "20110201", "tax_code": "V1"}]}


async def test_suppliers_page_search_and_read(rig: Rig) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = await rig.get("/suppliers", limit=80, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        seen.extend(s["id"] for s in page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 200 == len(set(seen))
    first = (await rig.get(f"/suppliers/{seen[0]}")).json()
    assert first["erp_supplier_number"] == seen[0]
    by_name = await rig.get("/suppliers", name=first["name"].split()[0].upper())
    assert seen[0] in {s["id"] for s in by_name.json()["items"]}
    if first["tax_id"]:
        by_tax = await rig.get("/suppliers", tax_id=first["tax_id"]["value"])
        assert seen[0] in {s["id"] for s in by_tax.json()["items"]}
    assert (await rig.get("/suppliers/9999999")).status_code == 404
    malformed = await rig.get("/suppliers", cursor="eyJhZnRlciI6IjEifQ.AAAA")  # not the documented shape
    assert malformed.status_code == 400
    assert malformed.headers["content-type"] == "application/problem+json"
    forged = await rig.get("/suppliers", cursor="eyJhZnRlciI6IjEifQ.AAAAAAAAAAAAAAAA")  # the shape, a wrong checksum
    assert forged.status_code == 422
    assert forged.json()["type"] == "https://finrail.dev/problems/invalid-cursor"
    assert forged.json()["invalid_params"][0]["name"] == "query.cursor"
    offset_cursor = (await rig.get("/gl-accounts", limit=1)).json()["next_cursor"]
    other_list = await rig.get("/suppliers", cursor=offset_cursor)  # genuine, but an offset, not a supplier
    assert other_list.status_code == 422
    assert "not a cursor issued by this API" in other_list.json()["detail"]


async def test_master_data_and_period_check(rig: Rig) -> None:
    entities = (await rig.get("/legal-entities")).json()["items"]
    assert {("US01", "USD"), ("DE01", "EUR"), ("GB01", "GBP")} <= {(e["company_code"], e["currency"]) for e in entities}
    inactive = (await rig.get("/cost-centers", active="false", limit=200)).json()["items"]
    active = (await rig.get("/cost-centers", active="true", company_code="DE01", limit=200)).json()["items"]
    assert inactive
    assert active
    assert not {c["code"] for c in inactive} & {c["code"] for c in active}
    assert all(c["company_code"] == "DE01" for c in active)
    accounts = await rig.get("/gl-accounts", limit=50)
    assert len(accounts.json()["items"]) == 50
    assert accounts.json()["next_cursor"]
    rest = await rig.get("/gl-accounts", limit=50, cursor=accounts.json()["next_cursor"])
    assert len(rest.json()["items"]) >= 10
    assert rest.json()["next_cursor"] is None
    closed = (await rig.get("/periods/check", company_code="DE01", date="2025-06-15")).json()
    assert closed["open"] is False
    assert closed["period"]["period"] == 6
    open_ = (await rig.get("/periods/check", company_code="DE01", date="2026-01-10")).json()
    assert open_["open"] is True
    undefined = (await rig.get("/periods/check", company_code="DE01", date="2040-01-01")).json()
    assert undefined == {"company_code": "DE01", "date": "2040-01-01", "open": False, "period": None}


async def test_creates_are_idempotent_audited_and_posted(rig: Rig) -> None:
    assert (await rig.post("/suppliers", supplier())).status_code == 400  # Idempotency-Key is required
    created = await rig.post("/suppliers", supplier(), key="sup-1", company_code="DE01")
    assert created.status_code == 201, created.text
    replay = await rig.post("/suppliers", supplier(), key="sup-1", company_code="DE01")
    assert replay.json()["id"] == created.json()["id"]
    assert replay.headers.get("idempotent-replayed") == "true"
    supplier_id = created.json()["id"]

    parked = await rig.post("/supplier-invoices", invoice(supplier_id), key="inv-1")
    assert parked.status_code == 201, parked.text
    invoice_id = parked.json()["id"]
    assert parked.json()["status"] == "received"
    posted = await rig.post(f"/supplier-invoices/{invoice_id}/post", key="post-1")
    assert posted.status_code == 200
    assert posted.json()["status"] == "posted"
    duplicate = await rig.post("/supplier-invoices", invoice(supplier_id), key="inv-2")
    assert duplicate.status_code == 422
    assert "already entered" in duplicate.json()["detail"]

    late = (await rig.post("/supplier-invoices", invoice(supplier_id, "2025-06-03", "INV-78"), key="inv-3")).json()
    refused = await rig.post(f"/supplier-invoices/{late['id']}/post", key="post-2")
    assert refused.status_code == 422
    assert "not open" in refused.json()["detail"]

    entry = {"company_code": "DE01", "posting_date": "2026-02-01", "lines": [
        {"gl_account": "64000000", "side": "debit", "amount": {"amount": "80.00", "currency": "EUR"}},
        {"gl_account": "21700000", "side": "credit", "amount": {"amount": "80.00", "currency": "EUR"}}]}
    journal = await rig.post("/journal-entries", entry, key="je-1")
    assert journal.status_code == 201, journal.text
    reversal = await rig.post(f"/journal-entries/{journal.json()['id']}/reverse", key="rev-1")
    assert reversal.status_code == 201
    assert reversal.json()["reversal_of"] == journal.json()["id"]
    assert (await rig.get(f"/journal-entries/{journal.json()['id']}")).json()["status"] == "reversed"

    payment = {"company_code": "DE01", "amount": {"amount": "119.00", "currency": "EUR"}, "value_date": "2026-02-01",
               "payee_name": "Harbor Freight GmbH", "payee_bank_account": {"holder": "Harbor Freight GmbH",
                                                                          "iban": IBAN},
               "supplier_id": supplier_id, "obligation_ids": [invoice_id]}
    paid = await rig.post("/payments", payment, key="pay-1")
    assert paid.status_code == 201, paid.text
    listed = (await rig.get("/payments", supplier_id=supplier_id)).json()
    assert [p["id"] for p in listed["items"]] == [paid.json()["id"]]

    audit = await rig.http.get("/admin/v1/audit", params={"limit": 500}, headers=rig.headers)
    changes = {r["operation"]: r for r in audit.json()["items"] if r["kind"] == "change"}
    assert changes["create_supplier"]["after"]["id"] == supplier_id
    assert changes["create_supplier"]["before"] is None
    assert changes["post_supplier_invoice"]["before"]["status"] == "received"
    assert changes["post_supplier_invoice"]["after"]["status"] == "posted"
    assert changes["create_payment"]["resource_ids"] == {"payment_id": paid.json()["id"]}


async def test_platform_maintenance_is_a_503_problem(rig: Rig) -> None:
    rig.sandbox.state.sandbox.set_faults(Faults(maintenance=True, retry_after_seconds=120))
    answer = await rig.get("/legal-entities")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "120"
    assert "erp" in answer.json()["detail"]


async def test_openapi_document_lists_every_route_with_its_scopes(rig: Rig) -> None:
    answer = await rig.http.get(f"{PREFIX}/openapi.json")
    assert answer.status_code == 200, answer.text
    paths = answer.json()["paths"]
    assert {f"{PREFIX}/suppliers", f"{PREFIX}/periods/check", f"{PREFIX}/supplier-invoices/{{invoice_id}}/post",
            f"{PREFIX}/journal-entries/{{entry_id}}/reverse", f"{PREFIX}/payments"} <= set(paths)
    create = paths[f"{PREFIX}/supplier-invoices"]["post"]
    assert {"201", "502", "503", "504"} <= set(create["responses"])
