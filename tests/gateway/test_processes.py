"""Behaviour only real server processes show: shared limits and clean shutdown."""

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from tests.support import finrail, running_server, server_env

pytestmark = pytest.mark.slow


def _token(base: str, credentials: dict[str, str]) -> str:
    answer = httpx.post(
        f"{base}/oauth/token", data={"grant_type": "client_credentials"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def test_two_servers_share_a_redis_limit_exactly(database_url: str, redis_url: str, tmp_path: Path) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    limit = 20
    env = server_env(
        database_url, tmp_path / "data",
        throttling__storage=redis_url, throttling__tiers__metered=f"{limit}/minute",
        throttling__spike="1000/second",
    )
    credentials = json.loads(finrail(env, "clients", "create", "metered", "--scope", "admin:catalog:read",
                                     "--tier", "metered", "--json"))
    with running_server(env, tmp_path / "a.log") as (first, _), running_server(env, tmp_path / "b.log") as (second, _):
        token = _token(first, credentials)
        headers = {"Authorization": f"Bearer {token}"}

        def call(n: int) -> int:
            base = (first, second)[n % 2]
            return httpx.get(f"{base}/admin/v1/catalog", headers=headers, timeout=10).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(call, range(limit + 15)))
    assert statuses.count(200) == limit
    assert statuses.count(429) == 15


def test_clean_shutdown_writes_every_queued_audit_record(database_url: str, tmp_path: Path) -> None:
    # Batching that would keep every read record in memory until shutdown.
    env = server_env(database_url, tmp_path / "data", audit__batch_size="100000",
                     audit__flush_interval_seconds="3600")
    credentials = json.loads(finrail(env, "clients", "create", "reader", "--scope", "admin:catalog:read", "--json"))
    with running_server(env, tmp_path / "server.log") as (base, process):
        headers = {"Authorization": f"Bearer {_token(base, credentials)}"}
        correlation_ids = []
        for _ in range(25):
            answer = httpx.get(f"{base}/admin/v1/catalog", headers=headers)
            assert answer.status_code == 200
            correlation_ids.append(answer.headers["x-correlation-id"])
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit status tells why it stopped
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    exported = [json.loads(line) for line in finrail(env, "audit", "export").splitlines()]
    recorded = {r["correlation_id"] for r in exported if r["operation"] == "read_catalog"}
    assert recorded == set(correlation_ids)
    assert finrail(env, "audit", "verify").startswith("OK")
