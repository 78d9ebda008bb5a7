"""The flow operations API ``/process/flows/v1`` on the real gateway, on both backends.

The operations API knows no domain: it reads and acts on whatever instances the engine holds.
So that these tests do not hang on the flows other process packages ship, they register one
toy flow in the running gateway's engine (``ops-toy``: a ``check`` step that stops on demand
with a business or technical failure and has a compensation, and a ``fetch`` step that reads
the ERP system API like any real step, so its calls are audited under the instance's
correlation id). Everything else is real: HTTP through the whole policy chain, the worker,
the store, the audit trail.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.app import Gateway
from process_apis.flow.model import BusinessError, Flow, Step, StepContext, StepOutput, TechnicalError
from process_apis.flow.tables import flow_instances
from tests.support import Operator, register

BASE = "/process/flows/v1"
TOY = "ops-toy"
EDITED_CURSOR = "WyIyMDI0LTAxLTAxVDAwOjAwOjAwWiIsInoiXQ.AAAAAAAAAAAAAAAA"
"""A cursor of the right shape whose payload was built by hand (its checksum does not match)."""


class Toy:
    """The toy flow, with switches a test flips."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        """Keys whose ``check`` fails technically (the platform is down for them)."""
        self.undone: list[str] = []
        """Keys whose ``check`` was compensated."""

    async def check(self, context: StepContext) -> StepOutput:
        if context.key in self.down:
            raise TechnicalError("ERP answered 503")
        reason = context.input.get("stop")
        if reason and context.decision is None:
            raise BusinessError(str(reason), f"{context.key} cannot be posted as it stands")
        return {"decision": context.decision}

    async def undo(self, context: StepContext) -> None:
        self.undone.append(context.key)

    async def fetch(self, context: StepContext) -> StepOutput:
        if not context.input.get("call_erp"):
            return {"entities": None}
        page = await context.system.get("/system/erp/v1/legal-entities", type=dict[str, Any],
                                        correlation_id=context.correlation_id)
        return {"entities": len(page["items"])}

    def flow(self) -> Flow:
        return Flow(TOY, (Step("check", self.check, self.undo), Step("fetch", self.fetch)))


@pytest.fixture
def toy(flows_gateway: Gateway) -> Toy:
    """The toy flow, registered in the running gateway's engine."""
    toy = Toy()
    flows_gateway.runtime.engine.flows[TOY] = toy.flow()
    return toy


def _key() -> dict[str, str]:
    return {"Idempotency-Key": f'"{uuid.uuid4().hex}"'}


async def _start(gateway: Gateway, key: str, flow: str = TOY, **input: Any) -> str:
    correlation_id = input.pop("correlation_id", None)
    instance, created = await gateway.runtime.engine.store.start(flow, key, input, correlation_id=correlation_id)
    assert created
    return instance.id


async def _act(client: httpx.AsyncClient, operator: Operator, instance_id: str, action: str,
               **body: Any) -> httpx.Response:
    return await client.post(f"{BASE}/instances/{instance_id}/{action}", json=body,
                             headers={**operator.headers, **_key()})


async def test_instances_filter_and_page_newest_first(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, toy: Toy,
    run_flows: Callable[[], Awaitable[None]],
) -> None:
    ids = [await _start(flows_gateway, f"r-{n}", correlation_id="corr-a" if n < 2 else None) for n in range(5)]
    stopped = await _start(flows_gateway, "r-stop", stop="period-closed")
    other = await _start(flows_gateway, "elsewhere", flow="ops-unknown")
    headers = flows_operator.headers
    everything = (await flows_client.get(f"{BASE}/instances", headers=headers)).json()
    assert [item["id"] for item in everything["items"]] == [other, stopped, *reversed(ids)]
    assert everything["next_cursor"] is None
    await run_flows()  # (schedules of other process packages may start instances of their own now)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"flow": TOY, "limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = await flows_client.get(f"{BASE}/instances", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [stopped, *reversed(ids)]
    assert pages == 3

    async def ids_for(**params: str) -> list[str]:
        answer = await flows_client.get(f"{BASE}/instances", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert await ids_for(flow=TOY, status="completed") == list(reversed(ids))
    assert await ids_for(flow=TOY, status="exception", reason="period-closed") == [stopped]
    assert await ids_for(flow=TOY, reason="technical") == []
    assert await ids_for(correlation_id="corr-a") == [ids[1], ids[0]]
    assert await ids_for(key="r-3") == [ids[3]]
    assert await ids_for(flow="ops-unknown", status="active") == [other]

    completed = (await flows_client.get(f"{BASE}/instances", params={"key": "r-3"}, headers=headers)).json()
    assert completed["items"][0]["status"] == "completed"
    assert completed["items"][0]["outputs"] == {"check": {"decision": None}, "fetch": {"entities": None}}

    # Not shaped like a cursor: a malformed request (400). Shaped like one but not issued by
    # this API (edited, forged): well-formed but unprocessable (422), as in every other API.
    for bad, status in (("not-a-cursor", 400), ("eyJ4IjoxfQ.AAAAAAAAAAAAAAAA", 422), (EDITED_CURSOR, 422)):
        answer = await flows_client.get(f"{BASE}/instances", params={"cursor": bad}, headers=headers)
        assert answer.status_code == status, (bad, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    unknown_status = await flows_client.get(f"{BASE}/instances", params={"status": "lost"}, headers=headers)
    assert unknown_status.status_code == 400


async def test_the_exception_queue_and_resolving_an_instance(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, toy: Toy,
    run_flows: Callable[[], Awaitable[None]],
) -> None:
    closed = await _start(flows_gateway, "report-1", stop="period-closed")
    await _start(flows_gateway, "report-2", stop="inactive-cost-center")
    await _start(flows_gateway, "report-3")
    await run_flows()
    headers = flows_operator.headers

    queue = (await flows_client.get(f"{BASE}/exceptions", headers=headers)).json()["items"]
    assert sorted((item["key"], item["reason"], item["step"]) for item in queue) == [
        ("report-1", "period-closed", "check"), ("report-2", "inactive-cost-center", "check")]
    by_reason = (await flows_client.get(f"{BASE}/exceptions", params={"reason": "period-closed"},
                                        headers=headers)).json()["items"]
    assert [item["id"] for item in by_reason] == [closed]
    assert (await flows_client.get(f"{BASE}/exceptions", params={"flow": "another"},
                                   headers=headers)).json()["items"] == []

    detail = (await flows_client.get(f"{BASE}/instances/{closed}", headers=headers)).json()
    assert detail["instance"]["status"] == "exception"
    assert [entry["kind"] for entry in detail["timeline"]] == ["started", "exception"]
    assert detail["timeline"][1]["detail"].startswith("period-closed: report-1 cannot be posted")

    without_key = await flows_client.post(f"{BASE}/instances/{closed}/resolve", json={"decision": "approve"},
                                          headers=headers)
    assert without_key.status_code == 400
    assert "Idempotency-Key" in without_key.json()["detail"]
    no_decision = await _act(flows_client, flows_operator, closed, "resolve", note="period reopened")
    assert no_decision.status_code == 400

    key = _key()
    resolved = await flows_client.post(f"{BASE}/instances/{closed}/resolve",
                                       json={"decision": "approve", "note": "period reopened"},
                                       headers={**headers, **key})
    assert resolved.status_code == 200, resolved.text
    assert (resolved.json()["status"], resolved.json()["reason"]) == ("active", None)
    again = await flows_client.post(f"{BASE}/instances/{closed}/resolve",
                                    json={"decision": "approve", "note": "period reopened"},
                                    headers={**headers, **key})
    assert again.status_code == 200
    assert again.json() == resolved.json(), "the same Idempotency-Key replays the answer"

    await run_flows()
    done = (await flows_client.get(f"{BASE}/instances/{closed}", headers=headers)).json()
    assert done["instance"]["status"] == "completed"
    assert done["instance"]["outputs"]["check"] == {"decision": "approve"}
    kinds = [entry["kind"] for entry in done["timeline"]]
    assert kinds == ["started", "exception", "resolved", "step-completed", "step-completed", "completed"]
    assert kinds.count("resolved") == 1, "the replayed request did not act twice"
    said = done["timeline"][2]["detail"]
    assert said == f"decision 'approve' by {flows_operator.client_id}: period reopened"

    conflict = await _act(flows_client, flows_operator, closed, "resolve", decision="approve")
    assert conflict.status_code == 409
    assert conflict.json()["detail"] == f"instance {closed} is completed; this action needs it to be exception"
    missing = await _act(flows_client, flows_operator, "no-such-instance", "resolve", decision="approve")
    assert missing.status_code == 404
    assert (await flows_client.get(f"{BASE}/instances/no-such-instance", headers=headers)).status_code == 404

    await flows_gateway.services.audit.flush()
    changes = [record for record in await flows_gateway.services.audit.query(client_id=flows_operator.client_id)
               if record.operation == "resolve_flow_instance" and record.kind == "change"]
    assert len(changes) == 1
    assert changes[0].resource_ids == {"instance_id": closed}
    assert (changes[0].before["status"], changes[0].after["status"]) == ("exception", "active")


async def test_dead_letters_retry_replay_and_cancel(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, toy: Toy,
    run_flows: Callable[[], Awaitable[None]],
) -> None:
    toy.down |= {"pay-1", "pay-2"}
    first = await _start(flows_gateway, "pay-1")
    second = await _start(flows_gateway, "pay-2")
    await run_flows()
    headers = flows_operator.headers
    dead = (await flows_client.get(f"{BASE}/dead-letters", headers=headers)).json()["items"]
    assert [(item["id"], item["reason"], item["attempts"]) for item in dead] == [
        (second, "technical", 3), (first, "technical", 3)]
    assert "503" in dead[0]["detail"]
    assert (await flows_client.get(f"{BASE}/dead-letters", params={"flow": "another"},
                                   headers=headers)).json()["items"] == []

    wrong = await _act(flows_client, flows_operator, first, "resolve", decision="approve")
    assert wrong.status_code == 409
    assert "needs it to be exception" in wrong.json()["detail"]

    toy.down.clear()
    retried = await _act(flows_client, flows_operator, first, "retry", note="ERP is back")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "active"
    cancelled = await _act(flows_client, flows_operator, second, "cancel", note="paid by hand")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "compensating"
    await run_flows()

    after_retry = (await flows_client.get(f"{BASE}/instances/{first}", headers=headers)).json()
    assert after_retry["instance"]["status"] == "completed"
    after_cancel = (await flows_client.get(f"{BASE}/instances/{second}", headers=headers)).json()
    assert after_cancel["instance"]["status"] == "cancelled"
    assert toy.undone == [], "the check step never completed for pay-2, so there was nothing to undo"
    assert [entry["kind"] for entry in after_cancel["timeline"]][-2:] == ["cancel-requested", "cancelled"]
    assert (await flows_client.get(f"{BASE}/dead-letters", headers=headers)).json()["items"] == []

    replayed = await _act(flows_client, flows_operator, first, "replay", note="re-post after the fix")
    assert replayed.status_code == 200
    assert (replayed.json()["status"], replayed.json()["step"], replayed.json()["outputs"]) == ("active", "check", {})
    await run_flows()
    final = (await flows_client.get(f"{BASE}/instances/{first}", headers=headers)).json()
    assert final["instance"]["status"] == "completed"
    kinds = [entry["kind"] for entry in final["timeline"]]
    assert kinds.count("completed") == 2
    assert "replayed" in kinds
    assert f"by {flows_operator.client_id}: ERP is back" in [entry["detail"] for entry in final["timeline"]]

    # A completed instance can be cancelled no more; the compensation runs on an exception stop.
    assert (await _act(flows_client, flows_operator, first, "cancel")).status_code == 409
    assert (await _act(flows_client, flows_operator, "nobody", "retry")).status_code == 404
    assert (await _act(flows_client, flows_operator, "nobody", "replay")).status_code == 404
    assert (await _act(flows_client, flows_operator, "nobody", "cancel")).status_code == 404


async def test_an_instance_a_worker_holds_or_no_flow_runs_is_a_conflict(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, toy: Toy,
) -> None:
    store = flows_gateway.runtime.engine.store
    held = await _start(flows_gateway, "held")
    claimed = await store.claim("another-worker", [TOY], limit=1, lease_seconds=60)
    assert [instance.id for instance in claimed] == [held]
    busy = await _act(flows_client, flows_operator, held, "cancel", note="stop it")
    assert busy.status_code == 409
    assert busy.json()["detail"] == f"instance {held} is being worked on right now; try again shortly"

    orphan = await _start(flows_gateway, "orphan", flow="retired-flow")
    refused = await _act(flows_client, flows_operator, orphan, "cancel")
    assert refused.status_code == 409
    assert "retired-flow is not run by this deployment" in refused.json()["detail"]


async def test_acting_needs_the_operate_scope(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, toy: Toy,
) -> None:
    reader = await register(flows_gateway, flows_client, ["process:flows:read"])
    instance = await _start(flows_gateway, "r", stop="period-closed")
    assert (await flows_client.get(f"{BASE}/instances/{instance}", headers=reader.headers)).status_code == 200
    refused = await _act(flows_client, reader, instance, "retry")
    assert refused.status_code == 403
    assert (await flows_client.get(f"{BASE}/kpis")).status_code == 401


async def test_a_trace_merges_flow_timelines_and_audited_calls_of_every_tier(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, toy: Toy,
    run_flows: Callable[[], Awaitable[None]],
) -> None:
    correlation_id = f"trace-{uuid.uuid4().hex[:12]}"
    source = await flows_client.get("/system/erp/v1/legal-entities",
                                    headers={**flows_operator.headers, "X-Correlation-ID": correlation_id})
    assert source.status_code == 200
    instance = await _start(flows_gateway, "traced", call_erp=True, correlation_id=correlation_id)
    await _start(flows_gateway, "untraced", call_erp=True)
    await run_flows()

    answer = await flows_client.get(f"{BASE}/traces/{correlation_id}", headers=flows_operator.headers)
    assert answer.status_code == 200, answer.text
    trace = answer.json()
    assert trace["correlation_id"] == correlation_id
    assert [item["id"] for item in trace["instances"]] == [instance]
    assert trace["truncated"] is False
    items = trace["items"]
    assert [item["at"] for item in items] == sorted(item["at"] for item in items)
    summary = [(item["source"], item["what"], item["outcome"]) for item in items]
    assert summary == [
        ("audit", "GET /system/erp/v1/legal-entities", "200"),
        ("flow", f"{TOY} started", "started"),
        ("flow", f"{TOY} step-completed check", "step-completed"),
        ("audit", "GET /system/erp/v1/legal-entities", "200"),
        ("flow", f"{TOY} step-completed fetch", "step-completed"),
        ("flow", f"{TOY} completed", "completed"),
    ]
    callers = [item["client_id"] for item in items if item["source"] == "audit"]
    assert callers == [flows_operator.client_id, "svc_finrail_flows"]
    assert {item["api"] for item in items if item["source"] == "audit"} == {"erp v1"}
    assert {item["instance_id"] for item in items if item["source"] == "flow"} == {instance}

    nothing = await flows_client.get(f"{BASE}/traces/never-seen", headers=flows_operator.headers)
    assert nothing.status_code == 404


async def _age(gateway: Gateway, instance_id: str, *, created: datetime, finished: datetime | None) -> None:
    async with gateway.runtime.database.begin() as db:
        await db.execute(flow_instances.update().where(flow_instances.c.id == instance_id).values(
            created_at=created, finished_at=finished))


async def test_kpis_on_known_figures(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, flows_operator: Operator, toy: Toy,
    run_flows: Callable[[], Awaitable[None]],
) -> None:
    completed = [await _start(flows_gateway, f"done-{n}") for n in range(10)]
    closed = await _start(flows_gateway, "closed", stop="period-closed")
    mismatch = await _start(flows_gateway, "unknown-cc", stop="master-data-unknown-cost-center")
    resolved = await _start(flows_gateway, "resolved", stop="master-data-unknown-cost-center")
    toy.down.add("down")
    dead = await _start(flows_gateway, "down")
    await run_flows()
    assert (await _act(flows_client, flows_operator, resolved, "resolve", decision="mapped")).status_code == 200
    await run_flows()

    now = datetime.now(UTC)
    start = now - timedelta(hours=2)
    for n, instance in enumerate(completed):  # lags of 10, 20, ..., 100 seconds
        await _age(flows_gateway, instance, created=start, finished=start + timedelta(seconds=10 * (n + 1)))
    old = await _start(flows_gateway, "last-year")
    await _age(flows_gateway, old, created=now - timedelta(days=400), finished=None)

    answer = await flows_client.get(f"{BASE}/kpis", params={"window_days": 30}, headers=flows_operator.headers)
    assert answer.status_code == 200, answer.text
    kpis = answer.json()
    lag = {item["flow"]: item for item in kpis["posting_lag"]}[TOY]
    # 11 completed: the ten aged ones and the resolved one (a lag of well under 10 seconds)
    assert lag["completed"] == 11
    assert lag["p50_seconds"] == 50.0
    assert lag["p95_seconds"] == 100.0
    rates = {(item["flow"], item["reason"]): (item["exceptions"], item["started"], item["rate"])
             for item in kpis["exception_rate"] if item["flow"] == TOY}
    assert rates == {
        (TOY, "period-closed"): (1, 14, round(1 / 14, 4)),
        (TOY, "master-data-unknown-cost-center"): (2, 14, round(2 / 14, 4)),
    }
    assert kpis["master_data_mismatches"] == {
        "open": 1, "open_by_reason": {"master-data-unknown-cost-center": 1}, "stopped_in_window": 2}
    # Other process packages' schedules may have started instances of their own: count the toy's.
    counts = {(item["status"], item["reason"]): item["count"] for item in kpis["instances"] if item["flow"] == TOY}
    assert counts == {
        ("completed", None): 11, ("exception", "period-closed"): 1,
        ("exception", "master-data-unknown-cost-center"): 1, ("dead", "technical"): 1, ("active", None): 1,
    }
    waiting = {status: sum(item["count"] for item in kpis["instances"] if item["status"] == status)
               for status in ("exception", "dead")}
    assert (kpis["exception_queue"], kpis["dead_letters"]) == (waiting["exception"], waiting["dead"])
    assert (kpis["exception_queue"], kpis["dead_letters"]) >= (2, 1)
    assert {closed, mismatch, dead}.isdisjoint(completed)
    bad = await flows_client.get(f"{BASE}/kpis", params={"window_days": 0}, headers=flows_operator.headers)
    assert bad.status_code == 400
