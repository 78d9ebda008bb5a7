"""Reversal and reclassification end to end (SQLite and PostgreSQL): real gateway, sandboxes and flows.

Each test first posts an approved expense report the way finance does (the expense-posting
process API, then the worker), then reverses it through ``/process/reversals/v1`` and looks
at the result where a user would: the reversal's outputs, the ERP system API and the ERP
sandbox's own OData view, and the trace of the transaction's correlation id.

An original that cannot be found is refused with a 404 problem (``original-not-found``)
before anything starts: the reversal is keyed by the original's instance, so without an
original there is nothing to key it on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx

from gateway.app import Gateway
from process_apis.flow.queues import act
from tests.support import Operator

API = "/process/reversals/v1"
POSTINGS = "/process/expense-posting/v1/postings"
EXPENSE = "/system/expense/v1"
ERP = "/system/erp/v1"
JOURNAL_ENTRIES = "/sandbox/erp/sap/opu/odata/sap/API_JOURNALENTRY_POST_SRV/A_JournalEntry"
PROBLEM = "https://finrail.dev/problems/"
Run = Callable[[], Awaitable[None]]


async def _approved_report(client: httpx.AsyncClient, operator: Operator, skip: int = 0) -> dict[str, Any]:
    """An approved DE01 report whose approval date is in an open period (June 2025 is closed)."""
    answer = await client.get(f"{EXPENSE}/reports", params={"status": "approved", "limit": 200},
                              headers=operator.headers)
    assert answer.status_code == 200, answer.text
    fitting = [r for r in answer.json()["items"] if r["company_code"] == "DE01"
               and r["approved_at"].startswith("2025-") and r["approved_at"][5:7] != "06"]
    assert len(fitting) > skip, "the seed has approved DE01 reports outside June 2025"
    return dict(fitting[skip])


async def _posted(client: httpx.AsyncClient, operator: Operator, run_flows: Run, skip: int = 0) -> dict[str, Any]:
    """An expense report posted as a journal entry through the expense-posting API: its completed posting."""
    report = await _approved_report(client, operator, skip)
    started = await client.post(POSTINGS, json={"report_id": report["id"], "mode": "journal"},
                                headers={**operator.headers, "Idempotency-Key": f"post-{report['id']}"})
    assert started.status_code == 202, started.text
    await run_flows()
    posting = (await client.get(f"{POSTINGS}/{started.json()['id']}", headers=operator.headers)).json()
    assert posting["status"] == "completed", (posting["step"], posting["detail"])
    return dict(posting)


async def _reverse(client: httpx.AsyncClient, operator: Operator, body: dict[str, Any], key: str) -> httpx.Response:
    return await client.post(f"{API}/reversals", json=body, headers={**operator.headers, "Idempotency-Key": key})


async def _reversal(client: httpx.AsyncClient, operator: Operator, instance_id: str) -> dict[str, Any]:
    answer = await client.get(f"{API}/reversals/{instance_id}", headers=operator.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _entry(client: httpx.AsyncClient, operator: Operator, entry_id: str) -> dict[str, Any]:
    answer = await client.get(f"{ERP}/journal-entries/{entry_id}", headers=operator.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _sandbox_entries(client: httpx.AsyncClient, report_id: str) -> list[dict[str, Any]]:
    """The ERP sandbox's own view: journal entries carrying the report as their reference."""
    answer = await client.get(JOURNAL_ENTRIES, params={"$filter": f"OriginalReferenceDocument eq '{report_id}'",
                                                       "$format": "json"}, auth=("finrail", "sandbox"))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["d"]["results"])


def _total(entry: dict[str, Any], side: str) -> Decimal:
    return sum((Decimal(line["amount"]["amount"]) for line in entry["lines"] if line["side"] == side), Decimal(0))


async def test_a_posted_report_is_reversed_by_its_correlation_id_once_and_traced_with_its_posting(
    flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
) -> None:
    posting = await _posted(flows_client, flows_operator, run_flows)
    original_id = posting["outputs"]["post-document"]["journal_entry_id"]
    report_id = posting["outputs"]["load-report"]["report_id"]
    correlation_id = posting["correlation_id"]

    started = await _reverse(flows_client, flows_operator,
                             {"correlation_id": correlation_id, "reason_text": "posted to the wrong period"}, "rev-1")
    assert started.status_code == 202, started.text
    reversal_id = started.json()["id"]
    assert started.headers["location"] == f"{API}/reversals/{reversal_id}"
    assert (started.json()["key"], started.json()["correlation_id"]) == (posting["id"], correlation_id)
    await run_flows()

    reversal = await _reversal(flows_client, flows_operator, reversal_id)
    assert reversal["status"] == "completed", (reversal["step"], reversal["detail"])
    recorded = reversal["outputs"]["record"]
    assert recorded["original_document"] == original_id
    assert recorded["corrected_document"] is None
    assert recorded["reason_text"] == "posted to the wrong period"
    assert reversal["outputs"]["post-corrected"]["skipped"]

    original = await _entry(flows_client, flows_operator, original_id)
    mirror = await _entry(flows_client, flows_operator, recorded["reversal_document"])
    assert (original["status"], original["reversed_by"]) == ("reversed", mirror["id"])
    assert mirror["reversal_of"] == original_id
    assert _total(mirror, "debit") == _total(original, "credit") > 0
    sandbox = await _sandbox_entries(flows_client, report_id)
    assert sorted((doc["IsReversed"], doc["IsReversal"]) for doc in sandbox) == [(False, True), (True, False)]

    # A second request (by instance id this time) answers the same reversal and creates nothing.
    again = await _reverse(flows_client, flows_operator,
                           {"instance_id": posting["id"], "reason_text": "again",
                            "reclassify": {"lines": [{"cost_center": "X", "share": "1"}]}}, "rev-2")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == reversal_id
    await run_flows()
    assert len(await _sandbox_entries(flows_client, report_id)) == 2
    listed = await flows_client.get(f"{API}/reversals", params={"original_instance_id": posting["id"]},
                                    headers=flows_operator.headers)
    assert [item["id"] for item in listed.json()["items"]] == [reversal_id]

    # One trace shows the posting and its reversal, with the ERP calls of both.
    trace = await flows_client.get(f"/process/flows/v1/traces/{correlation_id}", headers=flows_operator.headers)
    assert trace.status_code == 200, trace.text
    assert {item["id"] for item in trace.json()["instances"]} == {posting["id"], reversal_id}
    what = [item["what"] for item in trace.json()["items"]]
    assert "expense-posting step-completed post-document" in what
    assert "reversal step-completed reverse" in what
    assert what.index("expense-posting completed") < what.index("reversal started")
    assert "POST /system/erp/v1/journal-entries" in what
    assert f"POST /system/erp/v1/journal-entries/{original_id}/reverse" in what


async def test_a_reclassification_reverses_and_posts_the_same_amounts_on_another_cost_center(
    flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
) -> None:
    posting = await _posted(flows_client, flows_operator, run_flows, skip=1)
    debits = posting["outputs"]["code-lines"]["debits"]
    report_id = posting["outputs"]["load-report"]["report_id"]
    centers = (await flows_client.get(f"{ERP}/cost-centers", params={"company_code": "DE01", "limit": 200},
                                      headers=flows_operator.headers)).json()["items"]
    target = next(c["code"] for c in centers
                  if c["active"] and c["code"] not in {line["cost_center"] for line in debits})

    lines = [{"gl_account": line["gl_account"], "cost_center": target, "amount": line["amount"]} for line in debits]
    started = await _reverse(flows_client, flows_operator,
                             {"correlation_id": posting["correlation_id"], "reason_text": "wrong cost center",
                              "reclassify": {"lines": lines}}, "reclass-1")
    assert started.status_code == 202, started.text
    await run_flows()

    reversal = await _reversal(flows_client, flows_operator, started.json()["id"])
    assert reversal["status"] == "completed", (reversal["step"], reversal["detail"])
    recorded = reversal["outputs"]["record"]
    original = await _entry(flows_client, flows_operator, recorded["original_document"])
    corrected = await _entry(flows_client, flows_operator, recorded["corrected_document"])
    assert original["status"] == "reversed"
    assert corrected["status"] == "posted"
    assert _total(corrected, "debit") == _total(corrected, "credit") == _total(original, "debit") > 0
    assert {line["cost_center"] for line in corrected["lines"] if line["side"] == "debit"} == {target}
    assert sorted(line["gl_account"] for line in corrected["lines"] if line["side"] == "credit") == sorted(
        line["gl_account"] for line in original["lines"] if line["side"] == "credit")
    assert corrected["posting_date"] == original["posting_date"]
    assert len(await _sandbox_entries(flows_client, report_id)) == 3  # original, reversal, correction


async def test_what_cannot_be_reversed_is_refused_before_anything_starts(
    flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
) -> None:
    posting = await _posted(flows_client, flows_operator, run_flows)
    total = sum(Decimal(line["amount"]) for line in posting["outputs"]["code-lines"]["debits"])
    gl = posting["outputs"]["code-lines"]["debits"][0]["gl_account"]

    unknown = await _reverse(flows_client, flows_operator, {"correlation_id": "never-seen", "reason_text": "x"}, "u-1")
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["type"] == PROBLEM + "original-not-found"
    no_instance = await _reverse(flows_client, flows_operator, {"instance_id": "0" * 32, "reason_text": "x"}, "u-2")
    assert no_instance.status_code == 404, no_instance.text

    short = [{"gl_account": gl, "cost_center": "DE1000", "amount": str(total - Decimal("0.01"))}]
    unbalanced = await _reverse(flows_client, flows_operator,
                                {"correlation_id": posting["correlation_id"], "reason_text": "x",
                                 "reclassify": {"lines": short}}, "u-3")
    assert unbalanced.status_code == 422, unbalanced.text
    assert unbalanced.json()["type"] == PROBLEM + "unbalanced-reclassification"
    assert str(total) in unbalanced.json()["detail"]
    halves = await _reverse(flows_client, flows_operator,
                            {"instance_id": posting["id"], "reason_text": "x",
                             "reclassify": {"lines": [{"cost_center": "DE1000", "share": "0.5"}]}}, "u-4")
    assert halves.status_code == 422, halves.text
    neither = await _reverse(flows_client, flows_operator, {"reason_text": "x"}, "u-5")
    assert neither.status_code == 422, neither.text
    unknown_field = await _reverse(flows_client, flows_operator,
                                   {"instance_id": posting["id"], "reason_text": "x", "amount": 1}, "u-6")
    assert unknown_field.status_code == 400, unknown_field.text

    listed = await flows_client.get(f"{API}/reversals", headers=flows_operator.headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == []
    missing = await flows_client.get(f"{API}/reversals/{'0' * 32}", headers=flows_operator.headers)
    assert missing.status_code == 404
    foreign = await flows_client.get(f"{API}/reversals", params={"cursor": "abc.AAAAAAAAAAAAAAAA"},
                                     headers=flows_operator.headers)
    assert foreign.status_code in (400, 422)


async def test_a_document_the_erp_shows_reversed_already_stops_until_a_person_takes_that_reversal(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
) -> None:
    posting = await _posted(flows_client, flows_operator, run_flows)
    original_id = posting["outputs"]["post-document"]["journal_entry_id"]
    direct = await flows_client.post(f"{ERP}/journal-entries/{original_id}/reverse",
                                     headers={**flows_operator.headers, "Idempotency-Key": "by-hand"})
    assert direct.status_code == 201, direct.text

    started = await _reverse(flows_client, flows_operator,
                             {"instance_id": posting["id"], "reason_text": "duplicate"}, "dup-1")
    assert started.status_code == 202, started.text
    await run_flows()
    reversal = await _reversal(flows_client, flows_operator, started.json()["id"])
    assert (reversal["status"], reversal["reason"], reversal["step"]) == (
        "exception", "already-reversed", "locate-original"), reversal
    assert direct.json()["id"] in reversal["detail"]
    queue = await flows_client.get(f"{API}/reversals", params={"status": "exception", "reason": "already-reversed"},
                                   headers=flows_operator.headers)
    assert [item["id"] for item in queue.json()["items"]] == [started.json()["id"]]

    await act(flows_gateway.runtime.engine, started.json()["id"], "resolve", actor="controller",
              decision="use-existing-reversal")
    await run_flows()
    reversal = await _reversal(flows_client, flows_operator, started.json()["id"])
    assert reversal["status"] == "completed", reversal
    assert reversal["outputs"]["record"]["reversal_document"] == direct.json()["id"]
    report_id = posting["outputs"]["load-report"]["report_id"]
    assert len(await _sandbox_entries(flows_client, report_id)) == 2


async def test_a_posting_that_has_not_posted_yet_stops_as_not_posted(
    flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
) -> None:
    answer = await flows_client.get(f"{EXPENSE}/reports", params={"status": "approved", "limit": 200},
                                    headers=flows_operator.headers)
    june = next(r for r in answer.json()["items"]
                if r["company_code"] == "DE01" and r["approved_at"].startswith("2025-06"))
    started = await flows_client.post(POSTINGS, json={"report_id": june["id"]},
                                      headers={**flows_operator.headers, "Idempotency-Key": "june-1"})
    await run_flows()  # stops in the exception queue: DE01's June 2025 is closed
    reversal = await _reverse(flows_client, flows_operator,
                              {"instance_id": started.json()["id"], "reason_text": "x"}, "june-rev")
    assert reversal.status_code == 202, reversal.text
    await run_flows()
    stopped = await _reversal(flows_client, flows_operator, reversal.json()["id"])
    assert (stopped["status"], stopped["reason"]) == ("exception", "original-not-posted"), stopped
    assert stopped["attempts"] == 0


async def test_an_ap_mode_report_is_cancelled_in_the_erp_and_reclassified_by_shares(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: Run,
) -> None:
    answer = await flows_client.get(f"{EXPENSE}/reports", params={"status": "approved", "limit": 200},
                                    headers=flows_operator.headers)
    report: dict[str, Any] = {}
    for candidate in answer.json()["items"]:
        if candidate["company_code"] != "DE01" or not candidate["approved_at"].startswith("2025-0"):
            continue
        detail = await flows_client.get(f"{EXPENSE}/reports/{candidate['id']}", headers=flows_operator.headers)
        if candidate["approved_at"][5:7] != "06" and any(e["payment_type"] == "cash" for e in detail.json()["entries"]):
            report = candidate
            break
    assert report, "the seed has an approved DE01 report with expenses the employee paid"
    employee = (await flows_client.get(f"{EXPENSE}/employees/{report['employee_id']}",
                                       headers=flows_operator.headers)).json()
    name = f"{employee['first_name']} {employee['last_name']}"
    vendor = await flows_client.post(
        f"{ERP}/suppliers", params={"company_code": "DE01"},
        json={"name": name, "country": "DE", "bank_accounts": [{"holder": name, "iban": "DE02120300000000202051"}]},
        headers={**flows_operator.headers, "Idempotency-Key": "vendor-1"})
    assert vendor.status_code == 201, vendor.text
    started = await flows_client.post(POSTINGS, json={"report_id": report["id"], "mode": "ap"},
                                      headers={**flows_operator.headers, "Idempotency-Key": "ap-post"})
    await run_flows()
    posting = (await flows_client.get(f"{POSTINGS}/{started.json()['id']}", headers=flows_operator.headers)).json()
    assert posting["status"] == "completed", (posting["step"], posting["detail"])
    invoice_id = posting["outputs"]["post-document"]["supplier_invoice_id"]
    debits = posting["outputs"]["code-lines"]["debits"]
    centers = (await flows_client.get(f"{ERP}/cost-centers", params={"company_code": "DE01", "limit": 200},
                                      headers=flows_operator.headers)).json()["items"]
    target = next(c["code"] for c in centers if c["active"] and c["code"] not in {d["cost_center"] for d in debits})
    gl = debits[0]["gl_account"]

    reversal = await _reverse(flows_client, flows_operator, {
        "correlation_id": posting["correlation_id"], "reason_text": "split between two cost centers",
        "reclassify": {"lines": [{"gl_account": gl, "cost_center": target, "share": "0.3"},
                                 {"gl_account": gl, "cost_center": debits[0]["cost_center"], "share": "0.7"}]},
    }, "ap-rev")
    assert reversal.status_code == 202, reversal.text
    await run_flows()
    done = await _reversal(flows_client, flows_operator, reversal.json()["id"])
    assert done["status"] == "completed", (done["step"], done["detail"])
    recorded = done["outputs"]["record"]
    assert recorded["original_document"] == invoice_id
    invoice = (await flows_client.get(f"{ERP}/supplier-invoices/{invoice_id}", headers=flows_operator.headers)).json()
    assert invoice["status"] == "cancelled"
    corrected = await _entry(flows_client, flows_operator, recorded["corrected_document"])
    total = sum((Decimal(line["amount"]) for line in debits), Decimal(0))
    assert _total(corrected, "debit") == _total(corrected, "credit") == total
    by_center = {line["cost_center"]: Decimal(line["amount"]["amount"])
                 for line in corrected["lines"] if line["side"] == "debit"}
    assert set(by_center) == {target, debits[0]["cost_center"]}
    assert abs(by_center[target] - total * Decimal("0.3")) <= Decimal("0.01")
