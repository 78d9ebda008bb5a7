"""The procurement sandbox: a Coupa Core API look-alike on the shared sandbox kit."""

from __future__ import annotations

from litestar import Litestar

from platforms.kit.app import build_sandbox
from platforms.kit.config import SandboxConfig
from platforms.procurement.auth import token_endpoint
from platforms.procurement.common import coupa_error
from platforms.procurement.invoices import invoice_handlers
from platforms.procurement.orders import order_handlers
from platforms.procurement.seed import seed
from platforms.procurement.suppliers import supplier_handlers

__all__ = ["create_app"]


def create_app(config: SandboxConfig | None = None) -> Litestar:
    """The procurement sandbox app (state in ``config.data_path``, or in memory).

    Args:
        config: Sandbox configuration; the defaults give a seeded in-memory sandbox.

    Returns:
        The Litestar app, serving ``/oauth2/access_tokens``, ``/api/...`` and ``/_sandbox/...``.
    """
    handlers = [token_endpoint, *supplier_handlers, *order_handlers, *invoice_handlers]
    return build_sandbox("procurement", config, handlers, coupa_error, seed)
