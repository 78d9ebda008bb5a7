"""Payment status sync end to end: treasury sandbox -> flow -> ERP, expense and procurement sandboxes.

Each test owes something in treasury through the treasury system API (an obligation naming
what it pays for), puts it in a payment run, releases the run and has the bank answer it in
the treasury sandbox's own API. The sync is then started the way production starts it (the
sandbox's event, signed with the platform secret) or through the process API. What is
checked is what a person would look at: the ERP's payments (through the ERP system API),
the expense report's status, the procurement invoice's status and payment fields, and the
sync as the process API shows it, with its reason code while it waits.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
from standardwebhooks import Webhook

from gateway.app import Gateway
from process_apis.flow.queues import act
from tests.support import Operator

API = "/process/payments/v1"
TREASURY = "/sandbox/treasury/gateway"
RunFlows = Callable[[], Awaitable[None]]

ERP_SUPPLIER = "1000000"
"""An ERP supplier of DE01 in the seed, with a German IBAN."""
ERP_SUPPLIER_IBAN = "DE30500105170029283276"


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def _posted_report(http: httpx.AsyncClient, operator: Operator) -> tuple[str, Decimal]:
    """A posted DE01 expense report of the seed with employee-paid entries, and what they add up to."""
    page = await http.get("/system/expense/v1/reports", params={"status": "posted", "limit": 50},
                          headers=operator.headers)
    assert page.status_code == 200, page.text
    for item in page.json()["items"]:
        if item["company_code"] != "DE01":
            continue
        report = (await http.get(f"/system/expense/v1/reports/{item['id']}", headers=operator.headers)).json()
        cash = [Decimal(e["posted_amount"]["amount"]) for e in report["entries"] if e["payment_type"] == "cash"]
        if cash:
            return str(report["id"]), sum(cash, Decimal(0))
    raise AssertionError("the expense seed has no posted DE01 report with cash entries")


async def _approved_invoice(http: httpx.AsyncClient, operator: Operator) -> dict[str, Any]:
    page = await http.get("/system/procurement/v1/invoices", params={"status": "approved", "limit": 50},
                          headers=operator.headers)
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert items, "the procurement seed has no approved invoice"
    return dict(items[0])


async def _owe(http: httpx.AsyncClient, operator: Operator, *, amount: Decimal | str, currency: str = "EUR",
               company: str = "DE01", source_document: str | None, reference: str | None = None,
               supplier: str | None = ERP_SUPPLIER) -> str:
    body: dict[str, Any] = {
        "company_code": company, "payee_name": "Granite Software GmbH",
        "amount": {"amount": str(amount), "currency": currency}, "due_date": date.today().isoformat(),
        "payee_bank_account": {"holder": "Granite Software GmbH", "iban": ERP_SUPPLIER_IBAN, "bic": "INGDDEFFXXX"},
        "supplier_id": supplier, "source_document": source_document, "reference": reference,
    }
    answer = await http.post("/system/treasury/v1/payment-obligations", json=body,
                             headers={**operator.headers, **_key()})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def _released_run(http: httpx.AsyncClient, operator: Operator, obligation_ids: list[str]) -> str:
    created = await http.post("/system/treasury/v1/payment-runs",
                              json={"obligation_ids": obligation_ids, "run_date": date.today().isoformat()},
                              headers={**operator.headers, **_key()})
    assert created.status_code == 201, created.text
    run_id = str(created.json()["id"])
    released = await http.post(f"/system/treasury/v1/payment-runs/{run_id}/release", headers={**operator.headers,
                                                                                              **_key()})
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "sent"
    return run_id


async def _bank_answers(http: httpx.AsyncClient, run_id: str, result: str = "ACCEPTED") -> dict[str, Any]:
    """The bank's confirmation (or rejection) of a released run, in the treasury sandbox."""
    token = await http.post(f"{TREASURY}/oauth/token", data={"grant_type": "client_credentials"},
                            auth=("finrail", "sandbox-secret"))
    assert token.status_code == 200, token.text
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    answer = await http.post(f"{TREASURY}/api/v1/bank-confirmations", json={"paymentRun": run_id, "result": result},
                             headers=auth)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def _deliver(gateway: Gateway, http: httpx.AsyncClient, event: str, confirmation: dict[str, Any],
                   obligation_id: str) -> httpx.Response:
    """The treasury platform's event for one payment of the run, signed, to Finrail."""
    data = {"confirmation": confirmation["uuid"], "paymentRun": confirmation["paymentRun"],
            "payment": {"uuid": obligation_id}}
    body = json.dumps({"type": event, "timestamp": datetime.now(UTC).isoformat(), "data": data}).encode()
    webhook_id = f"msg_{uuid.uuid4().hex}"
    signed_at = datetime.now(UTC)
    signature = Webhook(gateway.runtime.webhook_secrets["treasury"]).sign(webhook_id, signed_at, body.decode())
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(int(signed_at.timestamp())),
               "webhook-signature": signature, "content-type": "application/json"}
    return await http.post("/events/treasury", content=body, headers=headers)


async def _start(http: httpx.AsyncClient, operator: Operator, confirmation_id: str, run_id: str) -> httpx.Response:
    return await http.post(f"{API}/syncs", json={"confirmation_id": confirmation_id, "payment_run_id": run_id},
                           headers={**operator.headers, **_key()})


async def _erp_payments(http: httpx.AsyncClient, operator: Operator) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"supplier_id": ERP_SUPPLIER, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = await http.get("/system/erp/v1/payments", params=params, headers=operator.headers)
        assert page.status_code == 200, page.text
        found.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


async def _sync(http: httpx.AsyncClient, operator: Operator, confirmation_id: str) -> dict[str, Any]:
    answer = await http.get(f"{API}/syncs", params={"confirmation_id": confirmation_id}, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert len(items) == 1, items
    return dict(items[0])


async def test_a_confirmed_reimbursement_is_paid_once_in_the_erp_and_marked_paid_in_expense(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    report_id, due = await _posted_report(http, operator)
    obligation_id = await _owe(http, operator, amount=due, source_document=f"expense-report:{report_id}",
                               reference=f"Expense report {report_id}")
    run_id = await _released_run(http, operator, [obligation_id])
    before = await _erp_payments(http, operator)
    confirmation = await _bank_answers(http, run_id)

    event = await _deliver(flows_gateway, http, "payment.confirmed", confirmation, obligation_id)
    assert event.status_code == 202, event.text
    assert len(event.json()["instances"]) == 1
    first = await _start(http, operator, confirmation["uuid"], run_id)
    again = await _start(http, operator, confirmation["uuid"], run_id)
    assert first.status_code == again.status_code == 200, "the event started it already; the API answers it"
    assert first.json()["id"] == again.json()["id"] == event.json()["instances"][0]
    assert first.headers["location"] == f"{API}/syncs/{first.json()['id']}"

    await run_flows()

    done = (await http.get(first.headers["location"], headers=operator.headers)).json()
    assert done["status"] == "completed", (done["step"], done["reason"], done["detail"])
    applied = done["outputs"]["apply-erp-payments"]["payments"]
    assert [p["obligation_id"] for p in applied] == [obligation_id]
    new = [p for p in await _erp_payments(http, operator) if p not in before]
    assert [p["id"] for p in new] == [applied[0]["erp_payment_id"]]
    assert Decimal(new[0]["amount"]["amount"]) == due
    assert new[0]["value_date"] == date.today().isoformat()
    report = (await http.get(f"/system/expense/v1/reports/{report_id}", headers=operator.headers)).json()
    assert report["status"] == "paid"
    timeline = (await http.get(f"{first.headers['location']}/timeline", headers=operator.headers)).json()
    assert [e["step"] for e in timeline if e["kind"] == "step-completed"] == [
        "load-payments", "check-sources", "apply-erp-payments", "mark-paid"]

    # A second event of the same confirmation, or a replay, pays nothing more.
    repeat = await _deliver(flows_gateway, http, "payment.confirmed", confirmation, obligation_id)
    assert repeat.status_code == 202, repeat.text
    await act(flows_gateway.runtime.engine, done["id"], "replay", actor="test")
    await run_flows()
    assert (await _sync(http, operator, confirmation["uuid"]))["status"] == "completed"
    assert len([p for p in await _erp_payments(http, operator) if p not in before]) == 1


async def test_a_confirmed_supplier_invoice_is_paid_in_the_erp_and_in_procurement(
    flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    invoice = await _approved_invoice(http, operator)
    gross = invoice["gross_amount"]
    obligation_id = await _owe(http, operator, amount=gross["amount"], currency=gross["currency"],
                               company=invoice["company_code"], source_document=f"procurement-invoice:{invoice['id']}",
                               reference=invoice["invoice_number"])
    run_id = await _released_run(http, operator, [obligation_id])
    confirmation = await _bank_answers(http, run_id)

    first = await _start(http, operator, confirmation["uuid"], run_id)
    second = await _start(http, operator, confirmation["uuid"], run_id)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["status"] == "active"

    await run_flows()

    done = await _sync(http, operator, confirmation["uuid"])
    assert done["status"] == "completed", (done["step"], done["reason"], done["detail"])
    erp_payment = done["outputs"]["apply-erp-payments"]["payments"][0]["erp_payment_id"]
    assert [p["id"] for p in await _erp_payments(http, operator)].count(erp_payment) == 1
    paid = (await http.get(f"/system/procurement/v1/invoices/{invoice['id']}", headers=operator.headers)).json()
    assert paid["status"] == "paid"
    listed = await http.get("/system/procurement/v1/invoices", params={"status": "paid"}, headers=operator.headers)
    assert [i["id"] for i in listed.json()["items"]] == [invoice["id"]]
    token = await http.post("/sandbox/procurement/oauth2/access_tokens", data={
        "grant_type": "client_credentials", "client_id": "finrail", "client_secret": "sandbox-secret"})
    coupa = (await http.get(f"/sandbox/procurement/api/invoices/{invoice['id']}",
                            headers={"Authorization": f"Bearer {token.json()['access_token']}"})).json()
    assert coupa["paid"] is True
    assert coupa["payment-notes"] == erp_payment
    assert coupa["payment-date"].startswith(date.today().isoformat())
    assert [Decimal(p["amount-paid"]) for p in coupa["payments"]] == [Decimal(gross["amount"])]


async def test_a_rejected_confirmation_waits_as_payment_rejected_and_applies_nothing(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    report_id, due = await _posted_report(http, operator)
    obligation_id = await _owe(http, operator, amount=due, source_document=f"expense-report:{report_id}")
    run_id = await _released_run(http, operator, [obligation_id])
    before = await _erp_payments(http, operator)
    rejection = await _bank_answers(http, run_id, "REJECTED")

    event = await _deliver(flows_gateway, http, "payment.rejected", rejection, obligation_id)
    assert event.status_code == 202, event.text
    await run_flows()

    stopped = await _sync(http, operator, rejection["uuid"])
    assert (stopped["status"], stopped["reason"], stopped["step"]) == ("exception", "payment-rejected",
                                                                       "load-payments")
    assert run_id in stopped["detail"]
    assert "open again in treasury" in stopped["detail"]
    queue = await http.get(f"{API}/syncs", params={"status": "exception", "reason": "payment-rejected"},
                           headers=operator.headers)
    assert [item["key"] for item in queue.json()["items"]] == [rejection["uuid"]]
    assert await _erp_payments(http, operator) == before
    report = (await http.get(f"/system/expense/v1/reports/{report_id}", headers=operator.headers)).json()
    assert report["status"] == "posted"
    obligation = (await http.get(f"/system/treasury/v1/payment-obligations/{obligation_id}",
                                 headers=operator.headers)).json()
    assert obligation["status"] == "open"


async def test_an_amount_that_differs_from_the_report_waits_until_a_person_accepts_it(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    report_id, due = await _posted_report(http, operator)
    obligation_id = await _owe(http, operator, amount=due + Decimal("10.00"),
                               source_document=f"expense-report:{report_id}")
    run_id = await _released_run(http, operator, [obligation_id])
    before = await _erp_payments(http, operator)
    confirmation = await _bank_answers(http, run_id)
    assert (await _start(http, operator, confirmation["uuid"], run_id)).status_code == 202
    await run_flows()

    stopped = await _sync(http, operator, confirmation["uuid"])
    assert (stopped["status"], stopped["reason"], stopped["step"]) == ("exception", "amount-mismatch",
                                                                       "check-sources")
    assert f"owes {due:.2f} EUR" in stopped["detail"] or str(due) in stopped["detail"]
    assert await _erp_payments(http, operator) == before

    await act(flows_gateway.runtime.engine, stopped["id"], "resolve", actor="ana", decision="accept-amount",
              note="the employee was also paid a forgotten taxi receipt")
    await run_flows()
    done = await _sync(http, operator, confirmation["uuid"])
    assert done["status"] == "completed", (done["step"], done["reason"], done["detail"])
    assert len([p for p in await _erp_payments(http, operator) if p not in before]) == 1


async def test_an_obligation_that_does_not_say_what_it_pays_for_waits_as_unknown_source_document(
    flows_client: httpx.AsyncClient, flows_operator: Operator, run_flows: RunFlows,
) -> None:
    http, operator = flows_client, flows_operator
    vague = await _owe(http, operator, amount="99.00", source_document="5100000042-2026")
    run_id = await _released_run(http, operator, [vague])
    confirmation = await _bank_answers(http, run_id)
    assert (await _start(http, operator, confirmation["uuid"], run_id)).status_code == 202

    missing = await _owe(http, operator, amount="12.00", source_document="procurement-invoice:99999999")
    other_run = await _released_run(http, operator, [missing])
    other = await _bank_answers(http, other_run)
    assert (await _start(http, operator, other["uuid"], other_run)).status_code == 202
    await run_flows()

    stopped = await _sync(http, operator, confirmation["uuid"])
    assert (stopped["status"], stopped["reason"]) == ("exception", "unknown-source-document")
    assert "5100000042-2026" in stopped["detail"]
    unknown = await _sync(http, operator, other["uuid"])
    assert (unknown["status"], unknown["reason"], unknown["step"]) == ("exception", "unknown-source-document",
                                                                       "check-sources")
    assert "99999999" in unknown["detail"]


async def test_the_api_refuses_another_run_for_a_confirmation_and_pages_its_list(
    flows_client: httpx.AsyncClient, flows_operator: Operator,
) -> None:
    http, operator = flows_client, flows_operator
    started = [await _start(http, operator, f"conf-{n}", f"run-{n}") for n in range(3)]
    assert [answer.status_code for answer in started] == [202, 202, 202]

    clash = await _start(http, operator, "conf-0", "run-9")
    assert clash.status_code == 409, clash.text
    assert clash.json()["type"].endswith("/confirmation-run-mismatch")

    first = await http.get(f"{API}/syncs", params={"limit": 2}, headers=operator.headers)
    assert first.status_code == 200, first.text
    rest = await http.get(f"{API}/syncs", params={"limit": 2, "cursor": first.json()["next_cursor"]},
                          headers=operator.headers)
    keys = [item["key"] for item in first.json()["items"] + rest.json()["items"]]
    assert keys == ["conf-2", "conf-1", "conf-0"]
    assert rest.json()["next_cursor"] is None
    foreign = await http.get(f"{API}/syncs", params={"status": "active", "cursor": first.json()["next_cursor"]},
                             headers=operator.headers)
    assert foreign.status_code == 422

    missing = await http.get(f"{API}/syncs/{'0' * 32}", headers=operator.headers)
    assert missing.status_code == 404
    unsigned = await http.post(f"{API}/syncs", json={"confirmation_id": "conf-x", "payment_run_id": "run-x"},
                               headers=operator.headers)
    assert unsigned.status_code == 400, "a start needs an Idempotency-Key"
