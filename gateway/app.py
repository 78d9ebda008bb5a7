"""Assembly: builds every API of the catalog as its own Litestar app and mounts it.

The gateway itself is a small ASGI router: it owns the process lifecycle (migrations, policy
services, audit flush on shutdown) and hands each request to the API mounted under the
longest matching prefix. Each API app carries the policy chain, its own OpenAPI document and
its own error handling, so any of them could also be deployed alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import msgspec
from litestar import Litestar, Router, get
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from gateway.catalog import ApiDescriptor, BuildContext, Catalog
from gateway.migrations import upgrade
from gateway.openapi import govern_document
from gateway.platforms import Platforms
from gateway.processes import discover, process_runtime, start_worker
from gateway.registry import default_catalog
from gateway.settings import Settings, load_settings
from gateway.storage import create_engine
from policies.build import build_chain
from policies.call import public
from policies.chain import ApiIdentity
from policies.problems import PROBLEM_JSON, Problem, exception_handlers
from policies.services import PolicyServices
from process_apis.flow.worker import Worker

__all__ = ["Gateway", "build_api", "create_app"]

# Plain ASGI types: the gateway sees lifespan scopes, which Litestar's typed scopes exclude.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("finrail.gateway")

HOUSEKEEPING_INTERVAL_SECONDS = 3600.0


def _document_route(api: ApiDescriptor, app_ref: list[Litestar]) -> Any:
    cached: list[bytes] = []

    @get(api.document_path, opt=public("openapi"), include_in_schema=False, media_type="application/json",
         sync_to_thread=False)
    def document() -> bytes:
        """The governed OpenAPI document of this API."""
        if not cached:
            cached.append(msgspec.json.encode(govern_document(app_ref[0], api)))
        return cached[0]

    return document


def build_api(api: ApiDescriptor, context: BuildContext, services: PolicyServices) -> Litestar:
    """One API as a Litestar app with the policy chain, error handling and its document.

    Args:
        api: The catalog entry.
        context: Settings and catalog, for the API's route factory.
        services: Shared policy services of the process.

    Returns:
        The API's app; the gateway mounts it under ``api.prefixes``.
    """
    settings = context.settings
    policy = settings.policy_for(api.name)
    if policy.enabled is None and api.policies is not None:
        policy = msgspec.structs.replace(policy, enabled=api.policies)
    chain = build_chain(ApiIdentity(api.name, api.major, policy, settings.threat), services)
    app_ref: list[Litestar] = []
    hidden = f"/_litestar/{api.name}/v{api.major}"
    app = Litestar(
        route_handlers=[*api.routes(context), _document_route(api, app_ref)],
        middleware=[chain],
        exception_handlers=exception_handlers,
        dependencies={
            "services": Provide(lambda: services, use_cache=True, sync_to_thread=False),
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "catalog": Provide(lambda: context.catalog, use_cache=True, sync_to_thread=False),
        },
        openapi_config=OpenAPIConfig(
            title=f"Finrail {api.name} API",
            version=f"{api.major}.0.0",
            description=api.summary,
            path=hidden,
            openapi_router=Router(path=hidden, route_handlers=[], include_in_schema=False, opt=public()),
        ),
        logging_config=None,
        debug=False,
    )
    app_ref.append(app)
    return app


class _LazyApi:
    """An API app built on its first request.

    A gateway that serves few of its APIs (a test, a CLI command) does not pay for building
    them all; ``finrail serve`` builds all of them at start.
    """

    def __init__(self, api: ApiDescriptor, context: BuildContext, services: PolicyServices) -> None:
        self.api = api
        self.context = context
        self.services = services
        self._app: Litestar | None = None

    @property
    def app(self) -> Litestar:
        """The API's app."""
        if self._app is None:
            self._app = build_api(self.api, self.context, self.services)
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)  # type: ignore[arg-type]


class Gateway:
    """The root ASGI app: lifecycle plus routing by prefix to the mounted APIs and sandboxes.

    Args:
        settings: The settings.
        catalog: The APIs to mount.
        services: Shared policy services.
        platforms: Connectors and embedded sandboxes of the system APIs.
        warm_sandboxes: Build every API and start the embedded sandboxes at startup (``finrail
            serve``); otherwise each is built or started on its first request.
    """

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        services: PolicyServices,
        platforms: Platforms,
        *,
        warm_sandboxes: bool = False,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.services = services
        self.platforms = platforms
        self.warm_sandboxes = warm_sandboxes
        scopes = {scope for api in catalog if api.tier in ("system", "process") for scope in api.scopes}
        self.runtime, self._system_http = process_runtime(settings, services, discover(), scopes, self,
                                                            platforms.webhook_secrets)
        self.worker: Worker | None = None
        self.worker_name: str | None = None
        context = BuildContext(settings=settings, catalog=catalog, connectors=platforms.connectors,
                               runtime=self.runtime)
        self._apis = {api.key: _LazyApi(api, context, services) for api in catalog}
        mounts: list[tuple[str, Any, bool]] = []
        for api in catalog:
            mounts.extend((prefix.rstrip("/"), self._apis[api.key], False) for prefix in api.prefixes)
        # Sandboxes see their own root paths: the mount prefix is stripped.
        mounts.extend((f"/sandbox/{name}", sandbox, True) for name, sandbox in platforms.sandboxes.items())
        self.mounts: Sequence[tuple[str, Any, bool]] = sorted(mounts, key=lambda m: len(m[0]), reverse=True)
        self._housekeeping: asyncio.Task[None] | None = None
        self._warming: asyncio.Task[None] | None = None

    @property
    def apis(self) -> dict[str, Litestar]:
        """Every API's app by catalog key (building those not built yet)."""
        return {key: lazy.app for key, lazy in self._apis.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve lifespan events, and hand every request to the API mounted at its path."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path = scope.get("path", "")
        for prefix, app, strip in self.mounts:
            if path == prefix or path.startswith(prefix + "/"):
                if strip:
                    scope = {**scope, "path": path[len(prefix):] or "/",
                             "root_path": scope.get("root_path", "") + prefix}
                    scope.pop("raw_path", None)
                await app(scope, receive, send)
                return
        if scope["type"] == "http":
            body = Problem(404, f"no API is mounted at {path}; see /admin/v1/catalog").encode(path)
            await send({"type": "http.response.start", "status": 404, "headers": [
                (b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

    async def startup(self) -> None:
        """Migrate (embedded default), start the policy services and the housekeeping task."""
        if self.settings.storage.auto_migrate:
            await upgrade(self.settings.database_url)
        await self.services.start()
        self._housekeeping = asyncio.create_task(self._keep_house(), name="finrail-housekeeping")
        if self.warm_sandboxes:
            self.apis  # noqa: B018 - build every API now: a broken one should stop the start, not a request
            self._warming = asyncio.create_task(self._warm(), name="finrail-sandbox-warmup")
        if self.settings.server.embedded_worker and self.runtime.engine.flows:
            self.worker = start_worker(self.runtime, self.worker_name)
        logger.info("finrail started", extra={"apis": [api.name for api in self.catalog]})

    async def shutdown(self) -> None:
        """Stop housekeeping, flush the audit trail and close connections."""
        for task in (self._housekeeping, self._warming):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._housekeeping = self._warming = None
        if self.worker is not None:
            await self.worker.stop(self.settings.server.graceful_timeout_seconds)
            self.worker = None
        await self._system_http.aclose()
        await self.platforms.close()
        await self.services.close()
        await self.services.engine.dispose()
        logger.info("finrail stopped")

    async def _warm(self) -> None:
        try:
            await self.platforms.start()
            logger.info("sandboxes ready", extra={"sandboxes": sorted(self.platforms.sandboxes)})
        except Exception:
            logger.exception("a sandbox failed to start; it will be retried on its first request")

    async def _keep_house(self) -> None:
        """Drop idempotency keys past their retention, once at start and then hourly."""
        while True:
            try:
                purged = await self.services.idempotency.purge_expired()
                if purged:
                    logger.info("purged expired idempotency keys", extra={"count": purged})
            except Exception:
                logger.exception("housekeeping failed; retrying in an hour")
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_SECONDS)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    logger.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(
    settings: Settings | None = None, catalog: Catalog | None = None, *, warm_sandboxes: bool = False
) -> Gateway:
    """The whole gateway for ``settings`` (read from the file and environment when not given).

    Nothing is opened until the ASGI lifespan starts it (or :meth:`Gateway.startup`).
    """
    settings = settings or load_settings()
    catalog = catalog or default_catalog()
    engine = create_engine(settings.database_url, pool_size=settings.storage.pool_size)
    services = PolicyServices.create(
        engine,
        auth=settings.auth,
        throttling=settings.throttling,
        idempotency=settings.idempotency,
        audit=settings.audit,
    )
    return Gateway(settings, catalog, services, Platforms(settings), warm_sandboxes=warm_sandboxes)
