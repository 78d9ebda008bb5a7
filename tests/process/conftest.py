"""Fixtures of the process tier: the whole gateway, with the worker driven by the test.

``flows_gateway`` is the real gateway (policies, system APIs, embedded sandboxes, process
APIs) with no background worker; ``run_flows()`` runs the worker until nothing is due, so a
test sees each flow settle deterministically. Retries wait no time here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from gateway.app import Gateway
from gateway.settings import Settings, load_settings
from process_apis.flow.worker import Worker
from tests.support import Operator


@pytest.fixture
def flows_settings(database_url: str, tmp_path: Path) -> Settings:
    """Embedded settings with the worker left to the test and retries (almost) without waiting."""
    return load_settings(
        environ={},
        data_dir=str(tmp_path / "data"),
        storage={"url": database_url},
        throttling={"spike": "1000/second"},
        server={"embedded_worker": False},
        # No backoff of our own, but a platform's Retry-After is honoured up to a second, so a
        # test can hold a fault long enough to see the retry scheduled.
        # Scheduled windows are started by the tests that test them, not in every test.
        flows={"worker": {"backoff_base_seconds": 0.0, "backoff_cap_seconds": 1.0, "max_attempts": 3,
                          "run_schedules": False}},
    )


@pytest.fixture
def settings(flows_settings: Settings) -> Settings:
    """The suite's ``gateway``, ``client`` and ``operator`` fixtures, on the process tier's settings."""
    return flows_settings


@pytest.fixture
def flows_gateway(gateway: Gateway) -> Gateway:
    """The whole gateway, started and stopped, without a background worker."""
    return gateway


@pytest.fixture
def flows_client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """An HTTP client talking to that gateway in-process."""
    return client


@pytest.fixture
def flows_operator(operator: Operator) -> Operator:
    """A gold-tier client with every scope of the catalog."""
    return operator


@pytest.fixture
def run_flows(flows_gateway: Gateway) -> Callable[[], Awaitable[None]]:
    """Run the worker until no instance is due now."""
    worker = Worker(flows_gateway.runtime.engine, flows_gateway.runtime.system, name="test-worker")

    async def run() -> None:
        await worker.run_until_idle()

    return run
