"""Event intake: signature and timestamp checked, stored before the 202, duplicates without effect.

Events are signed here exactly as the sandboxes sign them (the ``standardwebhooks`` package
with the platform's secret), and sent over the gateway's real policy chain.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from gateway.app import Gateway, build_api
from gateway.catalog import BuildContext
from process_apis.flow.model import Flow, Step, StepContext, StepOutput
from process_apis.flow.runtime import Runtime, Trigger
from process_apis.flow.tables import inbound_events
from process_apis.flow.worker import FlowEngine, Worker


def _signed(secret: str, event_type: str, data: dict[str, Any], *, webhook_id: str | None = None,
            at: datetime | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"type": event_type, "timestamp": datetime.now(UTC).isoformat(), "data": data}).encode()
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(webhook_id, at, body.decode())
    return body, {"webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())),
                  "webhook-signature": signature, "content-type": "application/json"}


async def _stored(gateway: Gateway) -> list[Any]:
    async with gateway.services.engine.connect() as conn:
        return list((await conn.execute(sa.select(inbound_events))).all())


async def test_a_signed_event_is_stored_once_and_a_repeat_has_no_effect(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient,
) -> None:
    secret = flows_gateway.runtime.webhook_secrets["expense"]
    body, headers = _signed(secret, "statusChanged", {"reportId": "R-1"})

    first = await flows_client.post("/events/expense", content=body, headers=headers)
    again = await flows_client.post("/events/expense", content=body, headers=headers)

    assert first.status_code == 202, first.text
    assert first.json()["status"] == "accepted"
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    rows = await _stored(flows_gateway)
    stored = [(row.platform, row.type, row.payload) for row in rows]
    assert stored == [("expense", "statusChanged", {"reportId": "R-1"})]
    assert first.headers["x-correlation-id"] == rows[0].correlation_id


@pytest.mark.parametrize("tamper", ["signature", "secret", "stale", "future", "missing"])
async def test_a_forged_stale_or_unsigned_event_is_refused_with_401(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient, tamper: str,
) -> None:
    secret = flows_gateway.runtime.webhook_secrets["expense"]
    at = {"stale": datetime.now(UTC) - timedelta(minutes=6),
          "future": datetime.now(UTC) + timedelta(minutes=6)}.get(tamper)
    signing_secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY" if tamper == "secret" else secret
    body, headers = _signed(signing_secret, "statusChanged", {"reportId": "R-2"}, at=at)
    if tamper == "signature":
        body = body.replace(b"R-2", b"R-3")
    if tamper == "missing":
        del headers["webhook-signature"]

    answer = await flows_client.post("/events/expense", content=body, headers=headers)

    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"]
    assert await _stored(flows_gateway) == []


async def test_unknown_platform_and_malformed_envelope_get_clear_problems(
    flows_gateway: Gateway, flows_client: httpx.AsyncClient,
) -> None:
    secret = flows_gateway.runtime.webhook_secrets["expense"]
    body, headers = _signed(secret, "statusChanged", {})
    unknown = await flows_client.post("/events/bank", content=body, headers=headers)
    assert unknown.status_code == 404
    assert "expense" in unknown.json()["detail"]

    webhook_id = f"msg_{uuid.uuid4().hex}"
    at = datetime.now(UTC)
    garbage = b'{"type": 42}'
    signature = Webhook(secret).sign(webhook_id, at, garbage.decode())
    malformed = await flows_client.post("/events/expense", content=garbage, headers={
        "webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature})
    assert malformed.status_code == 400
    assert "type" in malformed.json()["detail"]


@pytest.fixture
async def toy_intake(flows_gateway: Gateway) -> AsyncIterator[tuple[httpx.AsyncClient, FlowEngine, list[str]]]:
    """The events API built over a toy flow and trigger, with the gateway's real policies and store."""
    seen: list[str] = []

    async def record(context: StepContext) -> StepOutput:
        seen.append(str(context.input["report"]))
        return None

    engine = FlowEngine.create(flows_gateway.runtime.engine.store, [Flow("toy-posting", (Step("record", record),))])
    runtime = Runtime(
        engine=engine, system=flows_gateway.runtime.system, database=flows_gateway.services.engine,
        triggers=(Trigger("expense", "statusChanged", "toy-posting",
                          key=lambda data: data["reportId"] if data.get("status") == "APPROVED" else None,
                          input=lambda data: {"report": data["reportId"]}),),
        webhook_secrets=flows_gateway.runtime.webhook_secrets,
    )
    api = flows_gateway.catalog.get("events")
    context = BuildContext(settings=flows_gateway.settings, catalog=flows_gateway.catalog, runtime=runtime)
    app = build_api(api, context, flows_gateway.services)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http, engine, seen


async def test_an_event_starts_its_flow_once_even_when_delivered_twice_and_out_of_order(
    flows_gateway: Gateway, toy_intake: tuple[httpx.AsyncClient, FlowEngine, list[str]],
) -> None:
    http, engine, seen = toy_intake
    secret = flows_gateway.runtime.webhook_secrets["expense"]
    submitted = _signed(secret, "statusChanged", {"reportId": "R-7", "status": "SUBMITTED"})
    approved = _signed(secret, "statusChanged", {"reportId": "R-7", "status": "APPROVED"})
    approved_again = _signed(secret, "statusChanged", {"reportId": "R-7", "status": "APPROVED"})

    answers = [await http.post("/events/expense", content=body, headers=headers)
               for body, headers in (approved, approved, submitted, approved_again)]

    assert [a.status_code for a in answers] == [202, 200, 202, 202]
    started = answers[0].json()["instances"]
    assert len(started) == 1
    assert answers[2].json()["instances"] == [], "a submitted report starts nothing"
    assert answers[3].json()["instances"] == started, "a new event for the same report reaches the same instance"
    await Worker(engine, flows_gateway.runtime.system).run_until_idle()
    assert seen == ["R-7"]
    instance = await engine.store.get(started[0])
    assert instance is not None
    assert instance.status == "completed"
    assert instance.correlation_id == answers[0].headers["x-correlation-id"]


async def test_an_event_that_does_not_fit_its_trigger_is_kept(
    flows_gateway: Gateway, toy_intake: tuple[httpx.AsyncClient, FlowEngine, list[str]],
) -> None:
    http, _, _ = toy_intake
    secret = flows_gateway.runtime.webhook_secrets["expense"]
    body, headers = _signed(secret, "statusChanged", {"status": "APPROVED"})  # no reportId
    answer = await http.post("/events/expense", content=body, headers=headers)
    assert answer.status_code == 202
    assert answer.json()["instances"] == []
    assert [row.payload for row in await _stored(flows_gateway)] == [{"status": "APPROVED"}]
