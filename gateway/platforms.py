"""The platforms Finrail wraps: a connector for each, and in the embedded default its sandbox.

With no ``base_url`` in ``[platforms.<name>]`` the platform is its built-in sandbox: the gateway
starts it in-process, mounts it under ``/sandbox/<name>/`` for anyone to explore, and hands
the connector an ``httpx.ASGITransport`` to it (no sockets, same code path as a real platform).
With a ``base_url``, the same connector talks to the real platform over HTTP.

Sandboxes are loaded by module name: nothing in Finrail imports ``platforms`` (DESIGN.md §1),
and a deployment that points every platform at a real one never loads them.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import httpx
import msgspec

from gateway.lifespan import lifespan
from gateway.settings import PlatformSettings, Settings, SettingsError
from system_apis.connectors.kit import ConnectionConfig

__all__ = ["PLATFORMS", "Platform", "PlatformSpec", "Platforms"]


class Connector(Protocol):
    """What the gateway needs of a connector: it closes its connection pool."""

    async def aclose(self) -> None:
        """Close the connector's HTTP client."""


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    """How to build one platform's connector, sandbox and system API."""

    name: str
    """Platform name: the settings key, the sandbox mount and the system API's catalog name."""
    api: str
    """Module of the system API (``SCOPES``, ``PREFIX``, ``SUMMARY``, ``routes(connector)``)."""
    connector: str
    """``module:Class`` of the connector; built with ``(ConnectionConfig, transport)``."""
    sandbox: str
    """``module:function`` building the sandbox app from a ``SandboxConfig``."""
    sandbox_config: str = "platforms.kit.config:SandboxConfig"
    """``module:Class`` of the sandbox settings."""

    def api_module(self) -> ModuleType:
        """The system API module."""
        return importlib.import_module(self.api)


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


PLATFORMS: tuple[PlatformSpec, ...] = (
    PlatformSpec(
        name="erp",
        api="system_apis.erp.api",
        connector="system_apis.connectors.erp.client:ErpConnector",
        sandbox="platforms.erp.app:create_app",
    ),
    PlatformSpec(
        name="procurement",
        api="system_apis.procurement.api",
        connector="system_apis.connectors.procurement.client:ProcurementConnector",
        sandbox="platforms.procurement.app:create_app",
    ),
    PlatformSpec(
        name="expense",
        api="system_apis.expense.api",
        connector="system_apis.connectors.expense.client:ExpenseConnector",
        sandbox="platforms.expense.app:create_app",
    ),
    PlatformSpec(
        name="treasury",
        api="system_apis.treasury.api",
        connector="system_apis.connectors.treasury.client:TreasuryConnector",
        sandbox="platforms.treasury.app:create_app",
    ),
    PlatformSpec(
        name="planning",
        api="system_apis.planning.api",
        connector="system_apis.connectors.planning.client:PlanningConnector",
        sandbox="platforms.planning.app:create_app",
    ),
)
"""Every platform Finrail knows; the catalog has one system API per entry."""


class Sandbox:
    """An embedded sandbox app that starts on its first request (or on :meth:`start`).

    Building and seeding a sandbox take a moment; a gateway whose platforms are not used yet
    (a test, a CLI command) should not pay for them, and ``finrail serve`` warms them up in the
    background.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._app: Any = None
        self._running: AbstractAsyncContextManager[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def app(self) -> Any:
        """The sandbox's ASGI app, built on first use (building one costs a noticeable moment)."""
        if self._app is None:
            self._app = self._build()
        return self._app

    async def start(self) -> None:
        """Run the sandbox's startup (store, seed, webhook sender) once."""
        if self._running is not None:
            return
        async with self._lock:
            if self._running is None:
                running = lifespan(self.app)
                await running.__aenter__()
                self._running = running

    async def stop(self) -> None:
        """Run the sandbox's shutdown if it was started."""
        running, self._running = self._running, None
        if running is not None:
            await running.__aexit__(None, None, None)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._running is None:
            await self.start()
        await self.app(scope, receive, send)


class DeadlineTransport(httpx.AsyncBaseTransport):
    """An in-process transport that times out like a socket would.

    ``httpx.ASGITransport`` ignores timeouts: a sandbox told to hang (the "timeout after
    success" fault) would hang the connector too, instead of giving it the timeout that its
    retry and lookup-before-recreate logic is built for.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``, or raise ``httpx.ReadTimeout`` after the deadline."""
        try:
            return await asyncio.wait_for(self.inner.handle_async_request(request), self.seconds)
        except TimeoutError:
            raise httpx.ReadTimeout(f"no answer within {self.seconds} s", request=request) from None

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


@dataclass(slots=True)
class Platform:
    """One platform at run time."""

    spec: PlatformSpec
    connector: Any
    sandbox: Sandbox | None
    webhook_secret: str | None = None
    """The embedded sandbox, or ``None`` when a real platform is configured."""


class Platforms:
    """The connectors (and embedded sandboxes) of one gateway process."""

    def __init__(self, settings: Settings, specs: tuple[PlatformSpec, ...] = PLATFORMS) -> None:
        self.items: dict[str, Platform] = {}
        for spec in specs:
            configured = settings.platforms.get(spec.name) or PlatformSettings()
            self.items[spec.name] = _build(spec, configured, settings)

    @property
    def connectors(self) -> Mapping[str, Any]:
        """Connector by platform name."""
        return {name: platform.connector for name, platform in self.items.items()}

    @property
    def webhook_secrets(self) -> Mapping[str, str]:
        """Standard Webhooks secret of each platform whose events Finrail accepts."""
        return {name: p.webhook_secret for name, p in self.items.items() if p.webhook_secret}

    @property
    def sandboxes(self) -> Mapping[str, Sandbox]:
        """Embedded sandbox by platform name."""
        return {name: p.sandbox for name, p in self.items.items() if p.sandbox is not None}

    async def start(self) -> None:
        """Start every embedded sandbox now rather than on its first request."""
        for sandbox in self.sandboxes.values():
            await sandbox.start()

    async def close(self) -> None:
        """Close every connector, then stop the sandboxes."""
        for platform in self.items.values():
            await platform.connector.aclose()
        for sandbox in self.sandboxes.values():
            await sandbox.stop()


def _build(spec: PlatformSpec, configured: PlatformSettings, settings: Settings) -> Platform:
    connector_type: Callable[..., Any] = _load(spec.connector)
    if configured.base_url:
        config = _connection(spec, {**configured.connection, "base_url": configured.base_url})
        return Platform(spec, connector_type(config, None), None, configured.webhook_secret)
    sandbox_settings = {
        "data_path": str(Path(settings.data_dir).resolve() / f"sandbox-{spec.name}.db"),
        **configured.sandbox,
    }
    try:
        sandbox_config = msgspec.convert(sandbox_settings, _load(spec.sandbox_config))
    except msgspec.ValidationError as exc:
        raise SettingsError(f"setting platforms.{spec.name}.sandbox: {exc}") from None
    Path(sandbox_config.data_path).parent.mkdir(parents=True, exist_ok=True)
    build_app = _load(spec.sandbox)
    sandbox = Sandbox(lambda: build_app(sandbox_config))
    credentials = {
        "username": sandbox_config.username,
        "password": sandbox_config.password,
        "client_id": sandbox_config.client_id,
        "client_secret": sandbox_config.client_secret,
    }
    config = _connection(spec, {**credentials, **configured.connection, "base_url": f"http://sandbox.{spec.name}"})
    transport = DeadlineTransport(httpx.ASGITransport(app=sandbox), config.timeout_seconds)
    return Platform(spec, connector_type(config, transport), sandbox,
                    configured.webhook_secret or sandbox_config.webhook_secret)


def _connection(spec: PlatformSpec, values: dict[str, Any]) -> ConnectionConfig:
    try:
        return msgspec.convert(values, ConnectionConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"setting platforms.{spec.name}.connection: {exc}") from None
