"""The process tier at run time: its APIs, its flow engine, its worker and its service client.

Process packages are found by convention: every ``process_apis/<package>/`` with an ``api``
module is a process API (``NAME``, ``PREFIX``, ``SUMMARY``, ``SCOPES``, ``routes(runtime)``),
and its ``flows`` module, if any, contributes ``FLOWS``, ``TRIGGERS`` and ``SCHEDULES``. The
flows call the system APIs over HTTP like any client, with a token of Finrail's own service
client: in-process through the gateway's ASGI app in the embedded default, or at
``[flows] system_url`` when the system tier runs elsewhere.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import pkgutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import httpx

import process_apis
from gateway.settings import Settings
from policies.services import PolicyServices
from process_apis.flow.client import SystemClient
from process_apis.flow.runtime import ProcessDefinition, Runtime
from process_apis.flow.store import FlowStore
from process_apis.flow.worker import FlowEngine, Worker

__all__ = ["SERVICE_CLIENT_ID", "ProcessSpec", "ServiceTokens", "discover", "process_runtime", "start_worker"]

SERVICE_CLIENT_ID = "svc_finrail_flows"
"""Client id of the service client the flows call the system APIs with."""

INTERNAL_BASE_URL = "http://finrail.internal"


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One process package."""

    package: str
    """Package name under ``process_apis``."""

    def api_module(self) -> ModuleType:
        """The process API module."""
        return importlib.import_module(f"process_apis.{self.package}.api")

    def definition(self) -> ProcessDefinition:
        """Flows, triggers and schedules of the package (none when it has no ``flows`` module)."""
        try:
            module = importlib.import_module(f"process_apis.{self.package}.flows")
        except ModuleNotFoundError as exc:
            if exc.name != f"process_apis.{self.package}.flows":
                raise
            return ProcessDefinition()
        return ProcessDefinition.of(module)


def discover() -> tuple[ProcessSpec, ...]:
    """Every process package with an API, by package name."""
    found = []
    for module in sorted(pkgutil.iter_modules(process_apis.__path__), key=lambda m: m.name):
        if module.ispkg and importlib.util.find_spec(f"process_apis.{module.name}.api") is not None:
            found.append(ProcessSpec(module.name))
    return tuple(found)


class ServiceTokens:
    """Access tokens of the flows' service client, minted in-process and reused until near expiry.

    Args:
        services: Policy services (client registry and token service).
        scopes: Scopes the service client holds (every system and process scope).
    """

    def __init__(self, services: PolicyServices, scopes: Iterable[str]) -> None:
        self.services = services
        self.scopes = tuple(sorted(scopes))
        self._token: tuple[str, float] | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        """A token valid for at least another minute."""
        if self._token is not None and self._token[1] - time.monotonic() > 60:
            return self._token[0]
        async with self._lock:
            if self._token is None or self._token[1] - time.monotonic() <= 60:
                client = await self.services.clients.ensure_service(
                    SERVICE_CLIENT_ID, "Finrail flows (service client)", self.scopes)
                issued = await self.services.tokens.issue(client, None)
                self._token = (issued.access_token, time.monotonic() + issued.expires_in)
            return self._token[0]


def process_runtime(
    settings: Settings, services: PolicyServices, specs: Sequence[ProcessSpec], scopes: Iterable[str], app: Any,
    webhook_secrets: Mapping[str, str],
) -> tuple[Runtime, httpx.AsyncClient]:
    """The runtime every process API and the worker share, and the HTTP client it owns.

    Args:
        settings: The settings (``[flows]``).
        services: Policy services, for the service client's tokens.
        specs: The process packages.
        scopes: Scopes of the service client.
        app: The gateway's ASGI app, called in-process unless ``[flows] system_url`` is set.
        webhook_secrets: Secret of each platform whose signed events ``/events`` accepts.
    """
    definitions = [spec.definition() for spec in specs]
    engine = FlowEngine.create(
        FlowStore(services.engine),
        [flow for definition in definitions for flow in definition.flows],
        settings.flows.worker,
        [schedule for definition in definitions for schedule in definition.schedules],
    )
    timeout = httpx.Timeout(settings.flows.worker.step_timeout_seconds)
    if settings.flows.system_url:
        http = httpx.AsyncClient(base_url=settings.flows.system_url, timeout=timeout)
    else:
        from gateway.platforms import DeadlineTransport

        transport = DeadlineTransport(httpx.ASGITransport(app=app, client=("127.0.0.1", 0)),
                                      settings.flows.worker.step_timeout_seconds)
        http = httpx.AsyncClient(transport=transport, base_url=INTERNAL_BASE_URL, timeout=timeout)
    system = SystemClient(http, ServiceTokens(services, scopes))
    triggers = tuple(trigger for definition in definitions for trigger in definition.triggers)
    runtime = Runtime(engine=engine, system=system, database=services.engine, triggers=triggers,
                      webhook_secrets=dict(webhook_secrets))
    return runtime, http


def start_worker(runtime: Runtime, name: str | None = None) -> Worker:
    """A worker for ``runtime``, running in the background of the current loop."""
    worker = Worker(runtime.engine, runtime.system, name)
    worker.start()
    return worker
