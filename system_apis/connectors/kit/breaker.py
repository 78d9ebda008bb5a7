"""A circuit breaker: stop calling a platform that keeps failing, try again later.

Closed: calls flow, consecutive failures are counted. After ``failures`` in a row the circuit
opens: calls fail fast without touching the platform, which gives it room to recover and
keeps callers from waiting on timeouts. After ``reset_seconds`` it is half-open: one trial
call goes through; success closes the circuit, failure opens it again for another period.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

__all__ = ["CircuitBreaker", "CircuitOpen"]

State = Literal["closed", "open", "half-open"]


class CircuitOpen(Exception):  # noqa: N818 - a state, not a failure of the caller
    """The circuit is open: the call was not made.

    Args:
        retry_after: Seconds until a trial call will be let through.
    """

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"circuit open; next trial in {retry_after:.1f} s")
        self.retry_after = retry_after


class CircuitBreaker:
    """Consecutive-failure circuit breaker (one per platform client, event-loop local).

    Args:
        failures: Consecutive failures that open the circuit.
        reset_seconds: How long the circuit stays open before a trial call.
        clock: Monotonic clock (tests may pass their own).
    """

    def __init__(self, failures: int, reset_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = max(1, failures)
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._count = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> State:
        """``closed``, ``open`` or ``half-open`` (open, and the reset time has passed)."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_seconds:
            return "half-open"
        return "open"

    def before_call(self) -> None:
        """Let a call through, or raise :class:`CircuitOpen`.

        Raises:
            CircuitOpen: The circuit is open, or half-open with its trial call in flight.
        """
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return
        assert self._opened_at is not None
        remaining = self.reset_seconds - (self._clock() - self._opened_at)
        raise CircuitOpen(max(remaining, 0.0) or self.reset_seconds)

    def record_success(self) -> None:
        """The platform answered: close the circuit."""
        self._count = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        """The platform failed (timeout, connection error, 5xx): count it, maybe open."""
        self._count += 1
        if self._trial_in_flight or self._count >= self.failures:
            self._opened_at = self._clock()
        self._trial_in_flight = False
