"""The expense connector against the Concur sandbox (in process), and against broken answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar import Litestar

from gateway.lifespan import lifespan
from platforms.expense import create_app
from platforms.kit import Faults
from system_apis.canonical import Money
from system_apis.connectors.expense import ExpenseConnector
from system_apis.connectors.kit import ConnectionConfig, MalformedAnswer, PlatformRejected, PlatformUnavailable

BASE = "http://sandbox.expense"


def config(**extra: Any) -> ConnectionConfig:
    settings: dict[str, Any] = {"base_url": BASE, "client_id": "finrail", "client_secret": "sandbox-secret",
                                "retries": 1, "backoff_base_seconds": 0.01, **extra}
    return ConnectionConfig(**settings)


@pytest.fixture
async def app() -> AsyncIterator[Litestar]:
    app = create_app()
    async with lifespan(app):
        yield app


@pytest.fixture
async def connector(app: Litestar) -> AsyncIterator[ExpenseConnector]:
    connector = ExpenseConnector(config(), transport=httpx.ASGITransport(app=app))
    yield connector
    await connector.aclose()


async def test_lists_reports_by_status_across_concur_pages(connector: ExpenseConnector) -> None:
    first = await connector.list_reports(status="paid", limit=120)  # more than one Concur page of 100
    assert len(first.items) == 120
    assert {r.status for r in first.items} == {"paid"}
    assert all(r.paid_at and r.approved_at and r.erp_document_number for r in first.items)
    assert first.next_cursor
    rest = await connector.list_reports(status="paid", limit=200, cursor=first.next_cursor)
    ids = [r.id for r in first.items + rest.items]
    assert len(ids) == len(set(ids))
    assert rest.next_cursor is None
    with pytest.raises(ValueError, match="cursor"):
        await connector.list_reports(cursor=first.next_cursor[:-2] + "xx")


async def test_filters_by_employee_and_approval_time(connector: ExpenseConnector) -> None:
    some = (await connector.list_reports(limit=1)).items[0]
    mine = await connector.list_reports(employee_id=some.employee_id, limit=200)
    assert mine.items
    assert {r.employee_id for r in mine.items} == {some.employee_id}
    since = datetime(2025, 5, 1, tzinfo=UTC)
    recent = await connector.list_reports(approved_since=since, limit=200)
    assert recent.items
    assert all(r.approved_at is not None and r.approved_at >= since for r in recent.items)


async def test_a_report_comes_with_its_entries_adding_up_to_its_total(connector: ExpenseConnector) -> None:
    for header in (await connector.list_reports(status="approved", limit=20)).items:
        report = await connector.get_report(header.id)
        assert report.entries
        assert Money.sum([e.posted_amount for e in report.entries], report.currency) == report.total
        assert all(e.transaction_date <= report.submitted_at.date() for e in report.entries if report.submitted_at)
    with pytest.raises(PlatformRejected) as missing:
        await connector.get_report("NOSUCHREPORT")
    assert missing.value.problem().status == 404


async def test_status_updates_are_idempotent_and_guarded(connector: ExpenseConnector) -> None:
    report = (await connector.list_reports(status="approved", limit=1)).items[0]
    with pytest.raises(PlatformRejected) as early:
        await connector.set_status(report.id, "paid")
    assert early.value.problem().status == 409
    assert "posted" in early.value.detail
    assert "{" not in early.value.detail
    posted = await connector.set_status(report.id, "posted", erp_document="5100004242")
    again = await connector.set_status(report.id, "posted", erp_document="5100004242")
    assert posted.status == again.status == "posted"
    assert posted.erp_document_number == "5100004242"
    paid = await connector.set_status(report.id, "paid")
    assert paid.status == "paid"
    assert paid.paid_at is not None
    assert (await connector.set_status(report.id, "paid")).status == "paid"


async def test_employees_and_card_transactions(connector: ExpenseConnector) -> None:
    german = await connector.list_employees(company_code="DE01", limit=200)
    assert len(german.items) == 100
    assert {e.company_code for e in german.items} == {"DE01"}
    assert {e.currency for e in german.items} == {"EUR"}
    one = await connector.get_employee(german.items[0].id)
    assert one == german.items[0]
    with pytest.raises(PlatformRejected):
        await connector.get_employee("nobody@nowhere.example")
    loose = await connector.list_card_transactions(unassigned=True, limit=200)
    assert loose.items
    assert all(c.expense_entry_id is None for c in loose.items)
    theirs = await connector.list_card_transactions(employee_id=loose.items[0].employee_id, limit=200)
    assert {c.employee_id for c in theirs.items} == {loose.items[0].employee_id}


async def test_maintenance_is_platform_unavailable(app: Litestar, connector: ExpenseConnector) -> None:
    app.state.sandbox.set_faults(Faults(maintenance=True, retry_after_seconds=0))
    with pytest.raises(PlatformUnavailable) as down:
        await connector.list_reports(limit=1)
    assert down.value.problem().status == 503
    app.state.sandbox.set_faults(Faults())
    assert (await connector.list_reports(limit=1)).items


async def test_wrong_credentials_are_our_problem_not_the_callers(app: Litestar) -> None:
    connector = ExpenseConnector(config(client_secret="wrong"), transport=httpx.ASGITransport(app=app))
    try:
        with pytest.raises(PlatformRejected) as refused:
            await connector.list_reports(limit=1)
        assert refused.value.problem().status == 502
    finally:
        await connector.aclose()


def platform_answering(body: bytes) -> httpx.MockTransport:
    """A platform that issues tokens but answers every API call with ``body``."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/v0/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>gateway error</html>",
        b'{"Items": [{"ID": 7}]}',
        b'{"Items": [{"ID": "R1", "Name": "x", "Total": 1.005, "CurrencyCode": "USD", "OwnerLoginID": "a",'
        b' "ApprovalStatusCode": "A_APPR", "PaymentStatusCode": "P_NOTP", "OrgUnit1": {"Code": "US01"}}]}',
        b'{"Items": [{"ID": "R1", "Name": "x", "Total": 1, "CurrencyCode": "USD", "OwnerLoginID": "a",'
        b' "ApprovalStatusCode": "A_APPR", "PaymentStatusCode": "P_NOTP"}]}',
        b'{"Items": [], "NextPage": "https://concur.example/api/v3.0/expense/reports?limit=25"}',
    ],
    ids=["not-json", "wrong-type", "too-many-decimals", "no-company-code", "next-page-without-offset"],
)
async def test_malformed_answers_become_502(body: bytes) -> None:
    connector = ExpenseConnector(config(), transport=platform_answering(body))
    try:
        with pytest.raises(MalformedAnswer) as bad:
            await connector.list_reports(limit=5)
        assert bad.value.problem().status == 502
    finally:
        await connector.aclose()
