"""The planning connector: mapping round trips, and its calls against the embedded sandbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from litestar import Litestar

from gateway.lifespan import lifespan
from platforms.kit.config import SandboxConfig
from platforms.kit.faults import Faults
from platforms.planning.app import create_app
from system_apis.canonical import BudgetConsumption, Money
from system_apis.connectors.kit import ConnectionConfig, MalformedAnswer, PlatformError
from system_apis.connectors.planning import PlanningConnector, mapping, wire


class Recorder(httpx.AsyncBaseTransport):
    """The sandbox over ASGI with the time limit a socket would enforce; records every answer."""

    def __init__(self, app: Litestar, timeout: float) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.timeout = timeout
        self.statuses: list[tuple[str, int | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await asyncio.wait_for(self.inner.handle_async_request(request), self.timeout)
        except TimeoutError:
            self.statuses.append((request.method, None))
            raise httpx.ReadTimeout("timed out", request=request) from None
        self.statuses.append((request.method, response.status_code))
        return response


@pytest.fixture
async def sandbox() -> AsyncIterator[Litestar]:
    app = create_app(SandboxConfig())
    async with lifespan(app):
        yield app


def connect(transport: httpx.AsyncBaseTransport, password: str = "sandbox",
            timeout_seconds: float = 5.0) -> PlanningConnector:
    config = ConnectionConfig(base_url="http://sandbox.planning", username="finrail", password=password, retries=3,
                              backoff_base_seconds=0.01, backoff_max_seconds=0.02, timeout_seconds=timeout_seconds)
    return PlanningConnector(config, transport=transport)


def test_consumption_round_trip() -> None:
    new_york = dt.timezone(dt.timedelta(hours=-5))
    consumption = BudgetConsumption(amount=Money(Decimal("99.90"), "GBP"), reference="PO-1",
                                    occurred_at=dt.datetime(2026, 3, 3, 23, 30, tzinfo=new_york))
    body = mapping.adjustment_create("line-1", "actual", consumption, external_reference="FRREF",
                                     today=dt.date(2026, 1, 1))
    assert (body.amount_type, body.transaction_date) == ("SPENT_AMOUNT", dt.date(2026, 3, 4))  # UTC date
    booked = wire.BudgetAdjustment(id="a-1", budget_item_detail_id=body.budget_item_detail_id,
                                   amount_type=body.amount_type, amount=body.amount, currency_code=body.currency_code,
                                   transaction_date=body.transaction_date, external_reference=body.external_reference,
                                   description=body.description)
    record = mapping.adjustment_to_record(booked)
    assert (record.kind, record.amount, record.reference, record.budget_line_id) == (
        "actual", consumption.amount, "PO-1", "line-1")


def test_line_without_entity_is_malformed() -> None:
    detail = wire.BudgetItemDetail(
        id="d", budget_item_header_id="h", amount=Decimal(10), currency_code="EUR",
        fiscal_period=wire.FiscalPeriod(id="p", name="2026-04", start_date=dt.date(2026, 4, 1),
                                        end_date=dt.date(2026, 4, 30)),
        cost_objects=[wire.CostObject(list_name="Cost Center", code="1000")],
        budget_amounts=wire.BudgetAmounts(adjusted_budget_amount=Decimal(10), spend_amount=Decimal(1),
                                          pending_amount=Decimal(2), available_amount=Decimal(7)),
    )
    with pytest.raises(ValueError, match="Legal Entity"):
        mapping.line_to_canonical(detail)


async def test_budget_at_its_active_version(sandbox: Litestar) -> None:
    connector = connect(httpx.ASGITransport(app=sandbox))
    lines = (await connector.list_lines(company_code="US01", fiscal_year=2026, period=3, limit=200)).items
    assert len(lines) == 8
    budgets = [await connector.get_budget(line.budget_id) for line in lines]
    assert [b.version for b in budgets] == [1, 1, 1, 1, 2, 1, 1, 1]  # every fifth budget was re-forecast
    assert all(len(b.lines) == 12 and b.status == "approved" and b.currency == "USD" for b in budgets)
    await connector.aclose()


def _seed_for(pattern: list[bool], rate: float) -> int:
    for seed in range(10_000):
        rng = random.Random(seed)
        if [rng.random() < rate for _ in pattern] == pattern:
            return seed
    raise AssertionError("no seed")  # pragma: no cover


async def test_booking_that_times_out_after_success_is_not_booked_twice(sandbox: Litestar) -> None:
    recorder = Recorder(sandbox, timeout=0.3)
    connector = connect(recorder, timeout_seconds=0.3)
    line = (await connector.list_lines(company_code="GB01", cost_center="2000", fiscal_year=2026, period=5)).items[0]
    state = sandbox.state.sandbox
    state.set_faults(Faults(timeout_rate=0.5, hang_seconds=5, seed=_seed_for([True, False], 0.5)))
    consumption = BudgetConsumption(amount=Money(Decimal("120.00"), "GBP"), reference="INV-9")
    record = await connector.record_consumption(line.id, "actual", consumption, external_reference="FRONCE")
    state.set_faults(Faults())
    assert [s for s in recorder.statuses if s[0] == "POST"] == [("POST", None)]
    assert len(state.store.find("adjustments", externalReference="FRONCE")) == 1
    after = await connector.get_line(line.id)
    assert after.consumed - line.consumed == consumption.amount
    assert await connector.find_consumption("FRONCE") == record
    await connector.aclose()


async def test_throttling_retried_and_wrong_password_is_502(sandbox: Litestar) -> None:
    recorder = Recorder(sandbox, timeout=5)
    connector = connect(recorder)
    sandbox.state.sandbox.set_faults(Faults(throttle_rate=0.5, retry_after_seconds=0,
        seed=_seed_for([True, False, True, True, False, False, True, False], 0.5)))
    for _ in range(4):
        assert len((await connector.list_lines(limit=3)).items) == 3
    assert ("GET", 429) in recorder.statuses
    await connector.aclose()

    sandbox.state.sandbox.set_faults(Faults())
    intruder = connect(httpx.ASGITransport(app=sandbox), password="wrong")
    with pytest.raises(PlatformError) as refused:
        await intruder.get_line("x")
    assert refused.value.problem().status == 502  # our credentials, not the caller's fault
    await intruder.aclose()


async def test_malformed_answers_are_502() -> None:
    answers = {
        "/budget/v4/budgetItemDetail": {"budgetItemDetails": [{"id": 1}], "totalRows": 1, "offset": 0, "limit": 50},
        "/budget/v4/adjustments": [{"id": "a"}, {"id": "b"}],
    }
    connector = connect(httpx.MockTransport(lambda request: httpx.Response(200, json=answers.get(request.url.path))))
    consumption = BudgetConsumption(amount=Money(Decimal(1), "EUR"), reference="x")
    for call in (connector.list_lines(), connector.record_consumption("l", "actual", consumption,
                                                                      external_reference="FR1")):
        with pytest.raises(MalformedAnswer) as malformed:
            await call
        assert malformed.value.problem().status == 502
    await connector.aclose()
