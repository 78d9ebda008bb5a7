"""The ERP sandbox app: SAP S/4HANA OData V2 handlers on the shared sandbox kit."""

from __future__ import annotations

from litestar import Litestar

from platforms.erp.handlers import CsrfTokens, erp_routes
from platforms.erp.odata import error_body
from platforms.erp.seed import seed
from platforms.kit.app import build_sandbox
from platforms.kit.config import SandboxConfig

__all__ = ["create_app"]


def create_app(config: SandboxConfig | None = None) -> Litestar:
    """A fresh ERP sandbox (seeded on first start; state in ``config.data_path`` or memory).

    Args:
        config: Sandbox settings; the defaults give an in-memory sandbox with seed 42.

    Returns:
        The ASGI app; its state is ``app.state.sandbox``.
    """
    return build_sandbox("erp", config, erp_routes(CsrfTokens()), error_body, seed)
