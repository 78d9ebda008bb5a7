"""Procure to pay end to end: procurement -> planning commitment, invoice match -> ERP posting.

Orders, requisitions and receipts are made through the procurement system API, invoices in
the procurement sandbox's own API (as the supplier portal would), and the platform's events
are delivered signed to ``/events/procurement``. Every check is what a person would look at:
the match or commitment as the process API shows it (reason code while it waits), the ERP's
supplier invoice through the ERP system API, the ERP sandbox's own document list (to count
documents), and the planning budget line's consumption records.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from gateway.app import Gateway
from gateway.settings import Settings, load_settings
from process_apis.flow.queues import act
from process_apis.procure_to_pay.matching import Tolerances, match_invoice, received_quantities
from system_apis.canonical import GoodsReceipt, GoodsReceiptLine, Money, PurchaseOrderLine, SupplierInvoiceLine
from tests.support import Operator

API = "/process/procure-to-pay/v1"
PROCUREMENT = "/system/procurement/v1"
SANDBOX = "/sandbox/procurement"
ERP_INVOICES = "/sandbox/erp/sap/opu/odata/sap/API_SUPPLIERINVOICE_PROCESS_SRV/A_SupplierInvoice"
RunFlows = Callable[[], Awaitable[None]]

ENTITY = "US01"
GL_ACCOUNT = "63000000"  # Office Supplies in the ERP's chart of accounts
ERP_COST_CENTER = "10110101"  # Finance US01, active in the ERP; planning has no budget line for it
PLANNING_COST_CENTER = "1000"  # Marketing in planning, with a monthly budget line for the current period
SUPPLIER = "1"  # approved procurement supplier of US01
NOT_IN_ERP = "6"  # approved procurement supplier without an ERP supplier number


@pytest.fixture
def flows_settings(database_url: str, tmp_path: Any) -> Settings:
    """The process fixtures' settings, with the ERP connector failing fast (no own retries, no breaker).

    The flow engine's retries are under test here, not the connector's.
    """
    fail_fast = {"connection": {"retries": 0, "breaker_failures": 1000}}
    return load_settings(
        environ={},
        data_dir=str(tmp_path / "data"),
        storage={"url": database_url},
        throttling={"spike": "1000/second"},
        server={"embedded_worker": False},
        flows={"worker": {"backoff_base_seconds": 0.0, "backoff_cap_seconds": 0.0, "max_attempts": 3}},
        platforms={"erp": fail_fast},
    )


async def _sandbox_auth(http: httpx.AsyncClient) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": "finrail", "client_secret": "sandbox-secret"}
    answer = await http.post(f"{SANDBOX}/oauth2/access_tokens", data=form)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _deliver(gateway: Gateway, http: httpx.AsyncClient, event: str, data: dict[str, Any]) -> httpx.Response:
    """Deliver a procurement event to Finrail, signed as the platform signs it."""
    body = json.dumps({"type": event, "timestamp": datetime.now(UTC).isoformat(), "data": data})
    webhook_id = f"msg_{uuid.uuid4().hex}"
    signed_at = datetime.now(UTC)
    signature = Webhook(gateway.runtime.webhook_secrets["procurement"]).sign(webhook_id, signed_at, body)
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(int(signed_at.timestamp())),
               "webhook-signature": signature, "content-type": "application/json"}
    return await http.post("/events/procurement", content=body.encode(), headers=headers)


async def _create(http: httpx.AsyncClient, operator: Operator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await http.post(path, json=body, headers={**operator.headers, "Idempotency-Key": uuid.uuid4().hex})
    assert answer.status_code in (200, 201), answer.text
    return dict(answer.json())


async def _link_supplier(http: httpx.AsyncClient, operator: Operator, supplier_id: str = SUPPLIER) -> str:
    """Give the procurement supplier the number of an active ERP supplier (what onboarding does); that number."""
    suppliers = await http.get("/system/erp/v1/suppliers", params={"limit": 20}, headers=operator.headers)
    assert suppliers.status_code == 200, suppliers.text
    number = str(next(s["id"] for s in suppliers.json()["items"] if s["status"] == "active"))
    linked = await http.put(f"{PROCUREMENT}/suppliers/{supplier_id}/erp-supplier-number",
                            json={"erp_supplier_number": number}, headers=operator.headers)
    assert linked.status_code == 200, linked.text
    return number


async def _issued_order(
    gateway: Gateway, http: httpx.AsyncClient, operator: Operator, lines: list[tuple[str, str]], *,
    supplier_id: str = SUPPLIER, cost_center: str = ERP_COST_CENTER,
) -> dict[str, Any]:
    """Requisition -> purchase order -> issued, through the procurement system API, and the event delivered.

    ``lines`` are (quantity, unit price in USD). Answers the canonical order plus ``coupa_line_ids``.
    """
    draft_lines = [{"description": f"Item {n}", "quantity": quantity,
                    "unit_price": {"amount": price, "currency": "USD"},
                    "gl_account": GL_ACCOUNT, "cost_center": cost_center}
                   for n, (quantity, price) in enumerate(lines, 1)]
    requisition = await _create(http, operator, f"{PROCUREMENT}/requisitions", {
        "requester_id": "buyer1", "company_code": ENTITY, "title": "Office supplies",
        "lines": [{**line, "supplier_id": supplier_id} for line in draft_lines]})
    submitted = await http.post(f"{PROCUREMENT}/requisitions/{requisition['id']}/submit", headers=operator.headers)
    assert submitted.status_code == 200, submitted.text
    order = await _create(http, operator, f"{PROCUREMENT}/purchase-orders", {
        "supplier_id": supplier_id, "company_code": ENTITY, "lines": draft_lines, "requisition_id": requisition["id"]})
    issued = await http.post(f"{PROCUREMENT}/purchase-orders/{order['id']}/issue", headers=operator.headers)
    assert issued.status_code == 200, issued.text
    assert issued.json()["status"] == "issued"
    coupa = await http.get(f"{SANDBOX}/api/purchase_orders/{order['id']}", headers=await _sandbox_auth(http))
    event = await _deliver(gateway, http, "purchase_order.issued", coupa.json())
    assert event.status_code == 202, event.text
    return {**issued.json(), "coupa_line_ids": [line["id"] for line in coupa.json()["order-lines"]]}


async def _receive(http: httpx.AsyncClient, operator: Operator, order: dict[str, Any],
                   quantities: dict[int, str]) -> None:
    await _create(http, operator, f"{PROCUREMENT}/receipts", {
        "purchase_order_id": order["id"],
        "lines": [{"po_line_number": number, "quantity": quantity} for number, quantity in quantities.items()]})


async def _invoice(gateway: Gateway, http: httpx.AsyncClient, order: dict[str, Any],
                   lines: dict[int, tuple[str, str]], *, supplier_id: str = SUPPLIER) -> dict[str, Any]:
    """A supplier invoice in the procurement sandbox billing order lines ({line: (quantity, price)}), submitted."""
    auth = await _sandbox_auth(http)
    body = {
        "invoice-number": f"INV-{uuid.uuid4().hex[:8].upper()}", "invoice-date": datetime.now(UTC).date().isoformat(),
        "supplier": {"id": int(supplier_id)}, "currency": {"code": "USD"},
        "invoice-lines": [{"description": f"Item {number}", "quantity": quantity, "price": price,
                           "po-number": order["po_number"], "order-line-id": order["coupa_line_ids"][number - 1]}
                          for number, (quantity, price) in lines.items()],
        "custom-fields": {"company-code": ENTITY},
    }
    created = await http.post(f"{SANDBOX}/api/invoices", json=body, headers=auth)
    assert created.status_code == 201, created.text
    submitted = await http.put(f"{SANDBOX}/api/invoices/{created.json()['id']}/submit", headers=auth)
    assert submitted.status_code == 200, submitted.text
    event = await _deliver(gateway, http, "invoice.submitted", submitted.json())
    assert event.status_code == 202, event.text
    assert len(event.json()["instances"]) == 1
    return dict(submitted.json())


async def _match(http: httpx.AsyncClient, operator: Operator, invoice_id: Any) -> dict[str, Any]:
    answer = await http.get(f"{API}/matches", params={"invoice_id": str(invoice_id)}, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert len(items) == 1, items
    return dict(items[0])


async def _start_match(http: httpx.AsyncClient, operator: Operator, body: dict[str, Any]) -> httpx.Response:
    return await http.post(f"{API}/matches", json=body,
                           headers={**operator.headers, "Idempotency-Key": uuid.uuid4().hex})


async def _erp_documents(http: httpx.AsyncClient, invoice_number: str) -> list[dict[str, Any]]:
    """The ERP sandbox's own view: supplier invoices carrying the supplier's invoice number."""
    answer = await http.get(ERP_INVOICES, params={"$filter": f"SupplierInvoiceIDByInvcgParty eq '{invoice_number}'",
                                                  "$format": "json"}, auth=("finrail", "sandbox"))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["d"]["results"])


async def _erp_invoice(http: httpx.AsyncClient, operator: Operator, invoice_id: str) -> dict[str, Any]:
    answer = await http.get(f"/system/erp/v1/supplier-invoices/{invoice_id}", headers=operator.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_a_matching_invoice_is_posted_once_in_the_erp(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    erp_supplier = await _link_supplier(http, operator)
    order = await _issued_order(flows_gateway, http, operator, [("10", "25.00"), ("4", "120.00")])
    await _receive(http, operator, order, {1: "10", 2: "4"})
    invoice = await _invoice(flows_gateway, http, order, {1: ("10", "25.00"), 2: ("4", "120.00")})

    first = await _start_match(http, operator, {"invoice_id": str(invoice["id"])})
    assert first.status_code == 200, "the event started it already; the API answers it"
    assert first.headers["location"] == f"{API}/matches/{first.json()['id']}"

    await run_flows()

    done = (await http.get(first.headers["location"], headers=operator.headers)).json()
    assert done["status"] == "completed", (done["step"], done["reason"], done["detail"])
    posted = done["outputs"]["post-erp-invoice"]
    assert posted["status"] == "posted"
    assert posted["erp_invoice_id"] == done["outputs"]["create-erp-invoice"]["erp_invoice_id"]
    in_erp = await _erp_invoice(http, operator, posted["erp_invoice_id"])
    assert (in_erp["status"], in_erp["supplier_id"], in_erp["company_code"]) == ("posted", erp_supplier, ENTITY)
    assert Decimal(in_erp["gross_amount"]["amount"]) == Decimal("730.00")
    assert [line["gl_account"] for line in in_erp["lines"]] == [GL_ACCOUNT, GL_ACCOUNT]
    assert done["outputs"]["match"]["variances"] == []
    assert done["outputs"]["match"]["tolerances"]["price_percent"] == "2"
    timeline = (await http.get(f"{first.headers['location']}/timeline", headers=operator.headers)).json()
    assert [e["step"] for e in timeline if e["kind"] == "step-completed"] == [
        "read-invoice", "match", "erp-supplier", "create-erp-invoice", "post-erp-invoice"]

    # A second event for the same invoice, a repeat start or a replay post nothing more.
    again = await _deliver(flows_gateway, http, "invoice.submitted", invoice)
    assert again.status_code == 202, again.text
    await act(flows_gateway.runtime.engine, done["id"], "replay", actor="test")
    await run_flows()
    assert (await _match(http, operator, invoice["id"]))["status"] == "completed"
    documents = await _erp_documents(http, invoice["invoice-number"])
    assert len(documents) == 1
    assert documents[0]["SupplierInvoiceStatus"] == "5"  # posted

    # The PO's commitment ran too; its ERP cost center has no planning budget line, and it says so.
    commitments = await http.get(f"{API}/commitments", params={"purchase_order_id": order["id"]},
                                 headers=operator.headers)
    [commitment] = commitments.json()["items"]
    assert commitment["status"] == "completed", commitment
    recorded = commitment["outputs"]["record-commitment"]
    assert recorded["recorded"] == []
    assert "no budget line" in recorded["skipped"]
    assert f"{ENTITY} / {ERP_COST_CENTER}" in recorded["skipped"]


async def test_a_price_variance_waits_until_a_person_accepts_it(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    await _link_supplier(http, operator)
    order = await _issued_order(flows_gateway, http, operator, [("10", "25.00"), ("4", "120.00")])
    await _receive(http, operator, order, {1: "10", 2: "4"})
    # Line 1 is 8 % dearer than ordered (beyond the 2 % tolerance); line 2 0.83 % (within it).
    invoice = await _invoice(flows_gateway, http, order, {1: ("10", "27.00"), 2: ("4", "121.00")})

    await run_flows()

    stopped = await _match(http, operator, invoice["id"])
    assert (stopped["status"], stopped["reason"], stopped["step"]) == ("exception", "price-variance", "match")
    assert "invoice line 1 (PO line 1" in stopped["detail"]
    assert "unit price invoiced 27 USD, ordered 25.00 USD" in stopped["detail"]
    assert "tolerance 2%" in stopped["detail"]
    assert "invoice line 2" not in stopped["detail"]
    assert await _erp_documents(http, invoice["invoice-number"]) == []
    queue = await http.get(f"{API}/matches", params={"status": "exception", "reason": "price-variance"},
                           headers=operator.headers)
    assert [item["key"] for item in queue.json()["items"]] == [str(invoice["id"])]

    await run_flows()  # never retried on its own
    assert (await _match(http, operator, invoice["id"]))["status"] == "exception"

    await act(flows_gateway.runtime.engine, stopped["id"], "resolve", actor="ana", decision="accept-variance",
              note="price increase agreed with the supplier")
    await run_flows()

    done = await _match(http, operator, invoice["id"])
    assert done["status"] == "completed", (done["step"], done["reason"], done["detail"])
    assert done["outputs"]["match"]["decision"] == "accept-variance"
    assert [v["reason"] for v in done["outputs"]["match"]["variances"]] == ["price-variance"]
    in_erp = await _erp_invoice(http, operator, done["outputs"]["post-erp-invoice"]["erp_invoice_id"])
    assert in_erp["status"] == "posted"
    assert Decimal(in_erp["gross_amount"]["amount"]) == Decimal("754.00")
    assert len(await _erp_documents(http, invoice["invoice-number"])) == 1


async def test_more_invoiced_than_received_and_nothing_received_wait_for_people(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    await _link_supplier(http, operator)
    order = await _issued_order(flows_gateway, http, operator, [("10", "25.00"), ("4", "120.00")])
    await _receive(http, operator, order, {1: "5"})
    too_many = await _invoice(flows_gateway, http, order, {1: ("10", "25.00")})
    early = await _invoice(flows_gateway, http, order, {2: ("4", "120.00")})

    await run_flows()

    over = await _match(http, operator, too_many["id"])
    assert (over["status"], over["reason"]) == ("exception", "quantity-variance")
    assert "quantity invoiced 10, received 5" in over["detail"]
    waiting = await _match(http, operator, early["id"])
    assert (waiting["status"], waiting["reason"]) == ("exception", "not-received")
    assert "nothing received yet" in waiting["detail"]
    for invoice in (too_many, early):
        assert await _erp_documents(http, invoice["invoice-number"]) == []

    # The goods arrive; a person retries: the receipts are read again and the invoice is posted.
    await _receive(http, operator, order, {2: "4"})
    await act(flows_gateway.runtime.engine, waiting["id"], "retry", actor="ana", note="goods received")
    await run_flows()
    posted = await _match(http, operator, early["id"])
    assert posted["status"] == "completed", (posted["reason"], posted["detail"])
    assert len(await _erp_documents(http, early["invoice-number"])) == 1
    assert (await _match(http, operator, too_many["id"]))["reason"] == "quantity-variance"


async def test_tolerances_given_at_the_start_apply_to_that_match(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    await _link_supplier(http, operator)
    order = await _issued_order(flows_gateway, http, operator, [("10", "25.00")])
    await _receive(http, operator, order, {1: "10"})
    auth = await _sandbox_auth(http)
    # An invoice created and submitted without its event: the API starts the match, with its own tolerances.
    created = await http.post(f"{SANDBOX}/api/invoices", headers=auth, json={
        "invoice-number": "INV-TOL-1", "invoice-date": datetime.now(UTC).date().isoformat(),
        "supplier": {"id": int(SUPPLIER)}, "currency": {"code": "USD"}, "custom-fields": {"company-code": ENTITY},
        "invoice-lines": [{"description": "Item 1", "quantity": "11", "price": "26.00",
                           "po-number": order["po_number"], "order-line-id": order["coupa_line_ids"][0]}]})
    assert created.status_code == 201, created.text
    assert (await http.put(f"{SANDBOX}/api/invoices/{created.json()['id']}/submit", headers=auth)).status_code == 200

    started = await _start_match(http, operator, {
        "invoice_id": str(created.json()["id"]),
        "tolerances": {"quantity_percent": "10", "price_percent": "5", "price_amount": "1.50"}})
    assert started.status_code == 202, started.text
    await run_flows()

    done = (await http.get(started.headers["location"], headers=operator.headers)).json()
    assert done["status"] == "completed", (done["reason"], done["detail"])
    assert done["outputs"]["match"]["tolerances"] == {"quantity_percent": "10", "price_percent": "5",
                                                      "price_amount": "1.50"}
    assert len(await _erp_documents(http, "INV-TOL-1")) == 1


async def test_a_supplier_unknown_to_the_erp_waits_until_it_is_linked(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    order = await _issued_order(flows_gateway, http, operator, [("2", "500.00")], supplier_id=NOT_IN_ERP)
    await _receive(http, operator, order, {1: "2"})
    invoice = await _invoice(flows_gateway, http, order, {1: ("2", "500.00")}, supplier_id=NOT_IN_ERP)

    await run_flows()

    stopped = await _match(http, operator, invoice["id"])
    assert (stopped["status"], stopped["reason"], stopped["step"]) == (
        "exception", "unknown-supplier-in-erp", "erp-supplier")
    assert f"procurement supplier {NOT_IN_ERP}" in stopped["detail"]

    number = await _link_supplier(http, operator, NOT_IN_ERP)
    await act(flows_gateway.runtime.engine, stopped["id"], "retry", actor="ana", note="supplier onboarded")
    await run_flows()

    done = await _match(http, operator, invoice["id"])
    assert done["status"] == "completed", (done["reason"], done["detail"])
    assert done["outputs"]["erp-supplier"]["erp_supplier_number"] == number
    [document] = await _erp_documents(http, invoice["invoice-number"])
    assert document["InvoicingParty"] == number


async def test_the_commitment_is_recorded_once_on_the_planning_budget_line(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    today = datetime.now(UTC).date()
    lines = await http.get("/system/planning/v1/budget-lines", headers=operator.headers, params={
        "company_code": ENTITY, "cost_center": PLANNING_COST_CENTER, "fiscal_year": today.year,
        "period": today.month})
    [line] = lines.json()["items"]
    consumed_before = Decimal(line["consumed"]["amount"])

    order = await _issued_order(flows_gateway, http, operator, [("3", "100.00"), ("2", "50.50")],
                                cost_center=PLANNING_COST_CENTER)
    started = await http.post(f"{API}/commitments", json={"purchase_order_id": order["id"]},
                              headers={**operator.headers, "Idempotency-Key": uuid.uuid4().hex})
    assert started.status_code == 200, "the event started it already"
    coupa = await http.get(f"{SANDBOX}/api/purchase_orders/{order['id']}", headers=await _sandbox_auth(http))
    assert (await _deliver(flows_gateway, http, "purchase_order.issued", coupa.json())).status_code == 202

    await run_flows()

    done = (await http.get(started.headers["location"], headers=operator.headers)).json()
    assert done["status"] == "completed", (done["step"], done["reason"], done["detail"])
    [recorded] = done["outputs"]["record-commitment"]["recorded"]
    assert recorded["budget_line_id"] == line["id"]
    assert recorded["amount"] == {"amount": "401.00", "currency": "USD"}
    assert recorded["po_lines"] == [1, 2]

    await act(flows_gateway.runtime.engine, done["id"], "replay", actor="test")
    await run_flows()

    records = await http.get(f"/system/planning/v1/budget-lines/{line['id']}/consumption",
                             params={"limit": 200}, headers=operator.headers)
    assert records.status_code == 200, records.text
    mine = [r for r in records.json()["items"] if r["reference"] == f"PO {order['po_number']} ({order['id']})"]
    assert len(mine) == 1, mine
    assert (mine[0]["kind"], mine[0]["amount"]) == ("commitment", {"amount": "401.00", "currency": "USD"})
    after = (await http.get(f"/system/planning/v1/budget-lines/{line['id']}", headers=operator.headers)).json()
    assert Decimal(after["consumed"]["amount"]) == consumed_before + Decimal("401.00")


async def test_an_erp_outage_is_retried_and_the_invoice_posted_once_it_is_back(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    await _link_supplier(http, operator)
    order = await _issued_order(flows_gateway, http, operator, [("1", "99.99")])
    await _receive(http, operator, order, {1: "1"})
    down = await http.put("/sandbox/erp/_sandbox/faults", json={"maintenance": True, "retry_after_seconds": 0})
    assert down.status_code == 200, down.text
    invoice = await _invoice(flows_gateway, http, order, {1: ("1", "99.99")})

    await run_flows()

    # Retried without waiting here (the fixtures' backoff is zero), then dead-lettered: nothing posted.
    dead = await _match(http, operator, invoice["id"])
    assert (dead["status"], dead["step"], dead["attempts"]) == ("dead", "erp-supplier", 3)
    assert "503" in dead["detail"]
    timeline = (await http.get(f"{API}/matches/{dead['id']}/timeline", headers=operator.headers)).json()
    assert [e["kind"] for e in timeline].count("retry-scheduled") == 2

    assert (await http.put("/sandbox/erp/_sandbox/faults", json={})).status_code == 200
    await act(flows_gateway.runtime.engine, dead["id"], "retry", actor="ops", note="ERP back")
    await run_flows()

    done = await _match(http, operator, invoice["id"])
    assert done["status"] == "completed", (done["step"], done["reason"], done["detail"])
    assert len(await _erp_documents(http, invoice["invoice-number"])) == 1


async def test_the_api_refuses_what_it_cannot_answer(
    flows_client: httpx.AsyncClient, flows_operator: Operator,
) -> None:
    http, operator = flows_client, flows_operator
    for path in ("matches", "commitments"):
        missing = await http.get(f"{API}/{path}/{uuid.uuid4().hex}", headers=operator.headers)
        assert missing.status_code == 404
    assert (await _start_match(http, operator, {"invoice_id": "abc"})).status_code == 400
    negative = await _start_match(http, operator, {"invoice_id": "7", "tolerances": {"price_percent": "-1"}})
    assert negative.status_code == 422, "well-formed, but a rule its schema cannot express"
    assert "price_percent must be a non-negative decimal" in negative.text
    unknown = await _start_match(http, operator, {"invoice_id": "7", "tolerance": {}})
    assert unknown.status_code == 400
    no_key = await http.post(f"{API}/matches", json={"invoice_id": "7"}, headers=operator.headers)
    assert no_key.status_code == 400
    for invoice_id in ("1", "2", "3"):
        assert (await _start_match(http, operator, {"invoice_id": invoice_id})).status_code == 202
    first = (await http.get(f"{API}/matches", params={"limit": 2}, headers=operator.headers)).json()
    assert len(first["items"]) == 2
    rest = await http.get(f"{API}/matches", params={"limit": 2, "cursor": first["next_cursor"]},
                          headers=operator.headers)
    assert rest.status_code == 200
    assert sorted(i["key"] for i in first["items"] + rest.json()["items"]) == ["1", "2", "3"]
    assert rest.json()["next_cursor"] is None
    other_filter = await http.get(f"{API}/matches", params={"limit": 2, "cursor": first["next_cursor"],
                                                            "status": "active"}, headers=operator.headers)
    assert other_filter.status_code == 422
    other_list = await http.get(f"{API}/commitments", params={"cursor": first["next_cursor"]},
                                headers=operator.headers)
    assert other_list.status_code == 422


def test_the_match_rule_in_decimals() -> None:
    """The tolerances at their edges: exactly at a limit passes, a cent beyond it does not."""
    usd = "USD"
    ordered = [PurchaseOrderLine(line_number=1, description="Toner", quantity=Decimal(3),
                                 unit_price=Money.of("3.33", usd), amount=Money.of("9.99", usd))]
    received = received_quantities([
        GoodsReceipt(id="R1", purchase_order_id="9", receipt_date=datetime(2026, 11, 2, tzinfo=UTC).date(),
                     lines=[GoodsReceiptLine(po_line_number=1, quantity=Decimal(3))]),
        GoodsReceipt(id="R2", purchase_order_id="9", receipt_date=datetime(2026, 11, 3, tzinfo=UTC).date(),
                     lines=[GoodsReceiptLine(po_line_number=1, quantity=Decimal(1))], is_return=True),
    ])
    assert received == {1: Decimal(2)}

    def reasons(quantity: str, amount: str, tolerances: Tolerances) -> list[str]:
        line = SupplierInvoiceLine(line_number=1, amount=Money.of(amount, usd), gl_account="63000000",
                                   quantity=Decimal(quantity), purchase_order_line=1)
        return [v.reason for v in match_invoice([line], ordered, received, tolerances, usd)[1]]

    strict = Tolerances(price_percent=Decimal(0))
    assert reasons("2", "6.66", strict) == []
    assert reasons("2", "6.67", strict) == ["price-variance"]
    assert reasons("3", "9.99", strict) == ["quantity-variance"]
    assert reasons("3", "9.99", Tolerances(quantity_percent=Decimal(50), price_percent=Decimal(0))) == []
    capped = Tolerances(price_percent=Decimal(10), price_amount=Decimal("0.10"))
    assert reasons("2", "6.86", capped) == [], "0.10 per unit: within both limits"
    assert reasons("2", "6.90", capped) == ["price-variance"], "within 10 %, beyond 0.10 per unit"
    assert reasons("2", "5.00", capped) == ["price-variance"], "a price far below the order is a variance too"
    assert reasons("2", "7.00", Tolerances(price_percent=None, price_amount=None)) == []
    assert reasons("0", "0.00", strict) == ["line-not-on-order"]
