"""Outbound rate limit: keep a connector under the platform's published request rate.

A platform that is called faster than it allows answers 429 and may lock the client out;
waiting a little on our side is cheaper. The limiter is a moving window: at most ``amount``
calls start within any ``period``; a call over the limit sleeps until a slot frees up.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from limits import parse

__all__ = ["RateLimiter"]


class RateLimiter:
    """Moving-window limiter that delays calls rather than refusing them.

    Args:
        rate: ``limits`` notation, e.g. ``25/second``, ``600 per minute``.

    Raises:
        ValueError: ``rate`` is not valid ``limits`` notation.
    """

    def __init__(self, rate: str) -> None:
        item = parse(rate)
        self.amount: int = int(item.amount)
        self.period: float = float(item.get_expiry())
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more call may start within the limit, and count it."""
        async with self._lock:
            now = time.monotonic()
            while self._starts and now - self._starts[0] >= self.period:
                self._starts.popleft()
            if len(self._starts) >= self.amount:
                await asyncio.sleep(self._starts[0] + self.period - now)
                self._starts.popleft()
            self._starts.append(time.monotonic())
