"""The procurement sandbox behaves like Coupa: bare arrays, paging, scoped OAuth, PO life, webhooks, persistence."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from standardwebhooks import Webhook

from gateway.lifespan import lifespan
from platforms.kit import DEFAULT_WEBHOOK_SECRET, SandboxConfig, SandboxState, WebhookSender
from platforms.procurement.app import create_app
from platforms.procurement.seed import SUPPLIER_COUNT

BASE = "http://sandbox.procurement"
Sandbox = tuple[httpx.AsyncClient, dict[str, str]]


class Receiver:
    """An ASGI webhook endpoint that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.received.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def token(http: httpx.AsyncClient, scope: str | None = None) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": "finrail", "client_secret": "sandbox-secret"}
    if scope:
        form["scope"] = scope
    answer = await http.post("/oauth2/access_tokens", data=form)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def serve(app: Litestar) -> AsyncIterator[Sandbox]:
    async with lifespan(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:  # type: ignore[arg-type]
        yield http, await token(http)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async for pair in serve(create_app()):
        yield pair


async def test_lists_are_bare_arrays_with_hyphenated_fields_offset_and_limit(sandbox: Sandbox) -> None:
    http, auth = sandbox
    first = await http.get("/api/suppliers", params={"limit": 3}, headers=auth)
    assert first.status_code == 200
    page = first.json()
    assert isinstance(page, list)
    assert [s["id"] for s in page] == [1, 2, 3]
    assert {"tax-id", "invoice-matching-level", "on-hold", "custom-fields", "payment-term"} <= page[0].keys()
    second = await http.get("/api/suppliers", params={"limit": 3, "offset": 3}, headers=auth)
    assert [s["id"] for s in second.json()] == [4, 5, 6]
    default = await http.get("/api/suppliers", headers=auth)
    assert len(default.json()) == 50  # Coupa's page size
    too_big = await http.get("/api/suppliers", params={"limit": 51}, headers=auth)
    assert too_big.status_code == 400
    assert "limit" in too_big.json()["errors"]["base"][0]
    beyond = await http.get("/api/suppliers", params={"offset": SUPPLIER_COUNT}, headers=auth)
    assert beyond.json() == []


async def test_filters_by_fields_nested_fields_and_operators(sandbox: Sandbox) -> None:
    http, auth = sandbox
    approved = (await http.get("/api/suppliers", params={"status": "approved", "limit": 50}, headers=auth)).json()
    assert approved
    assert {s["status"] for s in approved} == {"approved"}
    target = approved[4]
    by_tax = await http.get("/api/suppliers", params={"tax-id": target["tax-id"]}, headers=auth)
    assert target["id"] in [s["id"] for s in by_tax.json()]
    missing_erp = await http.get(
        "/api/suppliers",
        params={"status": "approved", "custom-fields[erp-supplier-number][blank]": "true", "limit": 50},
        headers=auth,
    )
    assert missing_erp.json(), "the seed has approved suppliers not yet in the ERP"
    assert all(s["custom-fields"]["erp-supplier-number"] is None for s in missing_erp.json())
    orders = await http.get("/api/purchase_orders", params={"status[in]": "closed,cancelled"}, headers=auth)
    assert {o["status"] for o in orders.json()} == {"closed", "cancelled"}
    unknown = await http.get("/api/suppliers", params={"colour": "red"}, headers=auth)
    assert unknown.status_code == 400
    assert "colour" in unknown.json()["errors"]["base"][0]


async def test_seed_is_deterministic_and_has_the_awkward_cases() -> None:
    docs = []
    for _ in range(2):
        app = create_app(SandboxConfig(seed=7))
        state: SandboxState = app.state.sandbox
        docs.append(state.store.all("suppliers"))
    assert docs[0] == docs[1]
    suppliers = docs[0]
    assert len(suppliers) == SUPPLIER_COUNT
    assert {s["custom-fields"]["company-code"] for s in suppliers} == {"US01", "DE01", "GB01"}
    tax_ids = [s["tax-id"] for s in suppliers]
    assert len(tax_ids) > len(set(tax_ids)), "near-duplicates share a tax id"
    statuses = {s["status"] for s in suppliers}
    assert {"approved", "pending_approval", "draft", "inactive"} <= statuses
    assert any(s["on-hold"] for s in suppliers)
    orders = create_app(SandboxConfig(seed=7)).state.sandbox.store.all("purchase_orders")
    assert {o["status"] for o in orders} == {"draft", "issued", "closed", "cancelled"}


async def test_oauth_scopes_401_and_403(sandbox: Sandbox) -> None:
    http, _ = sandbox
    missing = await http.get("/api/suppliers")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    bogus = await http.get("/api/suppliers", headers={"Authorization": "Bearer nope"})
    assert bogus.status_code == 401
    wrong = await http.post("/oauth2/access_tokens", data={
        "grant_type": "client_credentials", "client_id": "finrail", "client_secret": "guess"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    unknown = await http.post("/oauth2/access_tokens", data={"grant_type": "client_credentials", "scope": "core.all"},
                              auth=("finrail", "sandbox-secret"))
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid_scope"
    reader = await token(http, "core.supplier.read")
    assert (await http.get("/api/suppliers/1", headers=reader)).status_code == 200
    denied = await http.put("/api/suppliers/1", json={"on-hold": True}, headers=reader)
    assert denied.status_code == 403
    assert "core.supplier.write" in denied.json()["errors"]["base"][0]
    assert (await http.get("/api/purchase_orders", headers=reader)).status_code == 403


async def create_order(http: httpx.AsyncClient, auth: dict[str, str], supplier_id: int = 1) -> dict[str, Any]:
    body = {
        "supplier": {"id": supplier_id},
        "currency": {"code": "USD"},
        "order-lines": [{"description": "Laptop", "quantity": "2", "price": "999.50",
                         "account": {"code": "US01-620000-CC1000", "segment-1": "US01", "segment-2": "620000"}}],
        "custom-fields": {"company-code": "US01"},
    }
    answer = await http.post("/api/purchase_orders", json=body, headers=auth)
    assert answer.status_code == 201, answer.text
    order: dict[str, Any] = answer.json()
    return order


async def test_purchase_order_state_machine(sandbox: Sandbox) -> None:
    http, auth = sandbox
    order = await create_order(http, auth)
    assert order["status"] == "draft"
    assert order["total"] == "1999.00"
    po = f"/api/purchase_orders/{order['id']}"

    early = await http.put(f"{po}/close", headers=auth)
    assert early.status_code == 422
    assert early.json()["errors"]["base"] == [
        f"cannot close purchase order {order['po-number']}: it is draft; allowed actions: cancel, issue"]
    issued = await http.put(f"{po}/issue", headers=auth)
    assert issued.json()["status"] == "issued"
    assert issued.json()["issued-at"] is not None
    assert (await http.put(f"{po}/issue", headers=auth)).status_code == 422

    line = order["order-lines"][0]["id"]
    over = await http.post("/api/receiving_transactions", json={"order-line": {"id": line}, "quantity": "3"},
                           headers=auth)
    assert over.status_code == 422
    assert "exceed" in over.json()["errors"]["base"][0]
    receipt = await http.post("/api/receiving_transactions", json={"order-line": {"id": line}, "quantity": "1"},
                              headers=auth)
    assert receipt.status_code == 201
    assert receipt.json()["order-line"]["order-header-id"] == order["id"]
    no_cancel = await http.put(f"{po}/cancel", headers=auth)
    assert no_cancel.status_code == 422
    assert "received" in no_cancel.json()["errors"]["base"][0]
    assert (await http.put(f"{po}/close", headers=auth)).json()["status"] == "closed"
    assert (await http.put(f"{po}/cancel", headers=auth)).status_code == 422
    assert (await http.put(f"{po}/reopen", headers=auth)).json()["status"] == "issued"
    assert (await http.put(f"{po}/explode", headers=auth)).status_code == 400

    draft = await create_order(http, auth)
    assert (await http.put(f"/api/purchase_orders/{draft['id']}/cancel", headers=auth)).json()["status"] == "cancelled"
    on_hold = await http.put("/api/suppliers/1", json={"on-hold": True}, headers=auth)
    assert on_hold.json()["on-hold"] is True
    held = await create_order(http, auth)
    refused = await http.put(f"/api/purchase_orders/{held['id']}/issue", headers=auth)
    assert refused.status_code == 422
    assert "on hold" in refused.json()["errors"]["base"][0]
    types = [d["type"] for d in (await http.get("/_sandbox/webhooks")).json()]
    assert types.count("purchase_order.issued") == 2  # issue and reopen
    assert "purchase_order.closed" in types


async def test_requisitions_and_invoices(sandbox: Sandbox) -> None:
    http, auth = sandbox
    requisition = await http.post("/api/requisitions", headers=auth, json={
        "requested-by": {"login": "buyer1"}, "currency": {"code": "EUR"},
        "requisition-lines": [{"description": "Chair", "quantity": "4", "unit-price": "120.00"}]})
    assert requisition.status_code == 201, requisition.text
    assert requisition.json()["total"] == "480.00"
    submitted = await http.put(f"/api/requisitions/{requisition.json()['id']}/submit_for_approval", headers=auth)
    assert submitted.json()["status"] == "pending_approval"
    bad = await http.post("/api/requisitions", headers=auth, json={
        "requested-by": {"login": "buyer1"}, "currency": {"code": "EUR"},
        "requisition-lines": [{"description": "Chair", "quantity": "0", "unit-price": "1"}]})
    assert bad.status_code == 400
    assert "quantity" in bad.json()["errors"]["base"][0]

    order = await create_order(http, auth)
    await http.put(f"/api/purchase_orders/{order['id']}/issue", headers=auth)
    body = {"invoice-number": "INV-1", "invoice-date": "2026-03-01", "supplier": {"id": 1},
            "currency": {"code": "USD"}, "invoice-lines": [{
                "description": "Laptop", "price": "999.50", "quantity": "2", "po-number": order["po-number"],
                "order-line-id": order["order-lines"][0]["id"]}]}
    invoice = await http.post("/api/invoices", json=body, headers=auth)
    assert invoice.status_code == 201, invoice.text
    assert invoice.json()["invoice-lines"][0]["order-header-id"] == order["id"]
    duplicate = await http.post("/api/invoices", json=body, headers=auth)
    assert duplicate.status_code == 422
    assert "already been used" in duplicate.json()["errors"]["base"][0]
    path = f"/api/invoices/{invoice.json()['id']}"
    assert (await http.put(f"{path}/submit", headers=auth)).json()["status"] == "pending_approval"
    assert (await http.put(f"{path}/submit", headers=auth)).status_code == 422
    assert (await http.put(f"{path}/void", headers=auth)).json()["status"] == "voided"
    budget = await http.get("/api/budget_lines", params={"account[segment-1]": "GB01", "period[name]": "FY2026-Q2"},
                            headers=auth)
    lines = budget.json()
    assert lines
    assert all(b["currency"]["code"] == "GBP" and b["period"]["start-date"] == "2026-04-01" for b in lines)


async def test_supplier_approval_sends_a_signed_webhook() -> None:
    receiver = Receiver()
    app = create_app(SandboxConfig(webhook_url="http://receiver/hooks"))
    state: SandboxState = app.state.sandbox
    state.webhooks = WebhookSender("http://receiver/hooks", DEFAULT_WEBHOOK_SECRET, lambda: state.faults,
                                   transport=httpx.ASGITransport(app=receiver))  # type: ignore[arg-type]
    async for http, auth in serve(app):
        pending = (await http.get("/api/suppliers", params={"status": "pending_approval"}, headers=auth)).json()[0]
        approved = await http.put(f"/api/suppliers/{pending['id']}", json={"status": "approved"}, headers=auth)
        assert approved.json()["status"] == "approved"
        again = await http.put(f"/api/suppliers/{pending['id']}", json={"status": "approved"}, headers=auth)
        assert again.status_code == 200
        await state.webhooks.drain()
    events = [Webhook(DEFAULT_WEBHOOK_SECRET).verify(body, headers) for headers, body in receiver.received]
    assert [e["type"] for e in events] == ["supplier.approved"]  # once, not on the second update
    assert events[0]["data"]["id"] == pending["id"]
    assert events[0]["data"]["status"] == "approved"


async def test_state_persists_across_restart(tmp_path: Path) -> None:
    config = SandboxConfig(data_path=str(tmp_path / "procurement.db"))
    async for http, auth in serve(create_app(config)):
        created = await http.post("/api/suppliers", json={"name": "Persisted Parts Ltd", "tax-id": "GB980780684"},
                                  headers=auth)
        assert created.status_code == 201, created.text
        updated = await http.put(f"/api/suppliers/{created.json()['id']}",
                                 json={"custom-fields": {"erp-supplier-number": "0001000999"}}, headers=auth)
        assert updated.json()["custom-fields"]["erp-supplier-number"] == "0001000999"
    assert created.json()["id"] == SUPPLIER_COUNT + 1
    async for http, auth in serve(create_app(config)):
        again = await http.get(f"/api/suppliers/{created.json()['id']}", headers=auth)
        assert again.json()["custom-fields"]["erp-supplier-number"] == "0001000999"
        count = len((await http.get("/api/suppliers", params={"offset": 160}, headers=auth)).json())
        assert count == SUPPLIER_COUNT + 1 - 160  # not seeded twice
        nxt = await http.post("/api/suppliers", json={"name": "Next Parts Ltd"}, headers=auth)
        assert nxt.json()["id"] == SUPPLIER_COUNT + 2


async def test_bodies_are_decoded_strictly_as_documented(sandbox: Sandbox) -> None:
    http, auth = sandbox

    async def refused(path: str, body: bytes | dict[str, Any], method: str = "POST") -> str:
        content = body if isinstance(body, bytes) else None
        answer = await http.request(method, path, json=None if content is not None else body, content=content,
                                    headers={**auth, "Content-Type": "application/json"})
        assert answer.status_code == 400, answer.text
        errors = answer.json()["errors"]
        assert list(errors) == ["base"]
        assert len(errors["base"]) == 1
        message: str = errors["base"][0]
        return message

    # no coercion: "true" is no boolean, 0 is no boolean, "7" is no id, 2 is no decimal string
    assert (await refused("/api/suppliers", {"name": "Strict Ltd", "on-hold": "true"})).startswith("on-hold:")
    assert "bool" in await refused("/api/suppliers", {"name": "Strict Ltd", "on-hold": 0})
    assert "on-hold" in await refused("/api/suppliers/1", {"on-hold": "false"}, "PUT")
    assert "supplier.id" in await refused("/api/purchase_orders", {
        "supplier": {"id": "7"}, "currency": {"code": "USD"},
        "order-lines": [{"description": "Laptop", "quantity": "1", "price": "1"}]})
    line = {"description": "Chair", "quantity": 2, "unit-price": "120.00"}
    requisition = {"requested-by": {"login": "buyer1"}, "currency": {"code": "EUR"}, "requisition-lines": [line]}
    assert "requisition-lines[0].quantity: Expected `str`" in await refused("/api/requisitions", requisition)
    line["quantity"] = "1e3"  # a decimal, but not the documented form
    assert "decimal string above 0" in await refused("/api/requisitions", requisition)
    # malformed or absurd bodies are a 400, never a 500
    assert "not valid JSON" in await refused("/api/suppliers", b'{"name": ')
    assert "nested too deeply" in await refused("/api/suppliers", b"[" * 5000 + b"]" * 5000)
    assert (await http.get("/api/suppliers", params={"name": "Strict Ltd"}, headers=auth)).json() == []

    # JSON Schema's numbers: 45.0 is an integer, so it is accepted where an integer is documented
    created = await http.post("/api/suppliers", headers=auth, json={
        "name": "Strict Ltd", "on-hold": True, "payment-term": {"code": "Net 45", "days-for-net-payment": 45.0}})
    assert created.status_code == 201, created.text
    assert created.json()["payment-term"]["days-for-net-payment"] == 45
    assert "days-for-net-payment" in await refused("/api/suppliers", {
        "name": "Strict Two", "payment-term": {"code": "Net 45", "days-for-net-payment": 45.5}})

    # the document still describes the bodies the strict decoder reads
    document = (await http.get("/schema/openapi.json")).json()
    body = document["paths"]["/api/suppliers"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SupplierCreate"}
    assert document["components"]["schemas"]["SupplierCreate"]["properties"]["on-hold"]["type"] == "boolean"


async def test_an_approved_invoice_is_marked_paid_the_coupa_way(sandbox: Sandbox) -> None:
    http, auth = sandbox
    approved = (await http.get("/api/invoices", params={"status": "approved", "limit": 1}, headers=auth)).json()[0]
    draft = (await http.get("/api/invoices", params={"status": "draft", "limit": 1}, headers=auth)).json()[0]
    assert approved["paid"] is False
    assert approved["payments"] == []
    path = f"/api/invoices/{approved['id']}"
    body = {"paid": True, "payment-date": "2026-11-20", "payment-notes": "DE01-2026-1500000001",
            "payments": [{"amount-paid": approved["total"], "payment-date": "2026-11-20",
                          "notes": "DE01-2026-1500000001"}]}

    paid = await http.put(path, json=body, headers=auth)

    assert paid.status_code == 200, paid.text
    assert paid.json()["paid"] is True
    assert paid.json()["status"] == "approved"
    assert paid.json()["payment-date"].startswith("2026-11-20")
    assert paid.json()["payment-notes"] == "DE01-2026-1500000001"
    assert paid.json()["payments"][0]["amount-paid"] == approved["total"]
    assert (await http.get(path, headers=auth)).json() == paid.json()
    assert (await http.put(path, json=body, headers=auth)).json() == paid.json(), "a repeat changes nothing"
    listed = await http.get("/api/invoices", params={"paid": "true"}, headers=auth)
    assert [i["id"] for i in listed.json()] == [approved["id"]]

    other = await http.put(path, json={**body, "payment-notes": "another"}, headers=auth)
    assert other.status_code == 422
    assert "already paid" in other.json()["errors"]["base"][0]
    unpay = await http.put(path, json={"paid": False}, headers=auth)
    assert unpay.status_code == 422
    not_approved = await http.put(f"/api/invoices/{draft['id']}", json={"paid": True}, headers=auth)
    assert not_approved.status_code == 422
    assert "it is draft" in not_approved.json()["errors"]["base"][0]
    unknown = await http.put(path, json={"paid": True, "amount": "1"}, headers=auth)
    assert unknown.status_code == 400
    reader = await token(http, "core.invoice.read")
    assert (await http.put(path, json=body, headers=reader)).status_code == 403
