"""The procurement sandbox: a Coupa Core API look-alike on the shared sandbox kit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from litestar import Litestar, Response, route
from litestar.handlers import HTTPRouteHandler

from platforms.kit.app import build_sandbox
from platforms.kit.config import SandboxConfig
from platforms.procurement.auth import token_endpoint
from platforms.procurement.common import coupa_error
from platforms.procurement.invoices import invoice_handlers
from platforms.procurement.lookups import lookup_handlers
from platforms.procurement.orders import order_handlers
from platforms.procurement.seed import seed
from platforms.procurement.suppliers import supplier_handlers

__all__ = ["create_app", "options_handlers"]


def options_handlers(handlers: Sequence[HTTPRouteHandler]) -> list[HTTPRouteHandler]:
    """An ``OPTIONS`` handler per path, answering ``Allow`` with every method of the path.

    Litestar's automatic answer lists only the methods of the first handler registered for a
    path (``GET`` but not ``POST`` on ``/api/suppliers``); a path with its own ``OPTIONS``
    handler gets none of those.
    """
    methods: dict[str, set[str]] = defaultdict(lambda: {"OPTIONS"})
    for handler in handlers:
        for path in handler.paths:
            methods[path].update(handler.http_methods)
    return [_options(path, ", ".join(sorted(allowed))) for path, allowed in methods.items()]


def _options(path: str, allow: str) -> HTTPRouteHandler:
    def answer() -> Response[None]:
        return Response(content=None, status_code=204, headers={"Allow": allow})

    handler: HTTPRouteHandler = route(
        path, http_method=["OPTIONS"], include_in_schema=False, sync_to_thread=False, name=f"options:{path}"
    )(answer)
    return handler


def create_app(config: SandboxConfig | None = None) -> Litestar:
    """The procurement sandbox app (state in ``config.data_path``, or in memory).

    Args:
        config: Sandbox configuration; the defaults give a seeded in-memory sandbox.

    Returns:
        The Litestar app, serving ``/oauth2/access_tokens``, ``/api/...`` and ``/_sandbox/...``.
    """
    handlers: list[Any] = [token_endpoint, *supplier_handlers, *order_handlers, *invoice_handlers, *lookup_handlers]
    return build_sandbox("procurement", config, [*options_handlers(handlers), *handlers], coupa_error, seed)
