"""Assemble a sandbox: the vendor's handlers plus state, seed, faults, webhooks and admin routes.

A sandbox package writes only what is specific to its vendor — route handlers in the vendor's
dialect, an error renderer in the vendor's error format and a seed function — and
:func:`build_sandbox` adds everything every sandbox shares. Handlers reach the shared state
through the dependency ``sandbox: NamedDependency[SandboxState]``.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, ControllerRouterHandler, Receive, Scope, Send

from platforms.kit.admin import admin_routes
from platforms.kit.config import SandboxConfig
from platforms.kit.faults import ErrorRenderer, Faults, fault_middleware
from platforms.kit.store import Store
from platforms.kit.webhooks import WebhookSender

__all__ = ["SandboxState", "SeedFunction", "build_sandbox", "run_sandbox"]

SeedFunction = Callable[[Store, random.Random], None]
"""Fills an empty store with the sandbox's deterministic data set."""


def _no_seed(store: Store, rng: random.Random) -> None:
    """Seed nothing."""


class SandboxState:
    """Everything a sandbox keeps between requests.

    Attributes:
        config: The configuration the sandbox was started with.
        store: The document store (SQLite file or memory).
        rng: The seeded data generator; use it (never ``random`` itself) for anything a
            handler invents, so runs are reproducible.
        faults: The faults injected right now; change them with :meth:`set_faults`.
        fault_rng: The dice of the fault middleware (seeded when ``faults.seed`` is set).
        webhooks: The webhook sender; emit events with :meth:`emit`.
        seed_fn: Fills the store on first start and on reset.
    """

    def __init__(self, config: SandboxConfig | None = None, seed_fn: SeedFunction = _no_seed) -> None:
        self.config = config or SandboxConfig()
        self._store = Store(self.config.data_path)
        self._rng = random.Random(self.config.seed)  # noqa: S311 - reproducible data, not secrets
        self.seed_fn = seed_fn
        self._ready = False
        self.faults = self.config.faults
        self.fault_rng = random.Random(self.faults.seed)  # noqa: S311
        self.webhooks = WebhookSender(
            self.config.webhook_url,
            self.config.webhook_secret,
            lambda: self.faults,
            attempts=self.config.webhook_attempts,
            backoff_seconds=self.config.webhook_backoff_seconds,
            seed=self.config.seed,
        )

    def set_faults(self, faults: Faults) -> None:
        """Switch faults at run time; a seeded ``faults`` restarts its dice."""
        self.faults = faults
        self.fault_rng = random.Random(faults.seed)  # noqa: S311

    @property
    def rng(self) -> random.Random:
        """Random numbers for handlers (ids...): reproducible, and fresh after a restart."""
        self.ensure_ready()
        return self._rng

    @property
    def store(self) -> Store:
        """The sandbox's state, seeded on first use."""
        self.ensure_ready()
        return self._store

    def ensure_ready(self) -> None:
        """Seed an empty store once, on the first request or at startup, whichever comes first.

        Not at build time: a host that builds several sandboxes (the gateway) should not pay
        for seeding those nobody calls.
        """
        if not self._ready:
            self._ready = True
            self.seed_if_empty()

    def seed_if_empty(self) -> bool:
        """Run the seed when the store is empty; ``True`` if it ran.

        A restart on a kept store continues with a fresh but still reproducible random
        stream (seed and start count), so ids a handler draws from ``rng`` after a restart
        do not repeat those drawn before it.
        """
        seeded = self._store.is_empty()
        if seeded:
            self._rng = random.Random(self.config.seed)  # noqa: S311
            self.seed_fn(self._store, self._rng)
        starts = self._store.next_number("_sandbox.starts", 0)
        if starts:
            self._rng = random.Random(f"{self.config.seed}:{starts}")  # noqa: S311
        return seeded

    def reset(self) -> None:
        """Wipe the store, forget the webhook log and seed again: back to the first start."""
        self._store.wipe()
        self.webhooks.clear()
        self.seed_if_empty()

    def emit(self, event_type: str, payload: dict[str, Any]) -> str:
        """Send a signed webhook (see :meth:`WebhookSender.emit`); returns its id."""
        return self.webhooks.emit(event_type, payload)


class _AllowAll(ASGIMiddleware):
    """Answer Litestar's automatic OPTIONS with every method of the path.

    Litestar registers handlers one at a time, and its automatic OPTIONS answer keeps the
    methods of the first handler registered for a path (``GET`` where ``GET`` and ``POST``
    share it); the app's routes know them all.
    """

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        handler = scope.get("route_handler")
        if scope.get("method") != "OPTIONS" or getattr(handler, "handler_name", "") != "options_handler":
            await next_app(scope, receive, send)
            return
        methods: set[str] = {"OPTIONS"}
        for route in scope["litestar_app"].routes:
            if route.path_format == scope.get("path_template"):
                methods.update(getattr(route, "methods", ()))
        await send({"type": "http.response.start", "status": 204,
                    "headers": [(b"allow", ", ".join(sorted(methods)).encode())]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def build_sandbox(
    name: str,
    config: SandboxConfig | None,
    route_handlers: Sequence[ControllerRouterHandler],
    error_body: ErrorRenderer,
    seed_fn: SeedFunction = _no_seed,
) -> Litestar:
    """Build a sandbox app around the vendor-specific handlers.

    An empty store is seeded at startup or on the first request, whichever comes first, so
    the app also works under ``httpx.ASGITransport``, which runs no lifespan; the lifespan
    starts and stops the webhook sender and closes the store.

    Args:
        name: Platform name (``erp``, ``procurement``...), the title of the OpenAPI document.
        config: Sandbox configuration; ``None`` for the defaults.
        route_handlers: The vendor's handlers.
        error_body: Renders errors in the vendor's format; used for faults and for every
            unhandled ``HTTPException`` (404, 405, validation...).
        seed_fn: Fills an empty store with the deterministic data set.

    Returns:
        The Litestar app; its state is ``app.state.sandbox``.
    """
    state = SandboxState(config, seed_fn)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        state.ensure_ready()
        await state.webhooks.start()
        try:
            yield
        finally:
            await state.webhooks.close()
            state.store.close()

    def render(status: int, message: str, headers: dict[str, str] | None = None) -> Response[bytes]:
        content_type, body = error_body(status, message)
        return Response(content=body, status_code=status, media_type=content_type, headers=headers)

    def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
        detail = exc.detail
        if isinstance(exc.extra, list) and exc.extra:  # validation errors: say which field
            detail = "; ".join(
                f"{item.get('key') or 'body'}: {item.get('message')}" for item in exc.extra if isinstance(item, dict)
            )
        return render(exc.status_code, detail, exc.headers)

    def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
        return render(500, "an internal server error occurred")

    def provide_state() -> SandboxState:
        return state

    app = Litestar(
        route_handlers=[*route_handlers, *admin_routes(state)],
        middleware=[fault_middleware(state, error_body), _AllowAll()],
        dependencies={"sandbox": Provide(provide_state, sync_to_thread=False)},
        exception_handlers={HTTPException: on_http_error, Exception: on_unexpected},
        lifespan=[lifespan],
        debug=False,
        # The host process (the gateway, or run_sandbox) owns logging configuration.
        logging_config=None,
    )
    app.state.sandbox = state
    app.state.sandbox_name = name
    return app


def run_sandbox(name: str, create_app: Callable[[SandboxConfig], Litestar], argv: Sequence[str] | None = None) -> None:
    """Command line of ``python -m platforms.<name>``: run one sandbox alone with uvicorn.

    Args:
        name: Platform name, for the help text.
        create_app: The sandbox's ``create_app``.
        argv: Arguments (default ``sys.argv[1:]``).
    """
    import uvicorn

    parser = argparse.ArgumentParser(prog=f"python -m platforms.{name}", description=f"Run the {name} sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--data", default=None, help="SQLite file for the sandbox's state (default: memory)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--webhook-url", default=None)
    args = parser.parse_args(argv)
    config = SandboxConfig(data_path=args.data, seed=args.seed, webhook_url=args.webhook_url)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning")
