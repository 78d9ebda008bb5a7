"""Drive another ASGI app's lifespan, for apps the gateway mounts (the sandboxes).

A mounted ASGI app never sees the server's lifespan events; whoever mounts it must start and
stop it. :func:`lifespan` does that with the ASGI lifespan protocol itself, so it works for any
ASGI app, not only Litestar's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["LifespanError", "lifespan"]

Message = MutableMapping[str, Any]
App = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
               Awaitable[None]]


class LifespanError(RuntimeError):
    """The app refused to start or failed to stop; the message is the app's own."""


@asynccontextmanager
async def lifespan(app: Any, wait_seconds: float = 30.0) -> AsyncIterator[None]:
    """Start ``app`` on entry and stop it on exit.

    Raises:
        LifespanError: Startup or shutdown failed.
    """
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()

    async def receive() -> Message:
        return await inbox.get()

    async def send(message: Message) -> None:
        await outbox.put(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    task = asyncio.create_task(app(scope, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    started = await asyncio.wait_for(outbox.get(), wait_seconds)
    if started["type"] != "lifespan.startup.complete":
        task.cancel()
        raise LifespanError(started.get("message") or "the app failed to start")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        stopped = await asyncio.wait_for(outbox.get(), wait_seconds)
        await asyncio.wait_for(task, wait_seconds)
        if stopped["type"] != "lifespan.shutdown.complete":
            raise LifespanError(stopped.get("message") or "the app failed to stop")
