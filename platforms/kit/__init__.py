"""The shared toolkit of the platform sandboxes: state, seed data, faults, webhooks, admin routes, bodies.

A sandbox (``platforms/<p>/``) writes only its vendor's dialect and builds its app with
:func:`build_sandbox`; everything else every sandbox shares lives here. Nothing here imports
Finrail's own tiers: the sandboxes stand in for external platforms.
"""

from __future__ import annotations

from platforms.kit.admin import admin_routes
from platforms.kit.app import SandboxState, SeedFunction, build_sandbox, run_sandbox
from platforms.kit.bodies import BodyError, StrictBody
from platforms.kit.config import DEFAULT_WEBHOOK_SECRET, SandboxConfig
from platforms.kit.faults import ErrorRenderer, Faults, fault_middleware
from platforms.kit.store import Store
from platforms.kit.webhooks import WebhookDelivery, WebhookSender

__all__ = [
    "DEFAULT_WEBHOOK_SECRET",
    "BodyError",
    "ErrorRenderer",
    "Faults",
    "SandboxConfig",
    "SandboxState",
    "SeedFunction",
    "Store",
    "StrictBody",
    "WebhookDelivery",
    "WebhookSender",
    "admin_routes",
    "build_sandbox",
    "fault_middleware",
    "run_sandbox",
]
