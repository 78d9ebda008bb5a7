"""Throttling: tier, spike and route limits on memory and Redis, the RateLimit fields, 429s."""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from policies import problems
from policies.call import Call, governed, public
from policies.chain import ApiIdentity, Policy, PolicyMiddleware
from policies.config import PolicyConfig, RoutePolicyConfig, ThreatConfig, ThrottlingConfig
from policies.correlation import Correlation
from policies.throttling import RateDecision, Throttle, Throttling, too_many

ROOT = Path(__file__).resolve().parents[2]
POLICY_ITEM = re.compile(r'"([a-z0-9-]+)";q=(\d+);w=(\d+)')
Factory = Callable[..., Awaitable[Throttle]]
RATELIMIT = re.compile(r'"([a-z0-9-]+)";r=(\d+);t=(\d+)')


class FakeIdentity(Policy):
    """Stands in for authentication: the client and tier come from test headers."""

    name = "authentication"

    async def on_request(self, call: Call) -> None:
        call.client_id = call.header(b"x-test-client")
        call.tier = call.header(b"x-test-tier")


@get("/items", opt=governed("x:read"))
async def items() -> str:
    return "items"


@get("/limited", opt=governed("x:read"))
async def limited() -> str:
    return "limited"


@get("/open", opt=public())
async def open_route() -> str:
    return "open"


@pytest.fixture(params=["memory", "redis"])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    if request.param == "memory":
        yield "memory://"
        return
    url: str = request.getfixturevalue("redis_url")
    client = redis.asyncio.Redis.from_url(url)
    await client.flushdb()
    await client.aclose()
    yield url


@pytest.fixture
async def throttle_factory(storage: str) -> AsyncIterator[Factory]:
    """Makes throttles on the test's storage; ``start=False`` leaves starting to the app's lifespan
    (the test client runs the app on its own event loop, where the connections must live)."""
    made: list[Throttle] = []

    async def make(*, start: bool = True, **settings: object) -> Throttle:
        config = ThrottlingConfig(storage=storage, **settings)  # type: ignore[arg-type]
        throttle = Throttle(config, namespace=f"test-{uuid.uuid4().hex}")
        if start:
            await throttle.start()
            made.append(throttle)
        return throttle

    yield make
    for throttle in made:
        await throttle.close()


def make_app(throttle: Throttle, config: PolicyConfig | None = None) -> Litestar:
    api = ApiIdentity("t", 1, config or PolicyConfig(), ThreatConfig())
    return Litestar(
        [items, limited, open_route],
        middleware=[PolicyMiddleware(api, [Correlation(), FakeIdentity(), Throttling(throttle)])],
        exception_handlers=problems.exception_handlers,
        on_startup=[throttle.start],
        on_shutdown=[throttle.close],
    )


def who(client: str, tier: str | None = None) -> dict[str, str]:
    headers = {"x-test-client": client}
    if tier:
        headers["x-test-tier"] = tier
    return headers


async def test_tier_limits_differ_by_tier(throttle_factory: Factory) -> None:
    throttle = await throttle_factory(
        start=False, tiers={"gold": "5/minute", "silver": "3/minute"}, default_tier="silver"
    )
    async with AsyncTestClient(app=make_app(throttle)) as client:
        gold = [(await client.get("/items", headers=who("cl_gold", "gold"))).status_code for _ in range(6)]
        silver = [
            (await client.get("/items", headers=who("cl_silver", "silver"))).status_code for _ in range(4)
        ]
        unknown = [
            (await client.get("/items", headers=who("cl_odd", "platinum"))).status_code for _ in range(4)
        ]
    assert gold == [200] * 5 + [429]
    assert silver == [200] * 3 + [429]
    assert unknown == [200] * 3 + [429]  # an unlisted tier falls back to the default tier


async def test_clients_are_counted_separately(throttle_factory: Factory) -> None:
    throttle = await throttle_factory(start=False, tiers={"silver": "2/minute"}, default_tier="silver")
    async with AsyncTestClient(app=make_app(throttle)) as client:
        first = [(await client.get("/items", headers=who("cl_a"))).status_code for _ in range(3)]
        second = [(await client.get("/items", headers=who("cl_b"))).status_code for _ in range(2)]
    assert first == [200, 200, 429]
    assert second == [200, 200]


async def test_spike_limit(throttle_factory: Factory) -> None:
    throttle = await throttle_factory(
        start=False, tiers={"silver": "1000/minute"}, default_tier="silver", spike="2/second"
    )
    async with AsyncTestClient(app=make_app(throttle)) as client:
        responses = [await client.get("/items", headers=who("cl_x")) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert responses[2].json()["detail"].startswith("client cl_x exceeded the spike limit of 2 per 1 s")
    assert RATELIMIT.fullmatch(responses[2].headers["ratelimit"]).group(1) == "spike"  # type: ignore[union-attr]


async def test_route_limit_from_settings(throttle_factory: Factory) -> None:
    throttle = await throttle_factory(start=False, tiers={"silver": "1000/minute"}, default_tier="silver")
    config = PolicyConfig(routes={"GET /limited": RoutePolicyConfig(rate="2/minute")})
    async with AsyncTestClient(app=make_app(throttle, config)) as client:
        limited_codes = [(await client.get("/limited", headers=who("cl_x"))).status_code for _ in range(3)]
        items_codes = [(await client.get("/items", headers=who("cl_x"))).status_code for _ in range(3)]
        refused = await client.get("/limited", headers=who("cl_x"))
        policy = refused.headers["ratelimit-policy"]
    assert limited_codes == [200, 200, 429]
    assert items_codes == [200, 200, 200]
    assert refused.json()["detail"].startswith("client cl_x exceeded the limit of 2 per 60 s on GET /limited")
    assert POLICY_ITEM.findall(policy) == [
        ("tier-silver", "1000", "60"),
        ("spike", "50", "1"),
        ("route", "2", "60"),
    ]


async def test_api_and_route_limits_together(throttle_factory: Factory) -> None:
    throttle = await throttle_factory(start=False, tiers={"silver": "1000/minute"}, default_tier="silver")
    config = PolicyConfig(rate="4/minute", routes={"GET /limited": RoutePolicyConfig(rate="2/hour")})
    async with AsyncTestClient(app=make_app(throttle, config)) as client:
        codes = [(await client.get("/limited", headers=who("cl_x"))).status_code for _ in range(3)]
        refused = await client.get("/limited", headers=who("cl_x"))
    assert codes == [200, 200, 429]
    names = [name for name, _, _ in POLICY_ITEM.findall(refused.headers["ratelimit-policy"])]
    assert names == ["tier-silver", "spike", "route", "route-2"]
    assert RATELIMIT.fullmatch(refused.headers["ratelimit"]).group(1) == "route-2"  # type: ignore[union-attr]


async def test_ratelimit_fields_syntax(throttle_factory: Factory) -> None:
    throttle = await throttle_factory(
        start=False, tiers={"silver": "10/minute"}, default_tier="silver", spike="50/second"
    )
    async with AsyncTestClient(app=make_app(throttle)) as client:
        responses = [await client.get("/items", headers=who("cl_x", "silver")) for _ in range(3)]
    for index, response in enumerate(responses):
        assert response.headers["ratelimit-policy"] == '"tier-silver";q=10;w=60, "spike";q=50;w=1'
        match = RATELIMIT.fullmatch(response.headers["ratelimit"])
        assert match is not None
        name, remaining, reset = match.group(1), int(match.group(2)), int(match.group(3))
        assert name == "tier-silver"  # 10 per minute is tighter than 50 per second once used
        assert remaining == 10 - (index + 1)
        assert 0 < reset <= 60


async def test_429_is_a_problem_with_retry_after(throttle_factory: Factory) -> None:
    throttle = await throttle_factory(start=False, tiers={"silver": "1/minute"}, default_tier="silver")
    async with AsyncTestClient(app=make_app(throttle)) as client:
        assert (await client.get("/items", headers=who("cl_x"))).status_code == 200
        response = await client.get("/items", headers=who("cl_x"))
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    document = response.json()
    assert document["type"].endswith("/rate-limited")
    assert document["detail"] == (
        f"client cl_x exceeded its silver tier limit of 1 per 60 s; retry after {retry_after} s"
    )
    assert document["correlation_id"] == response.headers["x-correlation-id"]
    assert RATELIMIT.fullmatch(response.headers["ratelimit"]).groups() == (  # type: ignore[union-attr]
        "tier-silver",
        "0",
        str(retry_after),
    )


async def test_public_route_is_limited_per_address(throttle_factory: Factory) -> None:
    throttle = await throttle_factory(start=False, tiers={"bronze": "2/minute"}, default_tier="bronze")
    async with AsyncTestClient(app=make_app(throttle)) as client:
        codes = [(await client.get("/open")).status_code for _ in range(3)]
        refused = await client.get("/open")
        client_codes = [(await client.get("/items", headers=who("cl_x"))).status_code for _ in range(2)]
    assert codes == [200, 200, 429]
    assert refused.json()["detail"].startswith("this address exceeded its bronze tier limit of 2 per 60 s")
    assert client_codes == [200, 200]


async def test_disabled_throttling_does_nothing(throttle_factory: Factory) -> None:
    throttle = await throttle_factory(
        start=False, tiers={"silver": "1/minute"}, default_tier="silver", enabled=False
    )
    async with AsyncTestClient(app=make_app(throttle)) as client:
        responses = [await client.get("/items", headers=who("cl_x")) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "ratelimit" not in responses[-1].headers


async def test_hit_key_counts_down_and_refuses(throttle_factory: Factory) -> None:
    throttle = await throttle_factory()
    decisions = [await throttle.hit_key("token-addr", "10.0.0.1", "3/minute") for _ in range(4)]
    other = await throttle.hit_key("token-addr", "10.0.0.2", "3/minute")
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert all(d.limit == 3 and d.window == 60 and 0 < d.reset <= 60 for d in decisions)
    assert decisions[0].retry_after == 0
    assert 1 <= decisions[3].retry_after <= 60
    assert other.allowed
    assert other.remaining == 2


async def test_window_resets(throttle_factory: Factory) -> None:
    throttle = await throttle_factory()
    first = [await throttle.hit_key("w", "k", "1/second") for _ in range(2)]
    assert [d.allowed for d in first] == [True, False]
    await asyncio.sleep(1.1)
    assert (await throttle.hit_key("w", "k", "1/second")).allowed


async def test_ping(throttle_factory: Factory) -> None:
    throttle = await throttle_factory()
    assert await throttle.ping()
    await throttle.close()
    assert not await throttle.ping()


async def test_ping_fails_when_redis_is_unreachable() -> None:
    throttle = Throttle(ThrottlingConfig(storage="redis://127.0.0.1:1/0"))
    await throttle.start()
    try:
        assert not await throttle.ping()
    finally:
        await throttle.close()


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"throttling\.tiers\.gold: 'lots' is not a rate"):
        Throttle(ThrottlingConfig(tiers={"gold": "lots"}))
    with pytest.raises(ValueError, match=r"throttling\.spike"):
        Throttle(ThrottlingConfig(spike="50 per fortnight"))


async def test_bad_storage_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"throttling\.storage"):
        await Throttle(ThrottlingConfig(storage="memcached://x")).start()


def test_too_many() -> None:
    decision = RateDecision(name="spike", limit=5, remaining=0, reset=0, window=1, allowed=False)
    problem = too_many(decision, "slow down")
    assert problem.status == 429
    assert problem.kind == "rate-limited"
    assert problem.headers == {"Retry-After": "1"}  # never "come back in 0 seconds"


HITTER = """
import asyncio, sys
import redis.asyncio
from policies.config import ThrottlingConfig
from policies.throttling import Throttle

async def main(url, namespace, limit, hits):
    throttle = Throttle(ThrottlingConfig(storage=url), namespace=namespace)
    await throttle.start()
    barrier = redis.asyncio.Redis.from_url(url)
    await barrier.incr(namespace + ":ready")
    while int(await barrier.get(namespace + ":ready")) < 2:  # both processes start together
        await asyncio.sleep(0.001)
    await barrier.aclose()
    allowed = 0
    for _ in range(int(hits) // 10):  # waves of 10 concurrent hits, interleaving with the other process
        decisions = await asyncio.gather(
            *(throttle.hit_key("shared", "cl_x", f"{limit}/minute") for _ in range(10))
        )
        allowed += sum(d.allowed for d in decisions)
    await throttle.close()
    print(allowed)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_redis_limit_is_exact_across_processes(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    namespace = f"test-{uuid.uuid4().hex}"
    limit, hits = 157, 200
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HITTER,
            redis_url,
            namespace,
            str(limit),
            str(hits),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = [await process.communicate() for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    allowed = [int(out.decode()) for out, _ in outputs]
    assert sum(allowed) == limit
    assert all(0 < count < limit for count in allowed), allowed  # both really competed


async def test_rate_decisions_reach_redis(redis_url: str) -> None:
    """The Redis storage really counts in Redis: a second Throttle sees the first one's hits."""
    client = redis.asyncio.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    namespace = f"test-{uuid.uuid4().hex}"
    first = Throttle(ThrottlingConfig(storage=redis_url), namespace=namespace)
    second = Throttle(ThrottlingConfig(storage=redis_url), namespace=namespace)
    await first.start()
    await second.start()
    try:
        await first.hit_key("n", "k", "5/minute")
        await first.hit_key("n", "k", "5/minute")
        decision = await second.hit_key("n", "k", "5/minute")
    finally:
        await first.close()
        await second.close()
    assert decision.remaining == 2
    assert 0 < decision.reset <= 60
