"""``finrail demo``: a realistic day of finance work driven through the sandboxes.

Everything Finrail does goes through its governed APIs, as an integration team's apps would
call them: suppliers approved in procurement are onboarded into the ERP; managers approve
expense reports in the expense platform and approved reports are posted; requisitions are
checked against the budget and reserve it; supplier invoices are matched against their
orders; treasury pays what the postings owe, the bank confirms, and the payments are synced
back to the ERP and the expense platform. (What people do in the platforms themselves, the
managers' approvals and the bank's confirmation, goes to the sandboxes' own APIs.)
The seed data holds the usual trouble (near-duplicate
suppliers, bad bank data, a closed period, an inactive cost center), so some of the day ends
in the finance exception queue with a reason, as it would in real life. The flows run on the
worker of this process; the demo waits until they settle, then prints the KPIs and where to
look next. The data stays in the data directory, so ``finrail serve`` shows it afterwards.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TextIO

import httpx

from gateway.app import Gateway

__all__ = ["DemoError", "DemoSize", "run_demo"]

BASE_URL = "http://finrail.demo"


@dataclass(frozen=True, slots=True)
class DemoSize:
    """How much work the day holds."""

    suppliers: int = 12
    """Approved procurement suppliers to onboard."""
    reports: int = 24
    """Approved expense reports to post."""
    requisitions: int = 10
    """Requisitions checked against the budget (each reserves when it fits)."""
    invoices: int = 8
    """Procurement invoices to match against their purchase orders."""
    approvals: int = 6
    """Pending expense reports a manager approves in the expense platform (then posted)."""
    payments: int = 6
    """Obligations the postings created that treasury pays (one run per entity)."""


class Progress:
    """A one-line progress bar on a terminal (plain lines when not a terminal)."""

    def __init__(self, out: TextIO, width: int = 32) -> None:
        self.out = out
        self.width = width
        self.tty = out.isatty()

    def show(self, label: str, done: int, total: int) -> None:
        """Draw ``done`` of ``total`` for ``label``."""
        total = max(total, 1)
        filled = int(self.width * min(done, total) / total)
        line = f"{label:<34} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}"
        if self.tty:
            self.out.write("\r" + line)
            if done >= total:
                self.out.write("\n")
        elif done >= total:
            self.out.write(line + "\n")
        self.out.flush()


class DemoError(Exception):
    """A call the demo depends on failed; the message says which and why."""


class _Api:
    """Governed calls with one client's token, as a well-behaved client makes them.

    Every POST gets its own Idempotency-Key, and a 429 is waited out for its ``Retry-After``
    and retried with the same key: the demo runs faster than its client's spike limit allows.
    """

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    async def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        for _ in range(20):
            answer = await self.http.request(method, path, **options)
            if answer.status_code != 429:
                return answer
            await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
        return answer

    async def get(self, path: str, **params: Any) -> Any:
        answer = await self._send("GET", path, params={k: v for k, v in params.items() if v is not None},
                                  headers=self.headers)
        if answer.status_code != 200:
            raise DemoError(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    async def post(self, path: str, body: Any) -> httpx.Response:
        headers = {**self.headers, "Idempotency-Key": f'"{uuid.uuid4().hex}"'}
        if body is None:
            return await self._send("POST", path, headers=headers)
        return await self._send("POST", path, json=body, headers=headers)


async def _each(label: str, items: Sequence[Any], work: Callable[[Any], Awaitable[None]], progress: Progress) -> None:
    progress.show(label, 0, len(items))
    for number, item in enumerate(items, 1):
        await work(item)
        progress.show(label, number, len(items))


async def _settle(api: _Api, progress: Progress, started: int, deadline_seconds: float) -> None:
    """Wait until no flow instance is still running (or the deadline passes)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        active = (await api.get("/process/flows/v1/instances", status="active", limit=200))["items"]
        progress.show("flows settling", started - len(active), started)
        if not active or time.monotonic() > deadline:
            if active:
                progress.out.write(f"\n{len(active)} instance(s) still running (retries pending); "
                                   "`finrail serve` finishes them\n")
            return
        await asyncio.sleep(0.5)


async def run_demo(gateway: Gateway, out: TextIO = sys.stderr, size: DemoSize | None = None,
                   deadline_seconds: float = 300.0) -> dict[str, Any]:
    """Drive the day through ``gateway`` (started, with its worker) and print what happened.

    Returns:
        The KPIs at the end (as ``GET /process/flows/v1/kpis`` answers them).
    """
    size = size or DemoSize()
    progress = Progress(out)
    scopes = sorted(gateway.catalog.scopes)
    record, secret = await gateway.services.clients.create("finrail demo", scopes, "gold")
    transport = httpx.ASGITransport(app=gateway, client=("127.0.0.1", 0))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=60) as http:
        issued = await http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                 auth=(record.client_id, secret))
        issued.raise_for_status()
        api = _Api(http, issued.json()["access_token"])
        started = 0

        suppliers = (await api.get("/system/procurement/v1/suppliers", status="active", in_erp="false",
                                   limit=size.suppliers))["items"]

        async def onboard(supplier: dict[str, Any]) -> None:
            nonlocal started
            answer = await api.post("/process/supplier-onboarding/v1/onboardings", {"supplier_id": supplier["id"]})
            started += answer.status_code == 202

        await _each("suppliers onboarded", suppliers, onboard, progress)

        approved_now = await _approve_pending(http, size.approvals)
        progress.show("reports approved by managers", len(approved_now), size.approvals)
        reports = (await api.get("/system/expense/v1/reports", status="approved", limit=size.reports))["items"]
        reports = [{"id": report_id} for report_id in approved_now] + reports

        async def post_report(report: dict[str, Any]) -> None:
            nonlocal started
            answer = await api.post("/process/expense-posting/v1/postings", {"report_id": report["id"]})
            started += answer.status_code == 202

        await _each("expense reports posted", reports, post_report, progress)

        lines = (await api.get("/system/planning/v1/budget-lines", limit=size.requisitions))["items"]
        over_budget = 0

        async def requisition(line: dict[str, Any]) -> None:
            nonlocal over_budget
            amount = line.get("amount") or {}
            currency = amount.get("currency", "USD")
            wanted = {"amount": f"{(Decimal(str(amount.get('amount', '1000'))) / 7).quantize(Decimal('0.01'))}",
                      "currency": currency}
            check = await api.post("/process/budget/v1/checks", {"budget_line_id": line["id"], "amount": wanted})
            if check.status_code == 200 and check.json().get("sufficient"):
                await api.post("/process/budget/v1/reservations", {
                    "budget_line_id": line["id"], "amount": wanted,
                    "requisition_id": f"REQ-DEMO-{uuid.uuid4().hex[:8].upper()}"})
            else:
                over_budget += 1

        await _each("requisitions checked", lines, requisition, progress)

        invoices = (await api.get("/system/procurement/v1/invoices", status="received",
                                  limit=size.invoices))["items"]

        async def match(invoice: dict[str, Any]) -> None:
            nonlocal started
            answer = await api.post("/process/procure-to-pay/v1/matches", {"invoice_id": invoice["id"]})
            started += answer.status_code == 202

        await _each("supplier invoices matched", invoices, match, progress)

        await _settle(api, progress, started, deadline_seconds)

        started += await _pay(api, http, progress, size.payments)
        await _settle(api, progress, started, deadline_seconds)
        kpis: dict[str, Any] = await api.get("/process/flows/v1/kpis")
        exceptions = (await api.get("/process/flows/v1/exceptions", limit=200))["items"]
        _report(out, kpis, exceptions, over_budget)
        return kpis


EXPENSE_SANDBOX = "/sandbox/expense"
TREASURY_SANDBOX = "/sandbox/treasury/gateway"
SANDBOX_CLIENT = ("finrail", "sandbox-secret")


async def _sandbox_token(http: httpx.AsyncClient, path: str) -> dict[str, str]:
    answer = await http.post(path, data={"grant_type": "client_credentials"}, auth=SANDBOX_CLIENT)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _approve_pending(http: httpx.AsyncClient, count: int) -> list[str]:
    """Managers approve reports waiting for them, in the expense platform (Concur's workflow API)."""
    if count <= 0:
        return []
    auth = await _sandbox_token(http, f"{EXPENSE_SANDBOX}/oauth2/v0/token")
    listed = await http.get(f"{EXPENSE_SANDBOX}/api/v3.0/expense/reports",
                            params={"user": "ALL", "approvalStatusCode": "A_PEND", "limit": count}, headers=auth)
    listed.raise_for_status()
    approved = []
    for report in listed.json().get("Items", [])[:count]:
        action = f"{EXPENSE_SANDBOX}/api/expense/expensereport/v1.1/report/{report['ID']}/WorkFlowAction"
        answer = await http.post(action, json={"Action": "Approve", "Comment": "approved in the finrail demo"},
                                 headers=auth)
        if answer.status_code == 200:
            approved.append(str(report["ID"]))
    return approved


async def _pay(api: _Api, http: httpx.AsyncClient, progress: Progress, count: int) -> int:
    """Treasury pays what the postings owe, the bank confirms, the payments are synced back.

    Reimbursements owed to employees carry no ERP supplier, so their sync stops with
    ``no-erp-supplier``; the demo resolves those with ``skip-erp-payment`` (the reimbursement
    went through payroll), as a person in finance would, to show the queue at work.
    """
    postings = (await api.get("/process/flows/v1/instances", flow="expense-posting", status="completed",
                              limit=200))["items"]
    owed = [posting["outputs"].get("payment-obligation", {}).get("obligation_id") for posting in postings]
    by_entity: dict[str, list[str]] = {}
    for obligation_id in [owed_id for owed_id in owed if owed_id][:count]:
        obligation = await api.get(f"/system/treasury/v1/payment-obligations/{obligation_id}")
        if obligation["status"] == "open":
            by_entity.setdefault(obligation["company_code"], []).append(obligation_id)
    bank = await _sandbox_token(http, f"{TREASURY_SANDBOX}/oauth/token")
    started = 0
    done = 0
    progress.show("payments confirmed", 0, len(by_entity))
    for ids in by_entity.values():
        run = await api.post("/system/treasury/v1/payment-runs", {"obligation_ids": ids})
        if run.status_code != 201:
            continue
        run_id = run.json()["id"]
        await api.post(f"/system/treasury/v1/payment-runs/{run_id}/release", None)
        confirmation = await http.post(f"{TREASURY_SANDBOX}/api/v1/bank-confirmations",
                                       json={"paymentRun": run_id, "result": "ACCEPTED"}, headers=bank)
        if confirmation.status_code == 201:
            sync = await api.post("/process/payments/v1/syncs", {"confirmation_id": confirmation.json()["uuid"],
                                                                 "payment_run_id": run_id})
            started += sync.status_code == 202
        done += 1
        progress.show("payments confirmed", done, len(by_entity))
    for _ in range(100):  # let the syncs reach their stop, then resolve it
        waiting = (await api.get("/process/flows/v1/instances", flow="payment-status-sync", status="active"))["items"]
        if not waiting:
            break
        await asyncio.sleep(0.2)
    stopped = (await api.get("/process/flows/v1/exceptions", reason="no-erp-supplier", limit=200))["items"]
    for item in stopped:
        await api.post(f"/process/flows/v1/instances/{item['id']}/resolve",
                       {"decision": "skip-erp-payment", "note": "reimbursed through payroll (finrail demo)"})
    return started


def _report(out: TextIO, kpis: dict[str, Any], exceptions: list[dict[str, Any]], over_budget: int) -> None:
    write = out.write
    write("\nThe day in numbers\n")
    by_flow: dict[str, dict[str, int]] = {}
    for row in kpis.get("instances", []):
        statuses = by_flow.setdefault(row["flow"], {})
        statuses[row["status"]] = statuses.get(row["status"], 0) + row["count"]
    for flow, statuses in sorted(by_flow.items()):
        write(f"  {flow:<30} " + ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())) + "\n")
    for lag in kpis.get("posting_lag", []):
        write(f"  lag {lag['flow']:<26} p50 {lag['p50_seconds']:.2f} s, p95 {lag['p95_seconds']:.2f} s\n")
    write(f"  exception queue                {kpis.get('exception_queue', 0)}\n")
    write(f"  dead-letter queue              {kpis.get('dead_letters', 0)}\n")
    write(f"  requisitions over budget       {over_budget}\n")
    if exceptions:
        write("\nWaiting for a person (finance exception queue)\n")
        for item in exceptions[:12]:
            write(f"  {item['flow']:<22} {item['key']:<22} {item['reason']}: {(item['detail'] or '')[:70]}\n")
    write(
        "\nWhere to look next\n"
        "  finrail serve                                   the gateway with everything the demo left behind\n"
        "  finrail flows list --status exception           the exception queue (finrail flows show ID for one)\n"
        "  GET /process/flows/v1/exceptions                the same over the API (scope process:flows:read)\n"
        "  GET /process/flows/v1/traces/{correlation_id}   one transaction across every tier\n"
        "  GET /process/flows/v1/kpis                      these figures, live\n"
    )
