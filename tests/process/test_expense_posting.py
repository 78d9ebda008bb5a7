"""Expense posting end to end (SQLite and PostgreSQL): real gateway, real sandboxes, real flows.

Approved reports come from the expense sandbox's seed (about 80 approved, not yet posted
reports across US01, DE01 and GB01); the ERP seed closes DE01's June 2025 and blocks or
expires a few cost centers (Human Resources US01, Finance GB01), which the exception tests use.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from gateway.app import Gateway
from gateway.settings import Settings, load_settings
from process_apis.expense_posting import mappings
from process_apis.expense_posting.flows import (
    FLOW,
    POLL_FLOW,
    POLL_WATERMARK,
    SCHEDULES,
    TRIGGERS,
    WINDOW_FLOW,
    approved_report,
    window_schedules,
)
from process_apis.flow.queues import act
from process_apis.flow.store import InstanceFilter
from process_apis.flow.worker import Worker
from tests.support import Operator

API = "/process/expense-posting/v1"
EXPENSE = "/system/expense/v1"
ERP = "/system/erp/v1"
JOURNAL_ENTRIES = "/sandbox/erp/sap/opu/odata/sap/API_JOURNALENTRY_POST_SRV/A_JournalEntry"
Run = Callable[[], Awaitable[None]]


@pytest.fixture
def flows_settings(database_url: str, tmp_path: Any) -> Settings:
    """The process fixtures' settings, with the ERP connector failing fast (no own retries, no breaker).

    The flow engine's retries are under test here, not the connector's; the engine waits a
    platform's ``Retry-After`` up to one second.
    """
    fail_fast = {"connection": {"retries": 0, "breaker_failures": 1000}}
    return load_settings(
        environ={},
        data_dir=str(tmp_path / "data"),
        storage={"url": database_url},
        throttling={"spike": "1000/second"},
        server={"embedded_worker": False},
        # No backoff of our own, but a platform's Retry-After (1 s in the outage test) is honoured.
        flows={"worker": {"backoff_base_seconds": 0.0, "backoff_cap_seconds": 1.0, "max_attempts": 3}},
        platforms={"erp": fail_fast},
    )


async def _approved(client: httpx.AsyncClient, operator: Operator) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"status": "approved", "limit": 200, **({"cursor": cursor} if cursor else {})}
        answer = await client.get(f"{EXPENSE}/reports", params=params, headers=operator.headers)
        assert answer.status_code == 200, answer.text
        reports.extend(answer.json()["items"])
        cursor = answer.json()["next_cursor"]
        if not cursor:
            return reports


async def _report(client: httpx.AsyncClient, operator: Operator, *, company: str,
                  approved: Callable[[dt.date], bool] = lambda day: day.year == 2025 and day.month != 6,
                  cost_center: str | None = None) -> dict[str, Any]:
    for report in await _approved(client, operator):
        day = dt.date.fromisoformat(report["approved_at"][:10])
        if report["company_code"] == company and approved(day) and cost_center in (None, report["cost_center"]):
            return report
    raise AssertionError(f"the seed has no approved {company} report like that")


async def _start(client: httpx.AsyncClient, operator: Operator, body: dict[str, Any], key: str) -> httpx.Response:
    return await client.post(f"{API}/postings", json=body, headers={**operator.headers, "Idempotency-Key": key})


async def _posting(client: httpx.AsyncClient, operator: Operator, instance_id: str) -> dict[str, Any]:
    answer = await client.get(f"{API}/postings/{instance_id}", headers=operator.headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def _journal_documents(client: httpx.AsyncClient, report_id: str) -> list[dict[str, Any]]:
    """The ERP sandbox's own view: journal entries carrying the report as their reference."""
    answer = await client.get(JOURNAL_ENTRIES, params={"$filter": f"OriginalReferenceDocument eq '{report_id}'",
                                                       "$format": "json"}, auth=("finrail", "sandbox"))
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["d"]["results"]
    return results


def _store(gateway: Gateway, platform: str) -> Any:
    return gateway.platforms.sandboxes[platform].app.state.sandbox.store


async def test_an_approved_report_is_posted_once_owed_in_treasury_and_marked_posted(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
) -> None:
    report = await _report(flows_client, flows_operator, company="DE01")
    first = await _start(flows_client, flows_operator, {"report_id": report["id"]}, "post-1")
    second = await _start(flows_client, flows_operator, {"report_id": report["id"], "mode": "journal"}, "post-2")
    assert first.status_code == 202, first.text
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]
    assert first.headers["location"] == f"{API}/postings/{first.json()['id']}"

    await run_flows()
    await run_flows()

    posting = await _posting(flows_client, flows_operator, first.json()["id"])
    assert posting["status"] == "completed", (posting["step"], posting["detail"])
    outputs = posting["outputs"]
    approved_on = dt.date.fromisoformat(report["approved_at"][:10])
    assert outputs["check-period"]["posting_date"] == approved_on.isoformat()
    expected_version = mappings.mapping_in_force(approved_on)
    assert expected_version is not None
    assert outputs["post-document"]["mapping_version"] == expected_version.version
    assert outputs["code-lines"]["mapping_version"] == expected_version.version

    entry_id = outputs["post-document"]["document_id"]
    entry = (await flows_client.get(f"{ERP}/journal-entries/{entry_id}", headers=flows_operator.headers)).json()
    debits = sum(Decimal(line["amount"]["amount"]) for line in entry["lines"] if line["side"] == "debit")
    credits = sum(Decimal(line["amount"]["amount"]) for line in entry["lines"] if line["side"] == "credit")
    posted = sum(Decimal(line["amount"]) for line in outputs["code-lines"]["debits"])
    assert debits == credits == posted > 0
    assert entry["company_code"] == "DE01"
    assert {line["cost_center"] for line in entry["lines"] if line["side"] == "debit"} <= set(
        mappings.MAPPING_SETS[0].entities["DE01"].cost_centers.values())
    assert len(await _journal_documents(flows_client, report["id"])) == 1

    obligation_id = outputs["payment-obligation"].get("obligation_id")
    if obligation_id is not None:
        obligation = (await flows_client.get(f"/system/treasury/v1/payment-obligations/{obligation_id}",
                                             headers=flows_operator.headers)).json()
        assert obligation["amount"]["amount"] == outputs["code-lines"]["due_to_employee"]
        assert obligation["company_code"] == "DE01"
        assert obligation["source_document"] == entry_id

    after = (await flows_client.get(f"{EXPENSE}/reports/{report['id']}", headers=flows_operator.headers)).json()
    assert after["status"] == "posted"
    assert after["erp_document_number"] == entry_id

    # Replaying the finished posting posts nothing again: the report is posted now.
    await act(flows_gateway.runtime.engine, first.json()["id"], "replay", actor="test")
    await run_flows()
    replayed = await _posting(flows_client, flows_operator, first.json()["id"])
    assert (replayed["status"], replayed["reason"]) == ("exception", "already-posted")
    assert len(await _journal_documents(flows_client, report["id"])) == 1

    listed = await flows_client.get(f"{API}/postings", params={"report_id": report["id"]},
                                    headers=flows_operator.headers)
    assert [item["id"] for item in listed.json()["items"]] == [first.json()["id"]]


async def test_a_closed_period_stops_in_the_exception_queue_and_a_resolution_posts_today(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
) -> None:
    report = await _report(flows_client, flows_operator, company="DE01",
                           approved=lambda day: (day.year, day.month) == (2025, 6))
    started = await _start(flows_client, flows_operator, {"report_id": report["id"]}, "closed-1")
    await run_flows()

    posting = await _posting(flows_client, flows_operator, started.json()["id"])
    assert (posting["status"], posting["reason"], posting["step"]) == ("exception", "period-closed", "check-period")
    queue = await flows_client.get(f"{API}/postings", params={"status": "exception", "reason": "period-closed"},
                                   headers=flows_operator.headers)
    assert [item["id"] for item in queue.json()["items"]] == [started.json()["id"]]
    assert await _journal_documents(flows_client, report["id"]) == []

    await act(flows_gateway.runtime.engine, started.json()["id"], "resolve", actor="controller",
              decision="post-in-current-period")
    await run_flows()
    posting = await _posting(flows_client, flows_operator, started.json()["id"])
    assert posting["status"] == "completed", posting
    assert posting["outputs"]["check-period"]["posting_date"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert len(await _journal_documents(flows_client, report["id"])) == 1


async def test_an_inactive_cost_center_is_a_business_exception_never_retried(
    flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
) -> None:
    # Human Resources US01 (ERP cost center 10510101) is blocked in the ERP seed.
    report = await _report(flows_client, flows_operator, company="US01", approved=lambda day: True,
                           cost_center="US5000")
    started = await _start(flows_client, flows_operator,
                           {"report_id": report["id"], "posting_date": dt.date.today().isoformat()}, "cc-1")
    await run_flows()
    posting = await _posting(flows_client, flows_operator, started.json()["id"])
    assert (posting["status"], posting["reason"]) == ("exception", "inactive-cost-center"), posting
    assert posting["attempts"] == 0
    assert "10510101" in posting["detail"]


async def test_an_unknown_gl_coding_stops_and_a_retry_after_the_mapping_is_fixed_continues(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = await _report(flows_client, flows_operator, company="GB01", cost_center="GB2000")
    detail = (await flows_client.get(f"{EXPENSE}/reports/{report['id']}", headers=flows_operator.headers)).json()
    missing = detail["entries"][0]["expense_type"]
    current = mappings.MAPPING_SETS[-1]
    rules = current.entities["GB01"]
    broken = mappings.EntityMapping(
        gl_accounts={k: v for k, v in rules.gl_accounts.items() if k != missing}, cost_centers=rules.cost_centers,
        employee_payable=rules.employee_payable, card_clearing=rules.card_clearing,
        reimbursement_account=rules.reimbursement_account)
    draft = mappings.MappingSet(version="draft", effective_from=dt.date(2020, 1, 1),
                                entities={**current.entities, "GB01": broken})
    monkeypatch.setattr(mappings, "MAPPING_SETS", (draft,))

    started = await _start(flows_client, flows_operator,
                           {"report_id": report["id"], "posting_date": dt.date.today().isoformat()}, "gl-1")
    await run_flows()
    posting = await _posting(flows_client, flows_operator, started.json()["id"])
    assert (posting["status"], posting["reason"]) == ("exception", "unknown-gl-coding"), posting
    assert missing in posting["detail"]

    monkeypatch.undo()
    await act(flows_gateway.runtime.engine, started.json()["id"], "retry", actor="controller",
              note="mapping set fixed")
    await run_flows()
    posting = await _posting(flows_client, flows_operator, started.json()["id"])
    assert posting["status"] == "completed", posting
    assert posting["outputs"]["post-document"]["mapping_version"] == current.version


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("CurrencyCode", "USD", "currency-mismatch"),
    ("OrgUnit1", {"Type": "List", "Value": "FR01", "Code": "FR01"}, "unknown-entity"),
])
async def test_a_report_the_erp_cannot_take_stops_with_its_reason(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
    field: str, value: Any, reason: str,
) -> None:
    report = await _report(flows_client, flows_operator, company="DE01")
    store = _store(flows_gateway, "expense")
    doc = store.get("reports", report["id"])
    assert field in doc
    store.put("reports", report["id"], {**doc, field: value})  # not in the seed: made for this test

    started = await _start(flows_client, flows_operator, {"report_id": report["id"]}, f"{reason}-1")
    await run_flows()
    posting = await _posting(flows_client, flows_operator, started.json()["id"])
    assert (posting["status"], posting["reason"], posting["step"]) == ("exception", reason, "check-entity"), posting
    assert await _journal_documents(flows_client, report["id"]) == []


async def test_an_erp_outage_is_retried_and_the_posting_completes_once_the_erp_is_back(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
) -> None:
    report = await _report(flows_client, flows_operator, company="DE01")
    down = await flows_client.put("/sandbox/erp/_sandbox/faults", json={"maintenance": True, "retry_after_seconds": 1})
    assert down.status_code == 200, down.text
    started = await _start(flows_client, flows_operator, {"report_id": report["id"]}, "outage-1")
    await run_flows()

    posting = await _posting(flows_client, flows_operator, started.json()["id"])
    assert posting["status"] == "active", (posting["detail"], posting["attempts"])
    assert posting["attempts"] >= 1
    assert posting["step"] == "check-entity"
    timeline = (await flows_client.get(f"{API}/postings/{started.json()['id']}/timeline",
                                       headers=flows_operator.headers)).json()
    assert "retry-scheduled" in [entry["kind"] for entry in timeline]

    assert (await flows_client.put("/sandbox/erp/_sandbox/faults", json={})).status_code == 200
    due = dt.datetime.fromisoformat(posting["due_at"])
    await asyncio.sleep(max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds()) + 0.05)
    await run_flows()
    posting = await _posting(flows_client, flows_operator, started.json()["id"])
    assert posting["status"] == "completed", posting
    assert len(await _journal_documents(flows_client, report["id"])) == 1


async def test_a_posting_window_starts_one_posting_per_approved_report_of_its_entity(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator,
) -> None:
    # By default every entity posts in real time and has no window; DE01 batches here.
    assert window_schedules(mappings.POSTING_POLICY) == ()
    assert [schedule.flow for schedule in SCHEDULES] == [POLL_FLOW]
    policy = {**mappings.POSTING_POLICY, "DE01": mappings.EntityPolicy(posting_windows=True)}
    schedules = window_schedules(policy)
    assert [(s.name, s.flow, s.input) for s in schedules] == [
        ("expense-posting-window-DE01", WINDOW_FLOW, {"company_code": "DE01"})]
    expected = sorted(r["id"] for r in await _approved(flows_client, flows_operator) if r["company_code"] == "DE01")
    assert expected

    engine = flows_gateway.runtime.engine
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mappings, "POSTING_POLICY", policy)
        assert await engine.store.start_due(schedules) == 1
        assert await engine.store.start_due(schedules) == 0  # the window starts once
        worker = Worker(engine, flows_gateway.runtime.system, name="window-test")
        await worker.tick()  # runs the window
    await engine.store.dispatch_outbox()

    (window,) = await engine.store.instances(InstanceFilter(flow=WINDOW_FLOW), limit=10)
    assert window.status == "completed"
    assert window.state["select-reports"]["started"] == len(expected)
    postings = await engine.store.instances(InstanceFilter(flow=FLOW), limit=500)
    assert sorted(p.key for p in postings) == expected
    assert all(p.correlation_id == window.correlation_id for p in postings)


async def test_the_poll_starts_postings_for_approvals_since_its_watermark_and_moves_it(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator,
) -> None:
    approved = sorted(await _approved(flows_client, flows_operator), key=lambda r: r["approved_at"])
    since = approved[-3]["approved_at"]
    expected = sorted(r["id"] for r in approved if r["approved_at"] >= since)
    engine = flows_gateway.runtime.engine
    await engine.store.set_watermark(POLL_WATERMARK, since)
    worker = Worker(engine, flows_gateway.runtime.system, name="poll-test")

    first, _ = await engine.store.start(POLL_FLOW, "poll-1", {})
    await worker.tick()
    await engine.store.dispatch_outbox()

    done = await engine.store.get(first.id)
    assert done is not None
    assert done.status == "completed"
    postings = await engine.store.instances(InstanceFilter(flow=FLOW), limit=500)
    assert sorted(p.key for p in postings) == expected
    newest = max(dt.datetime.fromisoformat(r["approved_at"]) for r in approved)
    assert dt.datetime.fromisoformat(await engine.store.watermark(POLL_WATERMARK) or "") == newest

    await engine.store.start(POLL_FLOW, "poll-2", {})  # nothing new: no second posting of anything
    await worker.tick()
    await engine.store.dispatch_outbox()
    again = await engine.store.instances(InstanceFilter(flow=FLOW), limit=500)
    assert sorted(p.key for p in again) == expected


async def test_the_approval_event_starts_the_posting_of_the_report_it_names(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
) -> None:
    report = await _report(flows_client, flows_operator, company="DE01")
    facts: dict[str, Any] = {
        "reportId": report["id"], "previousApprovalStatus": "A_PEND", "currentApprovalStatus": "A_APPR",
        "previousPaymentStatus": "P_NOTP", "currentPaymentStatus": "P_NOTP",
        "companyId": "685fa226-b72d-47f9-b9ad-e621de12d094",
    }
    event: dict[str, Any] = {  # the expense sandbox's v4 statusChanged event, as its webhook carries it
        "id": "5c1c0a70-0000-4000-8000-000000000001", "eventType": "statusChanged",
        "topic": "public.concur.expense.report", "subtopic": "685fa226-b72d-47f9-b9ad-e621de12d094",
        "facts": facts,
    }
    (trigger,) = TRIGGERS
    assert (trigger.platform, trigger.event, trigger.flow) == ("expense", "statusChanged", FLOW)
    assert approved_report(event) == report["id"]
    posted_event = {**event, "facts": {**facts, "previousApprovalStatus": "A_APPR", "currentPaymentStatus": "P_PROC"}}
    assert approved_report(posted_event) is None
    assert approved_report({"facts": {"reportId": "../x", "currentApprovalStatus": "A_APPR"}}) is None

    key = trigger.key(event)
    assert key is not None
    instance, _ = await flows_gateway.runtime.engine.store.start(FLOW, key, trigger.input(event))
    await run_flows()
    posting = await _posting(flows_client, flows_operator, instance.id)
    assert posting["status"] == "completed", posting


async def test_the_api_refuses_what_it_cannot_take(
    flows_client: httpx.AsyncClient, flows_operator: Operator,
) -> None:
    no_key = await flows_client.post(f"{API}/postings", json={"report_id": "ABC"}, headers=flows_operator.headers)
    assert no_key.status_code == 400
    unknown_field = await _start(flows_client, flows_operator, {"report_id": "ABC", "amount": 1}, "bad-1")
    assert unknown_field.status_code == 400
    bad_mode = await _start(flows_client, flows_operator, {"report_id": "ABC", "mode": "cash"}, "bad-2")
    assert bad_mode.status_code == 400
    missing = await flows_client.get(f"{API}/postings/{'0' * 32}", headers=flows_operator.headers)
    assert missing.status_code == 404
    foreign = await flows_client.get(f"{API}/postings", params={"cursor": "abc.AAAAAAAAAAAAAAAA"},
                                     headers=flows_operator.headers)
    assert foreign.status_code in (400, 422)
    anonymous = await flows_client.get(f"{API}/postings")
    assert anonymous.status_code == 401
    document = await flows_client.get(f"{API}/openapi.json")
    assert document.status_code == 200, document.text
    assert {"/postings", "/postings/{instance_id}"} <= {p.removeprefix(API) for p in document.json()["paths"]}


async def test_in_ap_mode_the_report_becomes_a_posted_invoice_to_the_employees_vendor_account(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
) -> None:
    report = {}
    for candidate in await _approved(flows_client, flows_operator):
        if candidate["company_code"] != "DE01" or not candidate["approved_at"].startswith("2025-0"):
            continue
        detail = (await flows_client.get(f"{EXPENSE}/reports/{candidate['id']}", headers=flows_operator.headers))
        if candidate["approved_at"][5:7] != "06" and any(e["payment_type"] == "cash" for e in detail.json()["entries"]):
            report = candidate
            break
    assert report, "the seed has an approved DE01 report with expenses the employee paid"
    employee = (await flows_client.get(f"{EXPENSE}/employees/{report['employee_id']}",
                                       headers=flows_operator.headers)).json()
    name = f"{employee['first_name']} {employee['last_name']}"

    started = await _start(flows_client, flows_operator, {"report_id": report["id"], "mode": "ap"}, "ap-1")
    await run_flows()
    posting = await _posting(flows_client, flows_operator, started.json()["id"])
    assert (posting["status"], posting["reason"]) == ("exception", "unknown-employee-supplier"), posting

    vendor = await flows_client.post(
        f"{ERP}/suppliers", params={"company_code": "DE01"},
        json={"name": name, "country": "DE",
              "bank_accounts": [{"holder": name, "iban": "DE02120300000000202051"}]},
        headers={**flows_operator.headers, "Idempotency-Key": "vendor-1"})
    assert vendor.status_code == 201, vendor.text
    await act(flows_gateway.runtime.engine, started.json()["id"], "retry", actor="controller",
              note="employee set up as a vendor")
    await run_flows()
    posting = await _posting(flows_client, flows_operator, started.json()["id"])
    assert posting["status"] == "completed", (posting["step"], posting["detail"])
    posted = posting["outputs"]["post-document"]
    assert posted["mode"] == "ap"
    assert posted["supplier_id"] == vendor.json()["id"]
    due = Decimal(posting["outputs"]["code-lines"]["due_to_employee"])
    invoice = (await flows_client.get(f"{ERP}/supplier-invoices/{posted['supplier_invoice_id']}",
                                      headers=flows_operator.headers)).json()
    assert Decimal(invoice["gross_amount"]["amount"]) == due > 0
    assert invoice["status"] == "posted"
    obligation_id = posting["outputs"]["payment-obligation"]["obligation_id"]
    obligation = (await flows_client.get(f"/system/treasury/v1/payment-obligations/{obligation_id}",
                                         headers=flows_operator.headers)).json()
    assert obligation["payee_bank_account"]["iban"] == "DE02120300000000202051"
    assert obligation["supplier_id"] == vendor.json()["id"]
    after = (await flows_client.get(f"{EXPENSE}/reports/{report['id']}", headers=flows_operator.headers)).json()
    assert (after["status"], after["erp_document_number"]) == ("posted", posted["document_id"])
