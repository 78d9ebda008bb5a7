"""The procurement connector against the sandbox in process: tokens, paging, faults, no double creates, 502s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from gateway.lifespan import lifespan
from platforms.kit import Faults, SandboxState
from platforms.procurement.app import create_app
from system_apis.canonical import Money
from system_apis.connectors.kit import ConnectionConfig, MalformedAnswer, PlatformRejected, PlatformUnavailable
from system_apis.connectors.procurement.client import ProcurementConnector
from system_apis.connectors.procurement.drafts import (
    GoodsReceiptDraft,
    GoodsReceiptDraftLine,
    PurchaseOrderDraft,
    PurchaseOrderDraftLine,
)

BASE = "http://sandbox.procurement"


class Hiccup(httpx.AsyncBaseTransport):
    """The sandbox in process, with a deadline (ASGITransport has none) and faults that strike once.

    After the first fault (a timeout, a 429 or a 503) the sandbox's faults are switched off,
    like a platform that hiccups and recovers. ``rewrite`` replaces the body of answers to one
    path, like a platform answering garbage.
    """

    def __init__(self, app: object, state: SandboxState, deadline: float = 0.3) -> None:
        self.inner = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        self.state = state
        self.deadline = deadline
        self.requests: list[tuple[str, str]] = []
        self.rewrite: dict[str, bytes] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        try:
            async with asyncio.timeout(self.deadline):
                response = await self.inner.handle_async_request(request)
                await response.aread()
        except TimeoutError:
            self.state.set_faults(Faults())
            raise httpx.ReadTimeout("no answer in time", request=request) from None
        if response.status_code in (429, 503):
            self.state.set_faults(Faults())
        if request.url.path in self.rewrite:
            return httpx.Response(200, content=self.rewrite[request.url.path], request=request,
                                  headers={"content-type": "application/json"})
        return response


@pytest.fixture
async def world() -> AsyncIterator[tuple[ProcurementConnector, SandboxState, Hiccup]]:
    app = create_app()
    state: SandboxState = app.state.sandbox
    transport = Hiccup(app, state)
    config = ConnectionConfig(base_url=BASE, retries=2, backoff_base_seconds=0.01, rate="1000/second")
    connector = ProcurementConnector(config, transport=transport)
    async with lifespan(app):
        yield connector, state, transport
    await connector.aclose()


def order_draft(supplier_id: str = "1") -> PurchaseOrderDraft:
    return PurchaseOrderDraft(supplier_id=supplier_id, company_code="US01", lines=[
        PurchaseOrderDraftLine(description="Laptop", quantity=Decimal(2), unit_price=Money.of("999.50", "USD"),
                               gl_account="620000", cost_center="CC1000"),
        PurchaseOrderDraftLine(description="Dock", quantity=Decimal(2), unit_price=Money.of("120", "USD"),
                               gl_account="620000")])


async def test_one_token_serves_many_calls_and_pages_span_coupa_pages(
    world: tuple[ProcurementConnector, SandboxState, Hiccup],
) -> None:
    connector, state, transport = world
    first, more = await connector.list_suppliers(limit=120)
    assert more
    assert len(first) == 120
    assert [s.id for s in first[:3]] == ["1", "2", "3"]
    rest, more = await connector.list_suppliers(offset=120, limit=200)
    assert not more
    assert len(rest) == 80
    assert len({s.id for s in first + rest}) == 200
    lists = [p for m, p in transport.requests if p == "/api/suppliers"]
    assert len(lists) == 3 + 2  # 50+50+21, then 50+31
    assert state.store.count("oauth2_tokens") == 1  # one token for every call
    waiting, _ = await connector.list_suppliers(status="active", in_erp=False, limit=200)
    assert waiting
    assert all(s.erp_supplier_number is None and s.status == "active" for s in waiting)
    flagged = [s for s in first + rest if s.issues]
    assert flagged, "bad bank data and tax ids in the seed surface as issues"


async def test_set_erp_number_and_not_found(world: tuple[ProcurementConnector, SandboxState, Hiccup]) -> None:
    connector, _, _ = world
    waiting, _ = await connector.list_suppliers(status="active", in_erp=False, limit=1)
    updated = await connector.set_erp_supplier_number(waiting[0].id, "0009000001")
    assert updated.erp_supplier_number == "0009000001"
    assert (await connector.get_supplier(waiting[0].id)).erp_supplier_number == "0009000001"
    with pytest.raises(PlatformRejected) as missing:
        await connector.get_supplier("99999")
    assert missing.value.problem().status == 404
    assert "supplier 99999 not found" in missing.value.problem().detail


async def test_create_that_times_out_after_succeeding_is_not_created_twice(
    world: tuple[ProcurementConnector, SandboxState, Hiccup],
) -> None:
    connector, state, transport = world
    await connector.list_suppliers(limit=1)  # token first, so the fault hits the create
    before = state.store.count("purchase_orders")
    state.set_faults(Faults(timeout_rate=1.0, hang_seconds=5))
    order = await connector.create_purchase_order(order_draft(), reference="FRTIMEOUT1")
    assert state.store.count("purchase_orders") == before + 1
    posts = [p for m, p in transport.requests if m == "POST" and p == "/api/purchase_orders"]
    assert len(posts) == 1  # looked up by reference instead of sent again
    assert order.status == "draft"
    assert order.total == Money.of("2239.00", "USD")


async def test_throttled_calls_are_retried_after_retry_after(
    world: tuple[ProcurementConnector, SandboxState, Hiccup],
) -> None:
    connector, state, transport = world
    await connector.list_suppliers(limit=1)
    state.set_faults(Faults(throttle_rate=1.0, retry_after_seconds=0))
    supplier = await connector.get_supplier("1")
    assert supplier.id == "1"
    assert [p for _, p in transport.requests].count("/api/suppliers/1") == 2
    state.set_faults(Faults(maintenance=True, retry_after_seconds=0))
    transport.state = SandboxState()  # keep the maintenance window open this time
    with pytest.raises(PlatformUnavailable) as down:
        await connector.get_supplier("1")
    assert down.value.problem().status == 503


async def test_state_machine_refusals_are_conflicts_and_receipts_group_lines(
    world: tuple[ProcurementConnector, SandboxState, Hiccup],
) -> None:
    connector, _, _ = world
    order = await connector.create_purchase_order(order_draft(), reference="FRSTATE1")
    with pytest.raises(PlatformRejected) as early:
        await connector.purchase_order_action(order.id, "close")
    problem = early.value.problem()
    assert problem.status == 409
    assert "cannot close purchase order" in problem.detail
    assert "allowed actions: cancel, issue" in problem.detail
    assert (await connector.purchase_order_action(order.id, "issue")).status == "issued"
    receipt = await connector.create_receipt(GoodsReceiptDraft(purchase_order_id=order.id, lines=[
        GoodsReceiptDraftLine(po_line_number=1, quantity=Decimal(1)),
        GoodsReceiptDraftLine(po_line_number=2, quantity=Decimal(2))]), reference="FRRECEIPT1")
    assert receipt.id == "FRRECEIPT1"
    assert [(x.po_line_number, x.quantity) for x in receipt.lines] == [(1, Decimal(1)), (2, Decimal(2))]
    assert await connector.list_receipts(order.id) == [receipt]
    refreshed = await connector.get_purchase_order(order.id)
    assert [line.received_quantity for line in refreshed.lines] == [Decimal(1), Decimal(2)]
    with pytest.raises(PlatformRejected) as over:
        await connector.create_receipt(GoodsReceiptDraft(purchase_order_id=order.id, lines=[
            GoodsReceiptDraftLine(po_line_number=1, quantity=Decimal(5))]), reference="FRRECEIPT2")
    assert over.value.problem().status == 422
    assert "exceed" in over.value.problem().detail


async def test_malformed_answers_are_502(world: tuple[ProcurementConnector, SandboxState, Hiccup]) -> None:
    connector, _, transport = world
    transport.rewrite["/api/suppliers/1"] = b'{"id": "one", "name": 5}'
    with pytest.raises(MalformedAnswer) as garbage:
        await connector.get_supplier("1")
    assert garbage.value.problem().status == 502
    transport.rewrite["/api/purchase_orders/1"] = (
        b'{"id": 1, "po-number": "1", "status": "teleported", "supplier": {"id": 1}, "currency": {"code": "USD"},'
        b' "total": "0", "created-at": "2026-01-05T09:00:00Z", "custom-fields": {"company-code": "US01"}}'
    )
    with pytest.raises(MalformedAnswer) as unknown:
        await connector.get_purchase_order("1")
    assert "purchase order 1" in unknown.value.problem().detail
