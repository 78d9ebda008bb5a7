"""The budget check process API end to end: gateway -> process API -> planning system API -> sandbox.

The planning sandbox's seed has one line nearly used up (US01 / cost center 1000, 2026-02:
budget 10,000.00 USD, actuals 7,600.00, commitments 2,000.00), so 400.00 USD is available on
it: the line every test here reserves against.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.app import Gateway
from process_apis.budget.store import ReservationStore
from tests.support import Operator

PREFIX = "/process/budget/v1"
PLANNING = "/system/planning/v1"
NEAR_EXHAUSTED = {"company_code": "US01", "cost_center": "1000", "fiscal_year": 2026, "period": 2}


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


class Budget:
    """A user of the budget API (and, to look behind it, of the planning system API)."""

    def __init__(self, http: httpx.AsyncClient, operator: Operator) -> None:
        self.http = http
        self.headers = operator.headers

    async def post(self, path: str, body: Any = None, *, key: str | None = "auto",
                   headers: dict[str, str] | None = None) -> httpx.Response:
        extra = dict(headers or {})
        if key is not None:
            extra["Idempotency-Key"] = uuid.uuid4().hex if key == "auto" else key
        return await self.http.post(f"{PREFIX}{path}", json=body, headers={**self.headers, **extra})

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers=self.headers)

    async def check(self, line_id: str, amount: str) -> dict[str, Any]:
        answer = await self.post("/checks", {"budget_line_id": line_id, "amount": usd(amount)}, key=None)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    async def reserve(self, line_id: str, requisition: str, amount: str, key: str = "auto") -> httpx.Response:
        return await self.post("/reservations", {"budget_line_id": line_id, "requisition_id": requisition,
                                                 "amount": usd(amount)}, key=key)

    async def line(self) -> dict[str, Any]:
        answer = await self.get(f"{PLANNING}/budget-lines", **NEAR_EXHAUSTED)
        assert answer.status_code == 200, answer.text
        (line,) = answer.json()["items"]
        return line  # type: ignore[no-any-return]


@pytest.fixture
async def budget(flows_client: httpx.AsyncClient, flows_operator: Operator) -> Budget:
    return Budget(flows_client, flows_operator)


async def test_check_answers_the_available_amount_and_changes_nothing(budget: Budget) -> None:
    line = await budget.line()
    fits = await budget.check(line["id"], "400.00")
    assert fits["sufficient"] is True
    assert fits["budget"] == usd("10000.00")
    assert fits["actuals"] == usd("7600.00")
    assert fits["commitments"] == usd("2000.00")
    assert fits["reserved"] == usd("0.00")
    assert fits["available"] == usd("400.00")
    assert fits["budget_line"] == {"id": line["id"], **NEAR_EXHAUSTED}

    too_much = await budget.check(line["id"], "400.01")
    assert too_much["sufficient"] is False
    assert too_much["available"] == usd("400.00")

    # The same line named by entity, cost center and period.
    by_key = await budget.post("/checks", {**NEAR_EXHAUSTED, "amount": usd("1.00")}, key=None)
    assert by_key.status_code == 200, by_key.text
    assert by_key.json()["budget_line"]["id"] == line["id"]

    # No effect: nothing reserved, nothing booked in planning.
    assert (await budget.check(line["id"], "1.00"))["reserved"] == usd("0.00")
    assert (await budget.line())["consumed"] == line["consumed"]


async def test_reserve_release_and_convert(budget: Budget) -> None:
    line_id = (await budget.line())["id"]
    first = await budget.reserve(line_id, "REQ-1", "150.00")
    assert first.status_code == 201, first.text
    held = first.json()
    assert held["status"] == "held"
    assert held["amount"] == usd("150.00")
    assert held["requisition_id"] == "REQ-1"
    assert held["budget_line"]["id"] == line_id
    assert first.headers["location"] == f"{PREFIX}/reservations/{held['id']}"

    second = await budget.reserve(line_id, "REQ-2", "100.00")
    assert second.status_code == 201, second.text
    after_two = await budget.check(line_id, "1.00")
    assert after_two["reserved"] == usd("250.00")
    assert after_two["available"] == usd("150.00")

    read = await budget.get(f"{PREFIX}/reservations/{held['id']}")
    assert read.status_code == 200
    assert read.json() == held

    # Requisition cancelled: the amount is free again; releasing twice changes nothing.
    released = await budget.post(f"/reservations/{held['id']}/release")
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "released"
    assert released.json()["released_at"] is not None
    again = await budget.post(f"/reservations/{held['id']}/release")
    assert again.status_code == 200
    assert again.json()["released_at"] == released.json()["released_at"]
    assert (await budget.check(line_id, "1.00"))["available"] == usd("300.00")

    # PO issued: the reservation ends, the PO is recorded on it.
    other = second.json()["id"]
    converted = await budget.post(f"/reservations/{other}/convert", {"purchase_order_id": "PO-77"})
    assert converted.status_code == 200, converted.text
    assert converted.json()["status"] == "converted"
    assert converted.json()["purchase_order_id"] == "PO-77"
    assert (await budget.check(line_id, "1.00"))["reserved"] == usd("0.00")

    # Ended is ended: the other way round is refused.
    refused = await budget.post(f"/reservations/{other}/release")
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/reservation-converted")
    into_other = await budget.post(f"/reservations/{other}/convert", {"purchase_order_id": "PO-78"})
    assert into_other.status_code == 409
    same_po = await budget.post(f"/reservations/{other}/convert", {"purchase_order_id": "PO-77"})
    assert same_po.status_code == 200
    released_then_converted = await budget.post(f"/reservations/{held['id']}/convert", {"purchase_order_id": "PO-9"})
    assert released_then_converted.status_code == 409
    assert released_then_converted.json()["type"].endswith("/reservation-released")

    missing = await budget.post("/reservations/rsv_nope/release")
    assert missing.status_code == 404
    assert (await budget.get(f"{PREFIX}/reservations/rsv_nope")).status_code == 404


async def test_over_budget_is_refused_with_the_available_amount(budget: Budget) -> None:
    line_id = (await budget.line())["id"]
    over = await budget.reserve(line_id, "REQ-BIG", "400.01")
    assert over.status_code == 422
    problem = over.json()
    assert over.headers["content-type"].startswith("application/problem+json")
    assert problem["type"].endswith("/over-budget")
    assert "400.00 USD available" in problem["detail"]

    assert (await budget.reserve(line_id, "REQ-A", "300.00")).status_code == 201
    over = await budget.reserve(line_id, "REQ-B", "100.01")
    assert over.status_code == 422
    assert "100.00 USD available" in over.json()["detail"]
    assert (await budget.reserve(line_id, "REQ-B", "100.00")).status_code == 201
    assert (await budget.check(line_id, "0.01"))["sufficient"] is False


async def test_one_reservation_per_requisition_and_line(budget: Budget) -> None:
    line_id = (await budget.line())["id"]
    first = await budget.reserve(line_id, "REQ-9", "50.00")
    assert first.status_code == 201
    # Same requisition, same amount, new key: the existing reservation, not a second one.
    same = await budget.reserve(line_id, "REQ-9", "50.00")
    assert same.status_code == 200
    assert same.json()["id"] == first.json()["id"]
    other_amount = await budget.reserve(line_id, "REQ-9", "60.00")
    assert other_amount.status_code == 409
    assert other_amount.json()["type"].endswith("/reservation-exists")
    assert (await budget.check(line_id, "1.00"))["reserved"] == usd("50.00")
    # Once released, the requisition may reserve again.
    assert (await budget.post(f"/reservations/{first.json()['id']}/release")).status_code == 200
    assert (await budget.reserve(line_id, "REQ-9", "60.00")).status_code == 201


async def test_concurrent_reservations_never_overspend(budget: Budget) -> None:
    line_id = (await budget.line())["id"]
    available = Decimal((await budget.check(line_id, "1.00"))["available"]["amount"])
    amount = Decimal("30.00")
    answers = await asyncio.gather(
        *(budget.reserve(line_id, f"REQ-RACE-{n}", str(amount)) for n in range(50))
    )
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {201, 422}, [a.text for a in answers if a.status_code not in (201, 422)]
    accepted = [answer.json() for answer in answers if answer.status_code == 201]
    assert len(accepted) == int(available // amount) == 13
    assert sum(Decimal(item["amount"]["amount"]) for item in accepted) <= available
    assert all(a.json()["type"].endswith("/over-budget") for a in answers if a.status_code == 422)
    after = await budget.check(line_id, "0.01")
    assert Decimal(after["reserved"]["amount"]) == amount * len(accepted)
    assert Decimal(after["available"]["amount"]) == available - amount * len(accepted)


async def test_a_retried_reservation_is_replayed_not_repeated(budget: Budget) -> None:
    line_id = (await budget.line())["id"]
    first = await budget.reserve(line_id, "REQ-R", "120.00", key="reserve-REQ-R")
    assert first.status_code == 201
    retry = await budget.reserve(line_id, "REQ-R", "120.00", key="reserve-REQ-R")
    assert retry.status_code == 201
    assert retry.headers.get("idempotent-replayed") == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert (await budget.check(line_id, "1.00"))["reserved"] == usd("120.00")
    reused = await budget.reserve(line_id, "REQ-R", "130.00", key="reserve-REQ-R")
    assert reused.status_code == 422

    without_key = await budget.reserve(line_id, "REQ-S", "1.00", key=None)  # type: ignore[arg-type]
    assert without_key.status_code == 400


async def test_unknown_line_and_bad_requests_are_problems(budget: Budget) -> None:
    missing = await budget.reserve("no-such-line", "REQ-X", "10.00")
    assert missing.status_code == 404, missing.text
    assert missing.json()["type"].endswith("/budget-line-not-found")
    assert (await budget.post("/checks", {"budget_line_id": "no-such-line", "amount": usd("1.00")},
                              key=None)).status_code == 404
    no_key = await budget.post("/checks", {**NEAR_EXHAUSTED, "cost_center": "9999", "amount": usd("1.00")},
                               key=None)
    assert no_key.status_code == 404

    line_id = (await budget.line())["id"]
    euros = await budget.post("/reservations", {"budget_line_id": line_id, "requisition_id": "REQ-E",
                                                "amount": {"amount": "10.00", "currency": "EUR"}})
    assert euros.status_code == 422
    assert euros.json()["type"].endswith("/currency-mismatch")
    for body in (
        {"budget_line_id": line_id, "requisition_id": "REQ-N", "amount": usd("0.00")},
        {"budget_line_id": line_id, **NEAR_EXHAUSTED, "requisition_id": "REQ-N", "amount": usd("1.00")},
        {"company_code": "US01", "requisition_id": "REQ-N", "amount": usd("1.00")},
    ):
        refused = await budget.post("/reservations", body)
        assert refused.status_code == 422, (body, refused.text)
    unknown_field = await budget.post("/reservations", {"budget_line_id": line_id, "requisition_id": "REQ-N",
                                                        "amount": usd("1.00"), "priority": "high"})
    assert unknown_field.status_code == 400
    assert (await budget.check(line_id, "1.00"))["reserved"] == usd("0.00")


async def test_planning_down_is_a_503_and_reserves_nothing(budget: Budget, flows_gateway: Gateway) -> None:
    line_id = (await budget.line())["id"]
    faults = "/sandbox/planning/_sandbox/faults"
    assert (await budget.http.put(faults, json={"maintenance": True, "retry_after_seconds": 0})).status_code == 200
    try:
        down = await budget.reserve(line_id, "REQ-D", "10.00")
    finally:
        assert (await budget.http.put(faults, json={})).status_code == 200
    assert down.status_code == 503, down.text
    assert down.json()["type"].endswith("/planning-unavailable")
    # The connector's circuit is open now, so look at the reservations themselves.
    assert await ReservationStore(flows_gateway.runtime.database).held(line_id) == 0


async def test_reservations_are_audited_with_the_calls_correlation_id(
    budget: Budget, flows_gateway: Gateway
) -> None:
    line_id = (await budget.line())["id"]
    answer = await budget.post("/reservations", {"budget_line_id": line_id, "requisition_id": "REQ-T",
                                                 "amount": usd("5.00")},
                               headers={"X-Correlation-ID": "budget-trace-1"})
    assert answer.status_code == 201
    assert answer.json()["correlation_id"] == "budget-trace-1"
    await flows_gateway.services.audit.flush()
    records = [r async for r in _records(flows_gateway, "budget-trace-1")]
    operations = {r.operation for r in records}
    # The reservation itself, and the planning reads made on its behalf: one transaction, one trace.
    assert {"reserve_budget", "get_budget_line", "list_budget_consumption"} <= operations
    (change,) = [r for r in records if r.operation == "reserve_budget"]
    assert change.kind == "change"
    assert change.after is not None
    assert change.after["amount"] == usd("5.00")


async def _records(gateway: Gateway, correlation_id: str) -> Any:
    for record in await gateway.services.audit.query(correlation_id=correlation_id):
        yield record


async def test_reservations_are_listed_by_requisition_line_and_status_page_by_page(budget: Budget) -> None:
    line_id = (await budget.line())["id"]
    made = []
    for number in range(3):
        answer = await budget.reserve(line_id, f"REQ-LIST-{number}", "5.00")
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])
    released = await budget.post(f"/reservations/{made[0]}/release")
    assert released.status_code == 200, released.text

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"budget_line_id": line_id, "limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = await budget.get(f"{PREFIX}/reservations", **params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        pages.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(page) for page in pages] == [2, 1]
    assert sorted(id_ for page in pages for id_ in page) == sorted(made), "newest first, each once"

    held = (await budget.get(f"{PREFIX}/reservations", budget_line_id=line_id, status="held")).json()["items"]
    assert sorted(item["id"] for item in held) == sorted(made[1:])
    one = (await budget.get(f"{PREFIX}/reservations", requisition_id="REQ-LIST-2")).json()["items"]
    assert [item["id"] for item in one] == [made[2]]
    other_filters = await budget.get(f"{PREFIX}/reservations", status="held", limit=1,
                                     cursor=(await budget.get(f"{PREFIX}/reservations", limit=1)).json()["next_cursor"])
    assert other_filters.status_code == 422, other_filters.text
