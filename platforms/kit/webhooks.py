"""Signed webhooks, delivered the way real platforms deliver them: late, twice, out of order.

Events are signed per the Standard Webhooks specification (``webhook-id``,
``webhook-timestamp``, ``webhook-signature`` = ``v1,<base64 HMAC-SHA256>``), with the
``standardwebhooks`` package, so a receiver verifies them with
``standardwebhooks.Webhook(secret).verify(body, headers)``. The body is the spec's envelope
``{"type", "timestamp", "data"}``.

Delivery runs in the background: a non-2xx answer or a connection error is retried with
exponential backoff; after the last attempt the delivery is marked ``failed``. The
:class:`~platforms.kit.faults.Faults` of the sandbox can make a delivered webhook arrive a
second time with the same ``webhook-id`` and make webhooks emitted close together arrive in
reverse order — receivers must be idempotent and must not trust arrival order.
"""

from __future__ import annotations

import asyncio
import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import msgspec
from standardwebhooks import Webhook

from platforms.kit.faults import Faults

__all__ = ["WebhookDelivery", "WebhookSender"]

_encoder = msgspec.json.Encoder(decimal_format="string")


class WebhookDelivery(msgspec.Struct, kw_only=True):
    """One emitted webhook and how its delivery went."""

    id: str
    """The ``webhook-id`` (``msg_...``), the same on every attempt and duplicate."""
    type: str
    """Event type, e.g. ``supplier.created``."""
    created_at: datetime
    """When the event was emitted (UTC)."""
    status: Literal["pending", "delivered", "failed", "not_sent"] = "pending"
    """``not_sent`` when the sandbox has no webhook URL."""
    attempts: int = 0
    """Delivery attempts so far (duplicates not counted)."""
    duplicates: int = 0
    """Extra deliveries of an already delivered webhook (a fault)."""
    last_status_code: int | None = None
    """HTTP status of the last attempt; ``None`` if it did not get an answer."""
    last_error: str | None = None
    """Why the last attempt failed, if it did."""


class _Message(msgspec.Struct):
    delivery: WebhookDelivery
    body: str


class WebhookSender:
    """Signs webhooks and delivers them in the background with retries.

    Args:
        url: Receiver URL; ``None`` records emitted events without sending them.
        secret: Standard Webhooks secret (``whsec_`` + base64).
        faults_provider: Returns the sandbox's current faults (read at delivery time).
        attempts: Delivery attempts before a webhook is marked ``failed``.
        backoff_seconds: Delay before the first retry; doubles on each further retry.
        seed: Seed for the duplicate dice (reproducible runs); ids are unique, never seeded.
        timeout_seconds: Time limit of one delivery attempt.
        reorder_window_seconds: With ``webhook_reorder``, events emitted within this window
            are collected and delivered in reverse order.
        transport: httpx transport (tests); default is the network.
    """

    def __init__(
        self,
        url: str | None,
        secret: str,
        faults_provider: Callable[[], Faults],
        *,
        attempts: int = 5,
        backoff_seconds: float = 0.5,
        seed: int | None = None,
        timeout_seconds: float = 5.0,
        reorder_window_seconds: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._signer = Webhook(secret)
        self._faults = faults_provider
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        self._rng = random.Random(seed)  # noqa: S311 - reproducible ids and dice
        self._timeout = timeout_seconds
        self._window = reorder_window_seconds
        self._transport = transport
        self._log: list[WebhookDelivery] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Message] | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unfinished = 0  # emitted and not yet done with (delivered + duplicated, or failed)

    async def start(self) -> None:
        """Start the delivery worker on the running event loop (idempotent)."""
        self._start(asyncio.get_running_loop())

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not None:
            return
        self._loop = loop
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)
        self._spawn(self._worker())

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop delivering: pending retries are abandoned, the HTTP client is closed."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        self._loop = self._queue = self._client = None
        self._unfinished = 0

    def emit(self, event_type: str, payload: dict[str, Any]) -> str:
        """Queue an event for delivery and return its webhook id.

        Callable from the event loop or from a worker thread (sync handlers). The first call
        on the loop starts the worker if the app's lifespan did not.

        Args:
            event_type: Event type, e.g. ``invoice.posted``.
            payload: The event's ``data`` (JSON-compatible; Decimals become strings).

        Returns:
            The ``webhook-id`` (``msg_...``).
        """
        with self._lock:
            # Unique across restarts of the sandbox, as a real platform's ids are: a seeded id
            # would repeat after a restart, and receivers rightly drop a repeated id.
            webhook_id = f"msg_{uuid.uuid4().hex}"
            now = datetime.now(UTC)
            envelope = {"type": event_type, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": payload}
            delivery = WebhookDelivery(id=webhook_id, type=event_type, created_at=now)
            self._log.append(delivery)
        if self.url is None:
            delivery.status = "not_sent"
            return webhook_id
        message = _Message(delivery, _encoder.encode(envelope).decode())
        with self._lock:
            self._unfinished += 1
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self._loop is None:
            if running is None:
                msg = "the webhook sender is not started and no event loop is running"
                raise RuntimeError(msg)
            self._start(running)
        assert self._loop is not None
        assert self._queue is not None
        if running is self._loop:
            self._queue.put_nowait(message)
        else:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, message)
        return webhook_id

    def deliveries(self) -> list[WebhookDelivery]:
        """The delivery log, oldest first (copies)."""
        with self._lock:
            return [msgspec.structs.replace(d) for d in self._log]

    def clear(self) -> None:
        """Forget the delivery log (sandbox reset)."""
        with self._lock:
            self._log.clear()

    async def drain(self, within: float = 10.0) -> None:
        """Wait until every emitted webhook is done with: delivered (and duplicated) or failed."""
        async with asyncio.timeout(within):
            while self._unfinished:  # noqa: ASYNC110 - emit() may run in worker threads
                await asyncio.sleep(0.01)

    async def _worker(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            if self._faults().webhook_reorder:
                deadline = loop.time() + self._window
                while (remaining := deadline - loop.time()) > 0:
                    try:
                        batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                    except TimeoutError:
                        break
                batch.reverse()
            for message in batch:
                # First attempts go out one by one, in order; retries run on their own.
                if await self._attempt(message):
                    await self._maybe_duplicate(message)
                    self._finished()
                else:
                    self._spawn(self._retry(message))

    def _finished(self) -> None:
        with self._lock:
            self._unfinished -= 1

    async def _retry(self, message: _Message) -> None:
        delay = self._backoff
        try:
            while message.delivery.attempts < self._attempts:
                await asyncio.sleep(delay)
                delay *= 2
                if await self._attempt(message):
                    await self._maybe_duplicate(message)
                    return
            message.delivery.status = "failed"
        finally:
            self._finished()

    async def _maybe_duplicate(self, message: _Message) -> None:
        rate = self._faults().webhook_duplicate_rate
        if rate and self._rng.random() < rate:
            message.delivery.duplicates += 1
            await self._send(message)

    async def _attempt(self, message: _Message) -> bool:
        message.delivery.attempts += 1
        ok = await self._send(message)
        if ok:
            message.delivery.status = "delivered"
        elif message.delivery.attempts >= self._attempts:
            message.delivery.status = "failed"
        return ok

    async def _send(self, message: _Message) -> bool:
        assert self._client is not None
        assert self.url is not None
        delivery = message.delivery
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._signer.sign(delivery.id, now, message.body),
        }
        try:
            response = await self._client.post(self.url, content=message.body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            delivery.last_status_code = None
            delivery.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return False
        delivery.last_status_code = response.status_code
        delivery.last_error = None if response.is_success else f"receiver answered {response.status_code}"
        return response.is_success
