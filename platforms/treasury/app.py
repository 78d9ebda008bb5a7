"""The treasury sandbox: a Kyriba-like API under ``/gateway/api/v1`` with OAuth2 client credentials."""

from __future__ import annotations

from litestar import Litestar

from platforms.kit.app import build_sandbox
from platforms.kit.config import SandboxConfig
from platforms.treasury.auth import token_endpoint
from platforms.treasury.errors import render_error
from platforms.treasury.handlers import api_router
from platforms.treasury.seed import seed

__all__ = ["create_app"]


def create_app(config: SandboxConfig | None = None) -> Litestar:
    """The treasury sandbox app (state in ``config.data_path``, or memory)."""
    return build_sandbox("treasury", config, [token_endpoint, api_router()], render_error, seed)
