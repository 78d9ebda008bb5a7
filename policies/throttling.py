"""Throttling: per-client limits by SLA tier, a spike limit, and per-API and per-route limits.

Counting uses the ``limits`` library's fixed-window strategy: one atomic increment per limit
(``INCR`` in a Lua script on Redis), so with ``redis://`` storage several processes share a
limit exactly. On Redis the increments of all the limits of one call run in one script, so a
call costs one round trip however many limits apply. Every answer carries the fields of
draft-ietf-httpapi-ratelimit-headers (``RateLimit-Policy`` and ``RateLimit``, structured-field
form); a refused call is answered 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import redis.asyncio
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage, Storage
from limits.storage import MemoryStorage
from redis.commands.core import AsyncScript

from policies.call import Call, RoutePolicy
from policies.chain import Policy
from policies.config import INTERNAL_TIER, ThrottlingConfig
from policies.problems import Problem

__all__ = ["RateDecision", "Throttle", "Throttling", "too_many"]

_EXPIRY_CACHE_LIMIT = 100_000
_REDIS_PREFIX = RedisStorage.PREFIX + ":"
"""How the ``limits`` Redis storage prefixes its keys; the batch script below uses the same keys."""

# The fixed-window step of limits' ``incr_expire.lua`` (INCR, and EXPIRE when the window opens),
# applied to every limit of a call in one round trip, answering each window's time left as well.
# One script per call instead of one per limit keeps Redis throttling close to memory throttling.
_INCR_ALL = """
local out = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('incrby', key, 1)
  if count == 1 then redis.call('expire', key, ARGV[i]) end
  out[2 * i - 1] = count
  out[2 * i] = redis.call('pttl', key)
end
return out
"""


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one limit for one call."""

    name: str
    """Policy name as shown in ``RateLimit-Policy``: ``tier-<tier>``, ``spike``, ``route``…"""
    limit: int
    """Calls allowed per window (the field's ``q``)."""
    remaining: int
    """Calls left in the current window (``r``)."""
    reset: int
    """Seconds until the current window ends (``t``)."""
    window: int
    """Length of the window in seconds (``w``)."""
    allowed: bool
    """This call fits in the limit."""

    @property
    def retry_after(self) -> int:
        """Seconds a refused client must wait (``Retry-After``); 0 when the call was allowed."""
        return 0 if self.allowed else max(1, self.reset)


@dataclass(frozen=True, slots=True)
class _Rate:
    """A parsed rate, with what its storage key and the headers need precomputed."""

    item: RateLimitItem
    limit: int
    window: int
    suffix: str


def _decision(name: str, rate: _Rate, count: int, seconds_left: float) -> RateDecision:
    return RateDecision(
        name=name,
        limit=rate.limit,
        remaining=max(0, rate.limit - count),
        reset=min(rate.window, max(0, math.ceil(seconds_left))),
        window=rate.window,
        allowed=count <= rate.limit,
    )


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    rate: _Rate
    tail: str
    """Appended to ``<namespace>/<identity>`` to make the storage key."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """The limits of one (tier, route) pair, resolved once."""

    route: RoutePolicy
    tier: str
    steps: tuple[_Step, ...]
    windows: list[int]
    """Window of each step, in seconds (the batch script's arguments)."""
    policy_field: str
    """Value of ``RateLimit-Policy``: it depends on the plan only, never on the counts."""


class _MemoryStorage(MemoryStorage):
    """``limits``' (synchronous) memory storage, sweeping expired counters at most once a second.

    In one process an increment is a dictionary update, so the synchronous storage serves the
    event loop directly: the asynchronous one wraps the same update in two coroutine layers,
    which cost more than the update itself on every call. The stock storage also starts a
    sweeping thread after each increment that finds the previous sweep finished, so under load
    every hit costs a pass over all counters; expired counters are already ignored when read,
    so a sweep only frees memory, and once a second is plenty for that.
    """

    _next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 (overrides a private method)
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + 1.0
            super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


def _storage_for(url: str) -> tuple[Storage | _MemoryStorage, redis.asyncio.ConnectionPool | None]:
    if url.startswith("memory://"):
        return _MemoryStorage(), None
    if url.startswith(("redis://", "rediss://")):
        # limits defaults to coredis; Finrail depends on redis-py (redis<8), so say so. The pool
        # is ours, so that close() really closes the connections.
        pool = redis.asyncio.ConnectionPool.from_url(url)
        return RedisStorage(f"async+{url}", implementation="redispy", connection_pool=pool), pool  # type: ignore[arg-type]
    raise ValueError(f"throttling.storage: unsupported storage {url!r} (use memory:// or redis://)")


class Throttle:
    """Counts calls against rate limits; one per process, shared by every API.

    Args:
        config: The throttling settings.
        namespace: Prefix of every counter key (lets tests and deployments share a Redis).
    """

    def __init__(self, config: ThrottlingConfig, *, namespace: str = "finrail") -> None:
        self.config = config
        self.namespace = namespace
        self._prefix = namespace + "/"
        self._storage: Storage | _MemoryStorage | None = None
        self._pool: redis.asyncio.ConnectionPool | None = None
        self._redis: redis.asyncio.Redis | None = None
        self._incr_all: AsyncScript | None = None
        self._rates: dict[str, _Rate] = {}
        self._plans: dict[tuple[str, int], _Plan] = {}
        self._expiries: dict[str, float] = {}
        for tier, rate in config.tiers.items():
            self._checked(f"throttling.tiers.{tier}", rate)
        self._checked("throttling.spike", config.spike)

    def _checked(self, setting: str, rate: str) -> _Rate:
        try:
            return self.rate(rate)
        except ValueError:
            raise ValueError(f"{setting}: {rate!r} is not a rate such as '100/minute'") from None

    def rate(self, rate: str) -> _Rate:
        """Parse ``rate`` (``limits`` notation) once; later calls return the cached parse."""
        parsed = self._rates.get(rate)
        if parsed is None:
            item = parse(rate)
            window = item.get_expiry()
            suffix = f"{item.amount}/{item.multiples}/{item.GRANULARITY.name}"
            parsed = self._rates[rate] = _Rate(item, item.amount, window, suffix)
        return parsed

    async def start(self) -> None:
        """Open the counter storage named by ``config.storage``."""
        self._storage, self._pool = _storage_for(self.config.storage)
        if self._pool is not None:
            self._redis = redis.asyncio.Redis(connection_pool=self._pool)
            self._incr_all = self._redis.register_script(_INCR_ALL)

    async def close(self) -> None:
        """Release the storage's connections (or the in-memory expiry task)."""
        storage, pool, client = self._storage, self._pool, self._redis
        self._storage = self._pool = self._redis = self._incr_all = None
        if client is not None:
            await client.aclose()
        if pool is not None:
            await pool.aclose()
        timer = getattr(storage, "timer", None)
        if timer is not None and hasattr(timer, "cancel"):
            timer.cancel()

    async def ping(self) -> bool:
        """Whether the counter storage answers (for ``/health/ready``)."""
        if self._storage is None:
            return False
        try:
            if isinstance(self._storage, _MemoryStorage):
                return self._storage.check()
            return bool(await self._storage.check())
        except Exception:
            return False

    def _require(self) -> Storage | _MemoryStorage:
        if self._storage is None:
            raise RuntimeError("Throttle.start() was not awaited")
        return self._storage

    async def _hit(self, name: str, key: str, rate: _Rate) -> RateDecision:
        storage = self._storage or self._require()
        if isinstance(storage, _MemoryStorage):
            return self._count_in_memory(storage, name, key, rate)
        count = await storage.incr(key, rate.window)
        now = time.time()
        expiries = self._expiries
        if count == 1:
            expiry = expiries[key] = now + rate.window
        else:
            # The window's end is fixed when its first hit lands; ask the storage only when this
            # process has not seen that end yet (or it has passed: a new window began elsewhere).
            expiry = expiries.get(key, 0.0)
            if expiry <= now:
                expiry = expiries[key] = await storage.get_expiry(key)
                self._trim_expiries(now)
        return _decision(name, rate, count, expiry - now)

    def _count_in_memory(self, storage: _MemoryStorage, name: str, key: str, rate: _Rate) -> RateDecision:
        count = storage.incr(key, rate.window)
        now = time.time()
        expiries = self._expiries
        expiry = expiries.get(key, 0.0)
        if count == 1 or expiry <= now:
            expiry = expiries[key] = storage.get_expiry(key)
            self._trim_expiries(now)
        return _decision(name, rate, count, expiry - now)

    def _trim_expiries(self, now: float) -> None:
        if len(self._expiries) > _EXPIRY_CACHE_LIMIT:
            self._expiries = {k: v for k, v in self._expiries.items() if v > now}

    async def hit_key(self, namespace: str, key: str, rate: str) -> RateDecision:
        """Count one call against ``rate`` for ``key`` (e.g. the token endpoint per address).

        Args:
            namespace: What is limited, e.g. ``"token-client"``; also the decision's name.
            key: Who is limited, e.g. a client id or an address.
            rate: The limit in ``limits`` notation, e.g. ``"30/minute"``.

        Returns:
            The decision; ``allowed`` is false once the limit is exceeded.
        """
        parsed = self.rate(rate)
        return await self._hit(namespace, f"{self._prefix}{namespace}/{key}/{parsed.suffix}", parsed)

    def _plan(self, tier: str, route: RoutePolicy) -> _Plan:
        cache_key = (tier, id(route))
        plan = self._plans.get(cache_key)
        if plan is not None and plan.route is route:
            return plan
        steps: list[_Step] = []
        tier_rate = self.config.tiers.get(tier)
        if tier_rate and tier != INTERNAL_TIER:
            rate = self.rate(tier_rate)
            steps.append(_Step(f"tier-{tier}", rate, f"/tier/{rate.suffix}"))
        if self.config.spike and tier != INTERNAL_TIER:
            rate = self.rate(self.config.spike)
            steps.append(_Step("spike", rate, f"/spike/{rate.suffix}"))
        for index, text in enumerate(route.rates):
            rate = self.rate(text)
            name = "route" if index == 0 else f"route-{index + 1}"
            steps.append(_Step(name, rate, f"/{route.api}/{route.key}#{index}/{rate.suffix}"))
        policy_field = ", ".join(f'"{s.name}";q={s.rate.limit};w={s.rate.window}' for s in steps)
        windows = [s.rate.window for s in steps]
        plan = self._plans[cache_key] = _Plan(route, tier, tuple(steps), windows, policy_field)
        return plan

    def identity(self, call: Call) -> str:
        """Who a call counts against: its client, or for a public route its source address."""
        if call.client_id is not None:
            return "c:" + call.client_id
        address = call.remote_addr
        if not address:
            client = call.scope.get("client")
            address = client[0] if client else "unknown"
        return "a:" + address

    async def evaluate(self, call: Call) -> tuple[list[RateDecision], str]:
        """Count the call against every limit that applies to it.

        Returns:
            The decisions (tier, spike, then the API's and the route's own limits), and the
            ``RateLimit-Policy`` field value describing them.
        """
        config = self.config
        tier = call.tier if call.tier in config.tiers or call.tier == INTERNAL_TIER else config.default_tier
        plan = self._plan(tier, call.route)
        base = self._prefix + self.identity(call)
        steps = plan.steps
        if self._incr_all is not None:
            redis_base = _REDIS_PREFIX + base
            replies = await self._incr_all(keys=[redis_base + s.tail for s in steps], args=plan.windows)
            decisions = [
                _decision(step.name, step.rate, replies[2 * i], replies[2 * i + 1] / 1000)
                for i, step in enumerate(steps)
            ]
        elif isinstance(self._storage, _MemoryStorage):
            memory = self._storage
            decisions = [self._count_in_memory(memory, s.name, base + s.tail, s.rate) for s in steps]
        else:
            decisions = [await self._hit(s.name, base + s.tail, s.rate) for s in steps]
        return decisions, plan.policy_field

    async def check(self, call: Call) -> list[RateDecision]:
        """Count the call against its tier, spike and route limits; one decision per limit."""
        return (await self.evaluate(call))[0]


def too_many(decision: RateDecision, detail: str) -> Problem:
    """The 429 answer for a refused call, telling the client when to come back."""
    return Problem(
        429,
        detail,
        kind="rate-limited",
        headers={"Retry-After": str(decision.retry_after)},
    )


def _most_restrictive(decisions: list[RateDecision]) -> RateDecision:
    refused = [d for d in decisions if not d.allowed]
    if refused:
        return max(refused, key=lambda d: d.reset)
    return min(decisions, key=lambda d: (d.remaining, -d.reset))


def _detail(call: Call, decision: RateDecision) -> str:
    who = f"client {call.client_id}" if call.client_id is not None else "this address"
    limit = f"{decision.limit} per {decision.window} s"
    wait = f"retry after {decision.retry_after} s"
    if decision.name.startswith("tier-"):
        return f"{who} exceeded its {decision.name[5:]} tier limit of {limit}; {wait}"
    if decision.name == "spike":
        return f"{who} exceeded the spike limit of {limit}; {wait}"
    return f"{who} exceeded the limit of {limit} on {call.route.key}; {wait}"


class Throttling(Policy):
    """Refuse calls over their limits (429) and tell every caller where it stands."""

    name = "throttling"

    def __init__(self, throttle: Throttle) -> None:
        self.throttle = throttle
        self.enabled = throttle.config.enabled

    async def on_request(self, call: Call) -> None:
        """Count the call; add the RateLimit fields; refuse it when a limit is exceeded."""
        if not self.enabled:
            return
        decisions, policy_field = await self.throttle.evaluate(call)
        if not decisions:
            return
        current = _most_restrictive(decisions) if len(decisions) > 1 else decisions[0]
        call.add_header("RateLimit-Policy", policy_field)
        call.add_header("RateLimit", f'"{current.name}";r={current.remaining};t={current.reset}')
        if not current.allowed:
            call.throttled = True
            raise too_many(current, _detail(call, current))
