"""Chaos: 1,000 approved expense reports through flaky platforms and killed workers, posted exactly once.

The whole deployment runs as separate processes (see :mod:`tests.e2e.chaos`): the ERP, expense
and treasury sandboxes, one ``finrail serve`` and flow workers on the same database. The expense
sandbox delivers every webhook twice and events emitted close together in reverse order; once
the reports are approved, every sandbox also answers 10 % of calls 500 and 5 % 429 (with
``Retry-After: 1``); two workers are killed with SIGKILL mid-run (after about 30 % and 60 % of
the reports are settled) and replaced. Afterwards every report is posted exactly once in the ERP
with a balanced journal entry and marked posted in the expense platform, or waits in a queue
with a reason; no process logged a traceback; the audit trail verifies.

The reports are created and submitted before the gateway starts, while the expense sandbox
sends no webhooks, and the sandbox is then restarted on the same data with its webhooks
pointed at the gateway: the sandbox delivers webhooks one at a time, so the submissions' events
(which start nothing) would otherwise queue in front of the approvals' and dominate the run.
Figures of a run (phases, kills, lease take-overs, CPU per process) are printed with ``-s``.

``CHAOS_REPORTS`` changes the number of reports (default 1,000) for a quicker run.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.storage import create_engine
from process_apis.expense_posting.flows import FLOW
from process_apis.flow.store import FlowStore
from process_apis.flow.tables import flow_instances, flow_timeline
from tests.e2e.chaos import (
    SANDBOXES,
    Topology,
    approve_reports,
    expense_token,
    journal_entries,
    set_faults,
    submit_reports,
)
from tests.support import finrail

pytestmark = pytest.mark.slow

REPORTS = int(os.environ.get("CHAOS_REPORTS", "1000"))
KILL_AT = (0.3, 0.6)
"""Shares of settled reports at which a worker is killed (SIGKILL) and replaced."""
DEADLINE_SECONDS = 420.0
"""From the first approval to every posting settled."""
WEBHOOK_FAULTS: dict[str, Any] = {"webhook_duplicate_rate": 1.0, "webhook_reorder": True}
CALL_FAULTS: dict[str, Any] = {"error_rate": 0.10, "throttle_rate": 0.05, "retry_after_seconds": 1}

_CONNECTION = {"retries": "6", "backoff_base_seconds": "0.05", "backoff_max_seconds": "0.5",
               "breaker_failures": "20", "breaker_reset_seconds": "1", "rate": "100000/second",
               "timeout_seconds": "10"}
SETTINGS: dict[str, str] = {
    # Limits far above the load: the chaos is the platforms', not the gateway's throttling.
    "throttling__spike": "1000000/second",
    **{f"throttling__tiers__{tier}": "100000000/minute" for tier in ("gold", "silver", "bronze")},
    "auth__token_endpoint_rate": "1000000/minute",
    # Connectors absorb most faults themselves; the flow engine retries what is left.
    **{f"platforms__{platform}__connection__{key}": value for platform in SANDBOXES
       for key, value in _CONNECTION.items()},
    # A killed worker's instances are taken over within seconds.
    "flows__worker__lease_seconds": "6",
    "flows__worker__step_timeout_seconds": "5",
    "flows__worker__poll_seconds": "0.2",
    "flows__worker__backoff_base_seconds": "0.2",
    "flows__worker__backoff_cap_seconds": "2",
    "flows__worker__max_attempts": "20",
}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The test's own connection to the deployment's database (reads only)."""
    engine = create_engine(database_url, pool_size=2)
    yield engine
    await engine.dispose()


def _settled(counts: dict[tuple[str, str, str | None], int]) -> tuple[Counter[str], int]:
    statuses: Counter[str] = Counter()
    for (flow, status, _), number in counts.items():
        if flow == FLOW:
            statuses[status] += number
    return statuses, sum(n for s, n in statuses.items() if s in ("completed", "exception", "dead", "cancelled"))


async def _pending_webhooks(http: httpx.AsyncClient, base: str) -> list[dict[str, Any]]:
    answer = await http.get(f"{base}/_sandbox/webhooks", timeout=30)
    assert answer.status_code == 200, answer.text
    return [d for d in answer.json() if d["status"] == "pending"]


async def _expense_report(http: httpx.AsyncClient, base: str, headers: dict[str, str],
                          report_id: str) -> dict[str, Any]:
    answer = await http.get(f"{base}/api/v3.0/expense/reports/{report_id}", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    report: dict[str, Any] = answer.json()
    return report


def _unbalanced(entry: dict[str, Any]) -> str | None:
    """Why a journal entry does not balance (debits = credits per currency), or None."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    items = entry["to_JournalEntryItem"]["results"]
    for item in items:
        amount = Decimal(str(item["AmountInTransactionCurrency"]))
        sign = Decimal(1) if item["DebitCreditCode"] == "S" else Decimal(-1)
        # SAP keeps credits negative; the side says which it is either way.
        totals[item["TransactionCurrency"]] += sign * abs(amount)
    if not items:
        return "no items"
    off = {currency: total for currency, total in totals.items() if total != 0}
    return f"debits - credits = {off}" if off else None


async def test_a_thousand_reports_survive_faults_duplicates_and_killed_workers(
    database_url: str, db: AsyncEngine, tmp_path: Path,
) -> None:
    started = time.monotonic()
    topology = Topology(tmp_path, database_url, SETTINGS)
    store = FlowStore(db)
    timings: dict[str, float] = {}
    kills: list[tuple[str, int]] = []
    progress: list[str] = []
    try:
        topology.start_sandboxes()
        expense = topology.sandboxes["expense"]
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(limits=limits) as http:
            report_ids = await submit_reports(http, expense, REPORTS)
            assert len(set(report_ids)) == REPORTS
            timings["create"] = time.monotonic() - started
            topology.send_expense_webhooks()
            topology.start_gateway(workers=2)
            timings["start"] = time.monotonic() - started - timings["create"]
            await set_faults(http, expense, **WEBHOOK_FAULTS, seed=1)
            begin = time.monotonic()
            await approve_reports(http, expense, report_ids)
            timings["approve"] = time.monotonic() - begin
            for seed, platform in enumerate(SANDBOXES, start=11):
                await set_faults(http, topology.sandboxes[platform], **CALL_FAULTS, **WEBHOOK_FAULTS, seed=seed)

            deadline = begin + DEADLINE_SECONDS
            next_kill = list(KILL_AT)
            shown = 0.0
            while True:
                statuses, settled = _settled(await store.counts())
                if time.monotonic() - shown >= 10:
                    shown = time.monotonic()
                    progress.append(f"{shown - begin:5.0f} s: {dict(statuses)}, "
                                    f"{len(await _pending_webhooks(http, expense))} webhooks pending")
                    print(progress[-1], flush=True)  # progress, shown with -s
                if next_kill and settled >= next_kill[0] * REPORTS:
                    next_kill.pop(0)
                    victim = topology.kill_worker()
                    kills.append((victim.name, settled))
                    topology.start_worker()
                if (not next_kill and not statuses["active"] and not statuses["compensating"]
                        and not await _pending_webhooks(http, expense)):
                    statuses, settled = _settled(await store.counts())
                    if not statuses["active"] and not statuses["compensating"]:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"not settled after {DEADLINE_SECONDS:.0f} s: {dict(statuses)}, kills {kills}\n"
                                + topology.tails())
                await asyncio.sleep(0.5)
            timings["settle"] = time.monotonic() - begin

            for platform in SANDBOXES:
                await set_faults(http, topology.sandboxes[platform])
            webhooks = (await http.get(f"{expense}/_sandbox/webhooks", timeout=30)).json()

            # The end state, as the platforms and the flow tables tell it.
            async with db.connect() as conn:
                rows = (await conn.execute(sa.select(flow_instances).where(flow_instances.c.flow == FLOW))).all()
                takeovers = (await conn.execute(sa.select(sa.func.count()).select_from(flow_timeline).where(
                    flow_timeline.c.kind == "lease-taken-over"))).scalar_one()
            instances = {row.key: row for row in rows}
            gate = asyncio.Semaphore(16)
            headers = await expense_token(http, expense)

            async def look(report_id: str) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
                async with gate:
                    return (report_id, await journal_entries(http, topology.sandboxes["erp"], report_id),
                            await _expense_report(http, expense, headers, report_id))

            found = await asyncio.gather(*(look(report_id) for report_id in report_ids))
            cpu = {**topology.cpu_at_kill, **topology.cpu_seconds(), "test": time.process_time()}
    finally:
        topology.close()
    timings["total"] = time.monotonic() - started

    problems: list[str] = []
    final: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for report_id, entries, report in found:
        instance = instances.get(report_id)
        if instance is None:
            problems.append(f"{report_id}: approved, but no posting was started (event lost)")
            continue
        final[instance.status] += 1
        if instance.status == "completed":
            if len(entries) != 1:
                problems.append(f"{report_id}: completed with {len(entries)} journal entries in the ERP")
            if report["PaymentStatusCode"] != "P_PROC":
                problems.append(f"{report_id}: completed, but the expense platform says {report['PaymentStatusCode']}")
        elif instance.status in ("exception", "dead"):
            reasons[f"{instance.status}:{instance.reason}"] += 1
            if not instance.reason or not instance.detail:
                problems.append(f"{report_id}: {instance.status} without a reason ({instance.reason!r}, "
                                f"{instance.detail!r})")
            if len(entries) > 1:
                problems.append(f"{report_id}: {instance.status} with {len(entries)} journal entries in the ERP")
        else:
            problems.append(f"{report_id}: left {instance.status} at step {instance.step}")
        for entry in entries:
            if why := _unbalanced(entry):
                problems.append(f"{report_id}: journal entry {entry['AccountingDocument']} does not balance: {why}")

    failed_webhooks = [d for d in webhooks if d["status"] != "delivered"]
    not_doubled = [d for d in webhooks if d["status"] == "delivered" and d["duplicates"] < 1]
    summary = (f"{REPORTS} reports on {database_url.split(':')[0]}: {dict(final)}, queues {dict(reasons)}; "
               f"kills {kills}, lease take-overs {takeovers}; webhooks {len(webhooks)} "
               f"({len(failed_webhooks)} not delivered); timings " + ", ".join(
                   f"{name} {seconds:.1f} s" for name, seconds in timings.items())
               + "; CPU s " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in cpu.items()))
    print(summary)  # the run's figures, shown with -s
    (tmp_path / "summary.txt").write_text(summary + "\n" + "\n".join(problems))

    tracebacks = topology.tracebacks()
    assert not tracebacks, summary + "\n" + "\n".join(tracebacks)[:20000]
    assert not problems, summary + "\n" + "\n".join(problems[:50])
    assert not failed_webhooks, summary + f"\n{failed_webhooks[:10]}"
    assert not not_doubled, summary + f"\n{not_doubled[:10]}"
    assert len(kills) == len(KILL_AT), summary
    assert sum(final.values()) == REPORTS, summary
    verified = finrail(topology.env(), "audit", "verify")
    assert "OK" in verified, verified
