"""The planning sandbox: Concur Budget v4 shapes, Basic auth, balances, consumption, persistence."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
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
    assert (refused.status_code, refused.json()["errorId"]) == (422, "period.closed")
    yen = await http.post(f"{API}/adjustments", json=[{"budgetItemDetailId": target["id"], "amountType": "SPENT_AMOUNT",
                                                       "amount": 1, "currencyCode": "JPY"}])
    assert yen.status_code == 422
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


async def test_business_rule_refusals_are_422_and_book_nothing(http: httpx.AsyncClient) -> None:
    target = await line(http, entity="US01", costCenter="1100", fiscalPeriodName="2026-05")
    closed = await line(http, entity="US01", costCenter="1100", fiscalPeriodName="2026-01")
    good = {"budgetItemDetailId": target["id"], "amountType": "SPENT_AMOUNT", "amount": "10.00"}
    cases = {
        "currency.mismatch": ({**good, "currencyCode": "EUR"}, "[1].currencyCode"),
        "amount.scale": ({**good, "amount": "0.001"}, "[1].amount"),
        "period.closed": ({**good, "budgetItemDetailId": closed["id"]}, "[1]"),
    }
    for error_id, (bad, field) in cases.items():
        # the first item is fine: a refusal of the second books nothing at all
        refused = await http.post(f"{API}/adjustments", json=[good, bad])
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert (body["errorId"], body["httpStatus"]) == (error_id, 422)
        assert [e["field"] for e in body["validationErrors"]] == [field]
    assert "USD" in (await http.post(f"{API}/adjustments", json=[cases["currency.mismatch"][0]])).json()["errorMessage"]
    yen = await line(http, entity="JP01", costCenter="1100", fiscalPeriodName="2026-05")
    cents = await http.post(f"{API}/adjustments", json=[{**good, "budgetItemDetailId": yen["id"], "amount": 1.5}])
    assert (cents.status_code, cents.json()["errorId"]) == (422, "amount.scale")
    unchanged = (await http.get(f"{API}/budgetItemDetail/{target['id']}")).json()
    assert unchanged["budgetAmounts"] == target["budgetAmounts"]
    missing = await http.post(f"{API}/adjustments", json=[{**good, "budgetItemDetailId": "no-such-line"}])
    assert (missing.status_code, missing.json()["errorId"]) == (404, "not.found")


@pytest.mark.parametrize(("body", "field"), [
    pytest.param([{"amount": "1", "amountType": "SPENT_AMOUNT", "budgetItemDetailId": True}],
                 "[0].budgetItemDetailId", id="bool-for-string"),
    pytest.param([{"amount": True, "amountType": "SPENT_AMOUNT", "budgetItemDetailId": "x"}], "[0].amount",
                 id="bool-for-amount"),
    pytest.param([{"amount": "1e5", "amountType": "SPENT_AMOUNT", "budgetItemDetailId": "x"}], "[0].amount",
                 id="exponent-string"),
    pytest.param([{"amount": "NaN", "amountType": "SPENT_AMOUNT", "budgetItemDetailId": "x"}], "[0].amount",
                 id="nan"),
    pytest.param([{"amount": " 1", "amountType": "SPENT_AMOUNT", "budgetItemDetailId": "x"}], "[0].amount",
                 id="padded-string"),
    pytest.param([{"amount": 1e12, "amountType": "SPENT_AMOUNT", "budgetItemDetailId": "x"}], "[0].amount",
                 id="out-of-range"),
    pytest.param([{"amount": "1", "amountType": "spent_amount", "budgetItemDetailId": "x"}], "[0].amountType",
                 id="enum-case"),
    pytest.param([{"amount": True, "amountType": "SPENT_AMOUNT", "budgetItemDetailId": "x"}], "[0].amount",
                 id="boolean-for-number"),
    pytest.param([{"amount": "true", "amountType": "SPENT_AMOUNT", "budgetItemDetailId": "x"}], "[0].amount",
                 id="string-for-number"),
    pytest.param([{"amount": "1", "amountType": "SPENT_AMOUNT", "budgetItemDetailId": "x",
                   "transactionDate": 20260501}], "[0].transactionDate", id="number-for-date"),
    pytest.param([{"amount": "1", "amountType": "SPENT_AMOUNT", "budgetItemDetailId": "x", "extra": 1}], "[0]",
                 id="unknown-field"),
    pytest.param([{"amount": "1", "amountType": "SPENT_AMOUNT", "budgetItemName": "US01 1000 Marketing FY2026"}],
                 "[0]", id="line-not-named"),
    pytest.param([{"amount": "1", "amountType": "SPENT_AMOUNT"}], "[0]", id="no-line"),
    pytest.param([], "body", id="empty"),
    pytest.param({"amount": "1", "amountType": "SPENT_AMOUNT", "budgetItemDetailId": "x"}, "body", id="not-an-array"),
])
async def test_adjustment_body_is_decoded_strictly(http: httpx.AsyncClient, body: Any, field: str) -> None:
    booked = (await http.get(f"{API}/adjustments", params={"limit": 1})).json()["totalRows"]
    refused = await http.post(f"{API}/adjustments", json=body)
    assert refused.status_code == 400, refused.text
    answer = refused.json()
    assert (answer["errorId"], answer["httpStatus"]) == ("invalid.body", 400)
    assert [e["field"] for e in answer["validationErrors"]] == [field]
    assert (await http.get(f"{API}/adjustments", params={"limit": 1})).json()["totalRows"] == booked


async def test_malformed_json_and_query_are_400(http: httpx.AsyncClient) -> None:
    garbage = await http.post(f"{API}/adjustments", content=b"[{", headers={"content-type": "application/json"})
    assert (garbage.status_code, garbage.json()["errorId"]) == (400, "invalid.body")
    rolling = await http.post(f"{API}/adjustments", params={"useMonthlyRollingUpdate": "maybe"}, json=[])
    assert rolling.status_code == 400


async def test_amounts_are_exact_decimals_numbers_or_strings(http: httpx.AsyncClient) -> None:
    target = await line(http, entity="DE01", costCenter="1200", fiscalPeriodName="2026-08")
    body = [{"budgetItemDetailId": target["id"], "amountType": "PENDING_AMOUNT", "amount": "999999999999.99"},
            {"budgetItemDetailId": target["id"], "amountType": "PENDING_AMOUNT", "amount": -0.1},
            {"budgetItemDetailId": target["id"], "amountType": "SPENT_AMOUNT", "amount": 7}]
    saved = await http.post(f"{API}/adjustments", json=body)
    assert saved.status_code == 201, saved.text
    assert [a["amount"] for a in json.loads(saved.content, parse_float=Decimal)] == [
        Decimal("999999999999.99"), Decimal("-0.10"), 7]
    assert b'"amount":7.00' in saved.content  # scaled to the currency, sent as a JSON number
    after = json.loads((await http.get(f"{API}/budgetItemDetail/{target['id']}")).content, parse_float=Decimal)
    assert after["budgetAmounts"]["pendingAmount"] == Decimal("999999999999.89")


async def test_openapi_document_describes_bodies_and_errors(http: httpx.AsyncClient) -> None:
    document = (await http.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    post = document["paths"][f"{API}/adjustments"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert (body["type"], body["minItems"]) == ("array", 1)
    assert body["items"] == {"$ref": "#/components/schemas/AdjustmentIn"}
    adjustment = schemas["AdjustmentIn"]
    assert adjustment["additionalProperties"] is False
    assert [sorted(a["required"]) for a in adjustment["anyOf"]] == [["budgetItemDetailId"],
                                                                    ["budgetItemName", "fiscalPeriodName"]]
    assert {s["type"] for s in adjustment["properties"]["amount"]["anyOf"]} == {"number", "string"}
    assert {"201", "400", "401", "404", "409", "422"} <= set(post["responses"])
    error = post["responses"]["422"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}
    assert set(schemas["ErrorBody"]["required"]) == {"errorId", "errorMessage", "httpStatus", "validationErrors"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            ok = "201" if method == "post" else "200"
            assert {ok, "400", "401"} <= set(operation["responses"]), (method, path)
            assert "$ref" in str(operation["responses"][ok]["content"]), (method, path)
    assert schemas["BudgetAmountDoc"]["properties"]["availableAmount"]["type"] == "number"


async def test_options_lists_every_method_without_credentials(http: httpx.AsyncClient) -> None:
    answer = await http.options(f"{API}/adjustments", auth=None)
    assert answer.status_code == 204
    assert {m.strip() for m in answer.headers["allow"].split(",")} == {"GET", "OPTIONS", "POST"}
    assert (await http.delete(f"{API}/adjustments")).status_code == 405
