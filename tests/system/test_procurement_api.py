"""The procurement system API end to end: gateway chain -> connector -> sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.app import Gateway, create_app
from gateway.catalog import ApiDescriptor, Catalog
from gateway.lifespan import lifespan
from gateway.registry import default_catalog
from gateway.settings import Settings
from platforms.kit import SandboxState
from platforms.procurement.app import create_app as create_sandbox
from system_apis.canonical import encode_cursor
from system_apis.connectors.kit import ConnectionConfig
from system_apis.connectors.procurement.client import ProcurementConnector
from system_apis.procurement.api import PREFIX, SCOPES, SUMMARY, routes
from tests.support import Operator, register

CORE_APIS = tuple(a for a in default_catalog().apis if a.tier == "gateway")  # identity, admin, ops

Env = tuple[httpx.AsyncClient, Operator, SandboxState, Gateway]

ORDER = {
    "supplier_id": "1", "company_code": "US01",
    "lines": [{"description": "Laptop", "quantity": "2", "unit_price": {"amount": "999.50", "currency": "USD"},
               "gl_account": "620000", "cost_center": "CC1000"}],
}


@pytest.fixture
async def env(settings: Settings) -> AsyncIterator[Env]:
    sandbox = create_sandbox()
    connector = ProcurementConnector(ConnectionConfig(base_url="http://sandbox.procurement", retries=1),
                                     transport=httpx.ASGITransport(app=sandbox))  # type: ignore[arg-type]
    api = ApiDescriptor(name="procurement", tier="system", major=1, owner="finance-integration", summary=SUMMARY,
                        prefixes=(PREFIX,), scopes=SCOPES, routes=lambda ctx: routes(connector))
    gateway: Gateway = create_app(settings, catalog=Catalog(apis=(*CORE_APIS, api)))
    await gateway.startup()
    transport = httpx.ASGITransport(app=gateway, client=("203.0.113.7", 50000))
    async with lifespan(sandbox), httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        operator = await register(gateway, client, sorted(gateway.catalog.scopes))
        yield client, operator, sandbox.state.sandbox, gateway
    await gateway.shutdown()
    await connector.aclose()


async def audit_of(client: httpx.AsyncClient, operator: Operator, answer: httpx.Response) -> list[dict[str, Any]]:
    found = await client.get("/admin/v1/audit", params={"correlation_id": answer.headers["x-correlation-id"]},
                             headers=operator.headers)
    items: list[dict[str, Any]] = found.json()["items"]
    return items


async def test_suppliers_page_filter_and_erp_number_is_audited(env: Env) -> None:
    client, operator, _, _ = env
    first = await client.get(f"{PREFIX}/suppliers", params={"limit": 2}, headers=operator.headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [s["id"] for s in page["items"]] == ["1", "2"]
    second = await client.get(f"{PREFIX}/suppliers", params={"limit": 2, "cursor": page["next_cursor"]},
                              headers=operator.headers)
    assert [s["id"] for s in second.json()["items"]] == ["3", "4"]
    edited = ("A" if page["next_cursor"][0] != "A" else "B") + page["next_cursor"][1:]
    tampered = await client.get(f"{PREFIX}/suppliers", params={"cursor": edited}, headers=operator.headers)
    assert tampered.status_code == 422  # the shape of a cursor, but not one this API issued
    assert tampered.headers["content-type"] == "application/problem+json"
    assert tampered.json()["invalid_params"][0]["name"] == "query.cursor"
    garbled = await client.get(f"{PREFIX}/suppliers", params={"cursor": "not a cursor"}, headers=operator.headers)
    assert garbled.status_code == 400  # not even the documented shape
    backwards = await client.get(f"{PREFIX}/suppliers", params={"cursor": encode_cursor({"offset": -1})},
                                 headers=operator.headers)
    assert backwards.status_code == 422  # issued by this API's key, yet no position of a list

    waiting = await client.get(f"{PREFIX}/suppliers", params={"status": "active", "in_erp": "false", "limit": 200},
                               headers=operator.headers)
    candidates = waiting.json()["items"]
    assert candidates
    assert all(s["erp_supplier_number"] is None for s in candidates)
    target = candidates[0]["id"]
    answer = await client.put(f"{PREFIX}/suppliers/{target}/erp-supplier-number",
                              json={"erp_supplier_number": "0009000042"}, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["erp_supplier_number"] == "0009000042"
    (record,) = await audit_of(client, operator, answer)
    assert record["kind"] == "change"
    assert record["operation"] == "set_erp_supplier_number"
    assert record["resource_ids"] == {"supplier_id": target}
    assert record["before"]["erp_supplier_number"] is None
    assert record["after"]["erp_supplier_number"] == "0009000042"
    after = await client.get(f"{PREFIX}/suppliers", params={"status": "active", "in_erp": "false", "limit": 200},
                             headers=operator.headers)
    assert target not in [s["id"] for s in after.json()["items"]]
    missing = await client.get(f"{PREFIX}/suppliers/99999", headers=operator.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_purchase_order_create_is_idempotent_audited_and_moves_through_its_life(env: Env) -> None:
    client, operator, sandbox, _ = env
    url = f"{PREFIX}/purchase-orders"
    assert (await client.post(url, json=ORDER, headers=operator.headers)).status_code == 400  # no Idempotency-Key
    before = sandbox.store.count("purchase_orders")
    headers = {**operator.headers, "Idempotency-Key": "po-1"}
    created = await client.post(url, json=ORDER, headers=headers)
    assert created.status_code == 201, created.text
    replay = await client.post(url, json=ORDER, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == created.json()
    assert sandbox.store.count("purchase_orders") == before + 1
    order = created.json()
    assert (order["status"], order["total"]) == ("draft", {"amount": "1999.00", "currency": "USD"})
    (record,) = await audit_of(client, operator, created)
    assert (record["before"], record["after"]["id"], record["outcome"]) == (None, order["id"], 201)

    early = await client.post(f"{url}/{order['id']}/close", headers=operator.headers)
    assert early.status_code == 409
    assert "allowed actions: cancel, issue" in early.json()["detail"]
    issued = await client.post(f"{url}/{order['id']}/issue", headers=operator.headers)
    assert issued.json()["status"] == "issued"
    (change,) = await audit_of(client, operator, issued)
    assert (change["before"]["status"], change["after"]["status"]) == ("draft", "issued")

    receipt = await client.post(f"{PREFIX}/receipts", json={
        "purchase_order_id": order["id"], "lines": [{"po_line_number": 1, "quantity": "2"}]},
        headers={**operator.headers, "Idempotency-Key": "gr-1"})
    assert receipt.status_code == 201, receipt.text
    listed = await client.get(f"{PREFIX}/receipts", params={"purchase_order_id": order["id"]},
                              headers=operator.headers)
    assert listed.json()["items"] == [receipt.json()]
    assert (await client.post(f"{url}/{order['id']}/close", headers=operator.headers)).json()["status"] == "closed"
    assert (await client.post(f"{url}/{order['id']}/cancel", headers=operator.headers)).status_code == 409


async def test_reads_of_requisitions_invoices_budgets_and_scopes(env: Env) -> None:
    client, operator, _, _ = env
    for path in ("requisitions", "purchase-orders", "invoices", "budget-lines"):
        answer = await client.get(f"{PREFIX}/{path}", params={"limit": 5}, headers=operator.headers)
        assert answer.status_code == 200, (path, answer.text)
        assert len(answer.json()["items"]) == 5
    invoices = await client.get(f"{PREFIX}/invoices", params={"status": "approved"}, headers=operator.headers)
    assert invoices.json()["items"]
    assert {i["status"] for i in invoices.json()["items"]} == {"approved"}
    requisition = await client.post(f"{PREFIX}/requisitions", headers={**operator.headers, "Idempotency-Key": "r-1"},
                                    json={"requester_id": "buyer1", "company_code": "DE01", "lines": [
                                        {"description": "Chair", "quantity": "4",
                                         "unit_price": {"amount": "120.00", "currency": "EUR"}}]})
    assert requisition.status_code == 201, requisition.text
    assert requisition.json()["total"] == {"amount": "480.00", "currency": "EUR"}
    rid = requisition.json()["id"]
    assert (await client.get(f"{PREFIX}/requisitions/{rid}", headers=operator.headers)).json() == requisition.json()
    submitted = await client.post(f"{PREFIX}/requisitions/{rid}/submit", headers=operator.headers)
    assert submitted.json()["status"] == "pending_approval"
    assert (await client.post(f"{PREFIX}/requisitions/{rid}/submit", headers=operator.headers)).status_code == 409
    reader = await register(env[3], client, ["procurement:suppliers:read"])
    assert (await client.get(f"{PREFIX}/suppliers/1", headers=reader.headers)).status_code == 200
    denied = await client.post(f"{PREFIX}/purchase-orders", json=ORDER,
                               headers={**reader.headers, "Idempotency-Key": "po-2"})
    assert denied.status_code == 403


async def test_the_payment_of_an_approved_invoice_is_recorded_once_and_audited(env: Env) -> None:
    client, operator, _, _ = env
    invoice = (await client.get(f"{PREFIX}/invoices", params={"status": "approved", "limit": 1},
                                headers=operator.headers)).json()["items"][0]
    draft = (await client.get(f"{PREFIX}/invoices", params={"status": "draft", "limit": 1},
                              headers=operator.headers)).json()["items"][0]
    path = f"{PREFIX}/invoices/{invoice['id']}/payment"
    body = {"payment_date": "2026-11-20", "reference": "DE01-2026-1500000001"}

    paid = await client.post(path, json=body, headers={**operator.headers, "Idempotency-Key": "pay-1"})

    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid"
    assert paid.json()["gross_amount"] == invoice["gross_amount"]
    assert (await client.get(f"{PREFIX}/invoices/{invoice['id']}", headers=operator.headers)).json() == paid.json()
    listed = await client.get(f"{PREFIX}/invoices", params={"status": "paid"}, headers=operator.headers)
    assert [i["id"] for i in listed.json()["items"]] == [invoice["id"]]
    approved = await client.get(f"{PREFIX}/invoices", params={"status": "approved", "limit": 200},
                                headers=operator.headers)
    assert invoice["id"] not in [i["id"] for i in approved.json()["items"]]
    (record,) = [r for r in await audit_of(client, operator, paid) if r["operation"] == "record_invoice_payment"]
    assert record["resource_ids"] == {"invoice_id": invoice["id"]}

    again = await client.post(path, json=body, headers={**operator.headers, "Idempotency-Key": "pay-2"})
    assert again.status_code == 200, "the same payment again changes nothing"
    assert again.json() == paid.json()
    other = await client.post(path, json={**body, "reference": "another"},
                              headers={**operator.headers, "Idempotency-Key": "pay-3"})
    assert other.status_code == 409, other.text
    assert "already paid" in other.json()["detail"]
    not_approved = await client.post(f"{PREFIX}/invoices/{draft['id']}/payment", json=body,
                                     headers={**operator.headers, "Idempotency-Key": "pay-4"})
    assert not_approved.status_code == 409
    missing = await client.post(f"{PREFIX}/invoices/99999999/payment", json=body,
                                headers={**operator.headers, "Idempotency-Key": "pay-5"})
    assert missing.status_code == 404
    unkeyed = await client.post(path, json=body, headers=operator.headers)
    assert unkeyed.status_code == 400
    reader = await register(env[3], client, ["procurement:invoices:read"])
    denied = await client.post(path, json=body, headers={**reader.headers, "Idempotency-Key": "pay-6"})
    assert denied.status_code == 403
