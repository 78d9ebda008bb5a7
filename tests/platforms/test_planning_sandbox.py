"""The planning sandbox: Concur Budget v4 shapes, Basic auth, balances, consumption, persistence."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from gateway.lifespan import lifespan
from platforms.kit.config import SandboxConfig
from platforms.planning.app import create_app

API = "/budget/v4"
CONTRACT = Path(__file__).parents[3] / "shared" / "contracts" / "sap-concur" / "Budget_v4.swagger2.json"


def client(app: Litestar) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox.planning",
                             auth=("finrail", "sandbox"))


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(SandboxConfig())
    async with lifespan(app), client(app) as http:
        yield http


async def line(http: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    found = (await http.get(f"{API}/budgetItemDetail", params=params)).json()["budgetItemDetails"]
    assert len(found) == 1
    only: dict[str, Any] = found[0]
    return only


async def test_basic_auth_and_concur_errors(http: httpx.AsyncClient) -> None:
    denied = await http.get(f"{API}/budgetItemHeader", auth=("finrail", "wrong"))
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"].startswith("Basic")
    assert set(denied.json()) == {"errorId", "errorMessage", "httpStatus", "validationErrors"}
    missing = await http.get(f"{API}/budgetItemHeader/none")
    assert (missing.status_code, missing.json()["errorId"]) == (404, "not.found")
    bad = await http.get(f"{API}/budgetItemDetail", params={"limit": 0})
    assert bad.status_code == 400
    assert bad.json()["validationErrors"][0]["field"] == "limit"


async def test_headers_use_concur_budget_v4_field_names(http: httpx.AsyncClient) -> None:
    spec = json.loads(CONTRACT.read_text())["definitions"]
    page = (await http.get(f"{API}/budgetItemHeader", params={"limit": 2})).json()
    assert set(spec["PagedBudgetItemHeaderResult"]["properties"]) >= set(page) - {"budgetItemHeaders"}
    assert (page["totalRows"], page["offset"], page["limit"]) == (30, 0, 2)
    assert "offset=2" in page["next"]["href"]
    header = page["budgetItemHeaders"][0]
    concur = set(spec["BudgetItemHeader"]["properties"])
    assert {"id", "name", "currencyCode", "budgetItemStatusType", "budgetItemDetails", "costObjects"} <= concur
    assert {k for k in header if k in concur} >= {"id", "name", "currencyCode", "budgetAmounts", "budgetItemDetails"}
    detail = header["budgetItemDetails"][0]
    assert set(spec["BudgetAmount"]["properties"]) == set(detail["budgetAmounts"])
    assert set(spec["FiscalPeriod"]["properties"]) >= set(detail["fiscalPeriod"])
    assert len(header["budgetItemDetails"]) == 12


async def test_lines_filtered_and_near_exhausted_line(http: httpx.AsyncClient) -> None:
    us = (await http.get(f"{API}/budgetItemDetail", params={"entity": "US01", "fiscalPeriodName": "2026-07"})).json()
    assert us["totalRows"] == 8
    tight = await line(http, entity="US01", costCenter="1000", fiscalPeriodName="2026-02")
    amounts = tight["budgetAmounts"]
    assert (amounts["availableAmount"], amounts["consumedPercent"], amounts["threshold"]) == (400, 96, "ALERT")
    versions = (await http.get(f"{API}/budgetItemHeader/{tight['budgetItemHeaderId']}/versions")).json()
    assert [v["status"] for v in versions] == ["ACTIVE"]


async def test_adjustments_book_consumption_once(http: httpx.AsyncClient) -> None:
    target = await line(http, entity="DE01", costCenter="2200", fiscalPeriodName="2026-04")
    booking = [{"budgetItemDetailId": target["id"], "amountType": "PENDING_AMOUNT", "amount": 250.5,
                "externalReference": "PO-1"},
               {"budgetItemName": target["budgetName"], "fiscalPeriodName": "2026-04", "amountType": "SPENT_AMOUNT",
                "amount": 100, "externalReference": "INV-1"}]
    saved = await http.post(f"{API}/adjustments", params={"useMonthlyRollingUpdate": "false"}, json=booking)
    assert saved.status_code == 201, saved.text
    assert [a["amountType"] for a in saved.json()] == ["PENDING_AMOUNT", "SPENT_AMOUNT"]
    after = (await http.get(f"{API}/budgetItemDetail/{target['id']}")).json()["budgetAmounts"]
    assert (after["pendingAmount"], after["spendAmount"]) == (250.5, 100)
    assert after["availableAmount"] == target["amount"] - 350.5

    duplicate = await http.post(f"{API}/adjustments", json=[booking[0]])
    assert (duplicate.status_code, duplicate.json()["errorId"]) == (409, "duplicate.reference")
    found = (await http.get(f"{API}/adjustments", params={"externalReference": "PO-1"})).json()
    assert found["totalRows"] == 1

    closed = await line(http, entity="DE01", costCenter="2200", fiscalPeriodName="2026-01")
    refused = await http.post(f"{API}/adjustments", json=[{"budgetItemDetailId": closed["id"],
                                                           "amountType": "SPENT_AMOUNT", "amount": 1}])
    assert (refused.status_code, refused.json()["errorId"]) == (400, "period.closed")
    yen = await http.post(f"{API}/adjustments", json=[{"budgetItemDetailId": target["id"], "amountType": "SPENT_AMOUNT",
                                                       "amount": 1, "currencyCode": "JPY"}])
    assert yen.status_code == 400
    untouched = (await http.get(f"{API}/budgetItemDetail/{target['id']}")).json()["budgetAmounts"]
    assert untouched == after  # refused bookings change nothing


async def test_reforecast_budgets_have_two_versions(http: httpx.AsyncClient) -> None:
    headers = (await http.get(f"{API}/budgetItemHeader", params={"limit": 30})).json()["budgetItemHeaders"]
    reforecast = [h for h in headers if h["budgetVersion"]["number"] == 2]
    assert len(reforecast) == 6
    versions = (await http.get(f"{API}/budgetItemHeader/{reforecast[0]['id']}/versions")).json()
    assert [(v["number"], v["status"]) for v in versions] == [(1, "SUPERSEDED"), (2, "ACTIVE")]
    assert versions[1]["annualBudget"] == reforecast[0]["annualBudget"] > versions[0]["annualBudget"]


async def test_state_survives_a_restart(tmp_path: Path) -> None:
    data = str(tmp_path / "planning.db")

    async def balances(app: Litestar, book: bool) -> dict[str, Any]:
        async with lifespan(app), client(app) as http:
            target = await line(http, entity="GB01", costCenter="1100", fiscalPeriodName="2026-06")
            if book:
                body = [{"budgetItemDetailId": target["id"], "amountType": "SPENT_AMOUNT", "amount": 42}]
                assert (await http.post(f"{API}/adjustments", json=body)).status_code == 201
                target = (await http.get(f"{API}/budgetItemDetail/{target['id']}")).json()
            amounts: dict[str, Any] = target["budgetAmounts"]
            return amounts

    first = await balances(create_app(SandboxConfig(data_path=data)), book=True)
    second = await balances(create_app(SandboxConfig(data_path=data)), book=False)
    assert second == first
    assert second["spendAmount"] == 42
