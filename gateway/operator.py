"""Changes made by an operator at the command line, audited like changes made over the API.

A CLI change has no HTTP request, but it deserves the same audit record: who (the operator's
OS user), what, before and after, committed in the same transaction as the change.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from policies.call import Call, RoutePolicy
from policies.config import ThreatConfig
from policies.services import PolicyServices

__all__ = ["operator_change"]


@asynccontextmanager
async def operator_change(services: PolicyServices, operation: str) -> AsyncIterator[tuple[AsyncConnection, Call]]:
    """A transaction and a call describing the operator, for ``audit.record_change``."""
    route = RoutePolicy(
        api="cli", version=1, method="CLI", template=f"finrail {operation}", operation=operation,
        scopes=(), public=False, effect=False, rates=(), threat=ThreatConfig(),
    )
    scope: dict[str, Any] = {
        "type": "http", "method": "CLI", "path": f"finrail {operation}", "headers": [], "client": None
    }
    call = Call(scope=scope, route=route)  # type: ignore[arg-type]
    call.correlation_id = uuid.uuid4().hex
    call.client_id = "operator"
    call.subject = getpass.getuser()
    call.remote_addr = "local"
    async with services.engine.begin() as conn:
        yield conn, call
