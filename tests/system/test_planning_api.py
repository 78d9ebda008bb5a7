"""The planning system API end to end: gateway chain -> connector -> embedded planning sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from litestar import Litestar

from gateway.app import Gateway, create_app
from gateway.catalog import ApiDescriptor, Catalog
from gateway.lifespan import lifespan
from gateway.registry import default_catalog
from gateway.settings import Settings
from platforms.kit.config import SandboxConfig
from platforms.planning.app import create_app as create_sandbox
from system_apis.connectors.kit import ConnectionConfig
from system_apis.connectors.planning import PlanningConnector
from system_apis.planning.api import PREFIX, SCOPES, SUMMARY, routes
from tests.support import register


@dataclass
class Rig:
    sandbox: Litestar
    gateway: Gateway
    http: httpx.AsyncClient
    headers: dict[str, str]

    async def post(self, path: str, body: Any = None, key: str | None = None) -> httpx.Response:
        headers = {**self.headers, **({"Idempotency-Key": key} if key else {})}
        return await self.http.post(f"{PREFIX}{path}", json=body, headers=headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"{PREFIX}{path}", params=params, headers=self.headers)


@pytest.fixture
async def rig(settings: Settings) -> AsyncIterator[Rig]:
    sandbox = create_sandbox(SandboxConfig())
    async with lifespan(sandbox):
        connector = PlanningConnector(
            ConnectionConfig(base_url="http://sandbox.planning", username="finrail", password="sandbox", retries=1,
                             backoff_base_seconds=0.01, backoff_max_seconds=0.02),
            transport=httpx.ASGITransport(app=sandbox),
        )
        api = ApiDescriptor(name="planning", tier="system", major=1, owner="finance-integration", summary=SUMMARY,
                            prefixes=(PREFIX,), scopes=SCOPES, routes=lambda ctx: routes(connector))
        core = tuple(a for a in default_catalog().apis if a.tier == "gateway")  # identity, admin, ops
        gateway = create_app(settings, catalog=Catalog(apis=(*core, api)))
        await gateway.startup()
        transport = httpx.ASGITransport(app=gateway, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            operator = await register(gateway, http, sorted(gateway.catalog.scopes))
            yield Rig(sandbox, gateway, http, operator.headers)
        await gateway.shutdown()
        await connector.aclose()


async def test_lines_filtered_and_paged_with_cursor(rig: Rig) -> None:
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"company_code": "DE01", "fiscal_year": 2026, "limit": 40}
        page = (await rig.get("/budget-lines", **params, **({"cursor": cursor} if cursor else {}))).json()
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 8 * 12 == len({line["id"] for line in seen})  # 8 cost centers x 12 months
    assert {line["company_code"] for line in seen} == {"DE01"}
    assert {line["amount"]["currency"] for line in seen} == {"EUR"}

    one = (await rig.get("/budget-lines", company_code="US01", cost_center="1000", fiscal_year=2026,
                         period=2)).json()["items"]
    assert len(one) == 1
    line = one[0]
    assert line["amount"] == {"amount": "10000.00", "currency": "USD"}
    assert line["consumed"] == {"amount": "9600.00", "currency": "USD"}  # the near-exhausted line
    assert (await rig.get(f"/budget-lines/{line['id']}")).json() == line
    budget = (await rig.get(f"/budgets/{line['budget_id']}")).json()
    assert budget["company_code"] == "US01"
    assert len(budget["lines"]) == 12
    assert budget["version"] == 1

    assert (await rig.get("/budget-lines", period=2)).status_code == 422  # period needs the year
    assert (await rig.get("/budget-lines", cursor="Zm9yZ2Vk.AAAAAAAAAAAAAAAA")).status_code == 422  # forged
    assert (await rig.get("/budget-lines", cursor="forged.cursor")).status_code == 400  # not a cursor's shape


async def test_consumption_booked_once_audited_and_listed(rig: Rig) -> None:
    line = (await rig.get("/budget-lines", company_code="US01", cost_center="1000", fiscal_year=2026,
                          period=2)).json()["items"][0]
    body = {"kind": "commitment", "amount": {"amount": "350.00", "currency": "USD"}, "reference": "PO-4500001"}
    assert (await rig.post(f"/budget-lines/{line['id']}/consumption", body)).status_code == 400  # no key

    booked = await rig.post(f"/budget-lines/{line['id']}/consumption", body, key="po-4500001")
    assert booked.status_code == 201, booked.text
    record = booked.json()
    assert record["kind"] == "commitment"
    assert record["amount"] == body["amount"]
    replay = await rig.post(f"/budget-lines/{line['id']}/consumption", body, key="po-4500001")
    assert replay.json() == record

    after = (await rig.get(f"/budget-lines/{line['id']}")).json()
    assert Decimal(after["consumed"]["amount"]) == Decimal("9950.00")  # booked once, not twice

    listed = (await rig.get(f"/budget-lines/{line['id']}/consumption", limit=1)).json()
    assert listed["next_cursor"] is not None
    everything = (await rig.get(f"/budget-lines/{line['id']}/consumption", limit=200)).json()["items"]
    assert [r["kind"] for r in everything] == ["actual", "commitment", "commitment"]
    assert everything[-1]["id"] == record["id"]

    wrong_currency = {**body, "amount": {"amount": "1.00", "currency": "EUR"}}
    refused = await rig.post(f"/budget-lines/{line['id']}/consumption", wrong_currency, key="eur")
    assert refused.status_code == 422
    assert "USD" in refused.json()["detail"]

    changes = [r for r in await rig.gateway.services.audit.query(limit=100) if r.kind == "change"]
    assert len(changes) == 1
    assert changes[0].before["budget_line"]["consumed"]["amount"] == "9600.00"
    assert changes[0].after["budget_line"]["consumed"]["amount"] == "9950.00"
    assert changes[0].resource_ids == {"budget_line_id": line["id"], "consumption_id": record["id"]}


async def test_document_lists_every_operation(rig: Rig) -> None:
    document = (await rig.http.get(f"{PREFIX}/openapi.json")).json()
    assert set(document["paths"]) == {f"{PREFIX}{p}" for p in (
        "/budget-lines", "/budget-lines/{line_id}", "/budgets/{budget_id}", "/budget-lines/{line_id}/consumption")}
