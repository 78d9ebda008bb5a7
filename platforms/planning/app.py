"""The planning sandbox: budgets in the SAP Concur Budget v4 shape under ``/budget/v4``, Basic auth."""

from __future__ import annotations

from litestar import Litestar

from platforms.kit.app import build_sandbox
from platforms.kit.config import SandboxConfig
from platforms.planning.errors import render_error
from platforms.planning.handlers import api_router
from platforms.planning.seed import seed

__all__ = ["create_app"]


def create_app(config: SandboxConfig | None = None) -> Litestar:
    """The planning sandbox app (state in ``config.data_path``, or memory)."""
    return build_sandbox("planning", config, [api_router()], render_error, seed)
