"""The expense sandbox: SAP Concur Expense as a standalone app.

``create_app()`` builds it with the sandbox kit (state, seed, faults, webhooks, admin routes);
``python -m platforms.expense --port N [--data PATH]`` runs it alone.
"""

from __future__ import annotations

from litestar import Litestar

from platforms.expense.auth import token_endpoint
from platforms.expense.lists import list_routes
from platforms.expense.routes import ROUTES, error_body
from platforms.expense.seed import seed
from platforms.kit.app import build_sandbox
from platforms.kit.config import SandboxConfig

__all__ = ["create_app"]


def create_app(config: SandboxConfig | None = None) -> Litestar:
    """The expense sandbox for ``config`` (in memory, seed 42 when not given)."""
    return build_sandbox("expense", config, [token_endpoint, *ROUTES, *list_routes], error_body, seed)
