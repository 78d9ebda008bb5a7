"""The ``/_sandbox/`` routes: switch faults, reset the data, read the webhook delivery log.

These routes are for tests and demos; they are never faulted, so a test can always switch a
fault off again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import get, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody

from platforms.kit.faults import Faults
from platforms.kit.webhooks import WebhookDelivery

if TYPE_CHECKING:
    from platforms.kit.app import SandboxState

__all__ = ["admin_routes"]


def admin_routes(state: SandboxState) -> list[HTTPRouteHandler]:
    """The admin handlers of one sandbox, bound to its state.

    Args:
        state: The sandbox's state.

    Returns:
        ``GET``/``PUT /_sandbox/faults``, ``POST /_sandbox/reset``, ``GET /_sandbox/webhooks``.
    """

    @get("/_sandbox/faults", sync_to_thread=False, include_in_schema=False)
    def read_faults() -> Faults:
        """The faults injected right now."""
        return state.faults

    @put("/_sandbox/faults", sync_to_thread=False, include_in_schema=False)
    def write_faults(data: JSONBody[Faults]) -> Faults:
        """Replace the faults; fields left out are switched off."""
        state.set_faults(data)
        return state.faults

    @post("/_sandbox/reset", status_code=204, sync_to_thread=False, include_in_schema=False)
    def reset() -> None:
        """Wipe all data and seed again."""
        state.reset()

    @get("/_sandbox/webhooks", sync_to_thread=False, include_in_schema=False)
    def webhook_log() -> list[WebhookDelivery]:
        """Every emitted webhook with its delivery status, oldest first."""
        return state.webhooks.deliveries()

    return [read_faults, write_faults, reset, webhook_log]
