"""Webhooks from a sandbox to a real HTTP receiver (uvicorn on a local port): signed, retried, faulted."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar, post
from litestar.di import NamedDependency
from standardwebhooks import Webhook, WebhookVerificationError

from platforms.kit import DEFAULT_WEBHOOK_SECRET, Faults, SandboxConfig, SandboxState, WebhookSender, build_sandbox

Sandbox = NamedDependency[SandboxState]


@dataclass
class Receiver:
    """A webhook endpoint that records what it gets and fails the first attempts on demand."""

    url: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_first: int = 0
    calls: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.calls += 1
        status = 500 if self.calls <= self.fail_first else 204
        if status == 204:
            headers = {k.decode(): v.decode() for k, v in scope["headers"]}
            self.received.append((headers, body))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def verified(self, secret: str = DEFAULT_WEBHOOK_SECRET) -> list[tuple[str, dict[str, Any]]]:
        webhook = Webhook(secret)
        return [(headers["webhook-id"], webhook.verify(body, headers)) for headers, body in self.received]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(endpoint, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "receiver did not start"
        time.sleep(0.01)
    endpoint.url = f"http://127.0.0.1:{port}/hooks"
    yield endpoint
    server.should_exit = True
    thread.join(timeout=10)


async def wait_for(predicate: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_webhooks_are_signed_per_standard_webhooks(receiver: Receiver) -> None:
    sender = WebhookSender(receiver.url, DEFAULT_WEBHOOK_SECRET, Faults)
    await sender.start()
    try:
        webhook_id = sender.emit("invoice.posted", {"invoice": "5100000001", "amount": "12.50"})
        await sender.drain()
    finally:
        await sender.close()
    assert webhook_id.startswith("msg_")
    [(received_id, payload)] = receiver.verified()
    assert received_id == webhook_id
    assert payload["type"] == "invoice.posted"
    assert payload["data"] == {"invoice": "5100000001", "amount": "12.50"}
    headers, body = receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "b3RoZXItc2VjcmV0LXZhbHVlIQ==").verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(DEFAULT_WEBHOOK_SECRET).verify(body.replace(b"12.50", b"99.50"), headers)


async def test_failed_deliveries_are_retried_with_backoff(receiver: Receiver) -> None:
    receiver.fail_first = 2
    sender = WebhookSender(receiver.url, DEFAULT_WEBHOOK_SECRET, Faults, backoff_seconds=0.1)
    await sender.start()
    try:
        started = time.monotonic()
        webhook_id = sender.emit("supplier.created", {"supplier": "1"})
        await sender.drain()
        elapsed = time.monotonic() - started
    finally:
        await sender.close()
    assert elapsed >= 0.1 + 0.2  # two retries: 0.1 s, then 0.2 s
    [delivery] = sender.deliveries()
    assert (delivery.id, delivery.status, delivery.attempts, delivery.last_status_code) == (
        webhook_id,
        "delivered",
        3,
        204,
    )
    assert [wid for wid, _ in receiver.verified()] == [webhook_id]


async def test_delivery_gives_up_after_the_last_attempt() -> None:
    port = free_port()  # nobody listens: every attempt is a connection error
    url = f"http://127.0.0.1:{port}/"
    sender = WebhookSender(url, DEFAULT_WEBHOOK_SECRET, Faults, attempts=3, backoff_seconds=0.01)
    await sender.start()
    try:
        sender.emit("payment.settled", {"payment": "P1"})
        await sender.drain()
    finally:
        await sender.close()
    [delivery] = sender.deliveries()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, None)
    assert delivery.last_error is not None


async def test_duplicate_fault_delivers_the_same_id_twice(receiver: Receiver) -> None:
    sender = WebhookSender(receiver.url, DEFAULT_WEBHOOK_SECRET, lambda: Faults(webhook_duplicate_rate=1.0))
    await sender.start()
    try:
        webhook_id = sender.emit("expense.report.statusChanged", {"report": "R1"})
        await sender.drain()
        await wait_for(lambda: len(receiver.received) == 2)
    finally:
        await sender.close()
    assert [wid for wid, _ in receiver.verified()] == [webhook_id, webhook_id]
    assert sender.deliveries()[0].duplicates == 1


async def test_reorder_fault_delivers_close_events_in_reverse_order(receiver: Receiver) -> None:
    sender = WebhookSender(receiver.url, DEFAULT_WEBHOOK_SECRET, lambda: Faults(webhook_reorder=True))
    await sender.start()
    try:
        ids = [sender.emit("po.issued", {"po": str(n)}) for n in range(3)]
        await sender.drain()
    finally:
        await sender.close()
    assert [wid for wid, _ in receiver.verified()] == list(reversed(ids))


@post("/events", sync_to_thread=False)
def raise_event(sandbox: Sandbox) -> dict[str, str]:
    return {"id": sandbox.emit("thing.happened", {"n": sandbox.store.next_number("event")})}


async def test_a_sandbox_emits_through_its_state_and_logs_deliveries(receiver: Receiver) -> None:
    config = SandboxConfig(webhook_url=receiver.url, seed=5)
    app: Litestar = build_sandbox("toy", config, [raise_event], lambda s, m: ("text/plain", m.encode()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://toy") as client:
        await client.put("/_sandbox/faults", json={"webhook_duplicate_rate": 1.0})
        webhook_id = (await client.post("/events")).json()["id"]
        await app.state.sandbox.webhooks.drain()
        log = (await client.get("/_sandbox/webhooks")).json()
        await app.state.sandbox.webhooks.close()
    assert [(e["id"], e["type"], e["status"], e["attempts"], e["duplicates"]) for e in log] == [
        (webhook_id, "thing.happened", "delivered", 1, 1)
    ]
    await wait_for(lambda: len(receiver.received) == 2)
    assert [payload["data"] for _, payload in receiver.verified()] == [{"n": 1}, {"n": 1}]


async def test_without_a_url_events_are_logged_not_sent() -> None:
    sender = WebhookSender(None, DEFAULT_WEBHOOK_SECRET, Faults)
    sender.emit("a.b", {})
    assert [d.status for d in sender.deliveries()] == ["not_sent"]
