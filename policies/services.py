"""The long-lived objects the policies share across every API of one process.

The gateway builds one :class:`PolicyServices` at start (``await services.start()``) and
closes it on shutdown (``await services.close()``), which flushes the audit trail. API
handlers receive it as the ``services`` dependency.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.audit import AuditLog
from policies.clients import ClientRegistry
from policies.config import AuditConfig, AuthConfig, IdempotencyConfig, ThrottlingConfig
from policies.correlation import propagate
from policies.idempotency import IdempotencyStore
from policies.keys import KeyStore
from policies.metrics import Metrics
from policies.throttling import Throttle
from policies.tokens import TokenService

__all__ = ["PolicyServices"]


@dataclass(slots=True)
class PolicyServices:
    """Shared state of the policy chain: storage, keys, clients, counters, audit, metrics."""

    engine: AsyncEngine
    keys: KeyStore
    clients: ClientRegistry
    tokens: TokenService
    throttle: Throttle
    idempotency: IdempotencyStore
    audit: AuditLog
    metrics: Metrics
    http: httpx.AsyncClient

    @classmethod
    def create(
        cls,
        engine: AsyncEngine,
        *,
        auth: AuthConfig,
        throttling: ThrottlingConfig,
        idempotency: IdempotencyConfig,
        audit: AuditConfig,
        http: httpx.AsyncClient | None = None,
    ) -> PolicyServices:
        """Wire the services for one process (nothing is opened until :meth:`start`)."""
        http = http or httpx.AsyncClient(timeout=httpx.Timeout(5.0))
        propagate(http)
        keys = KeyStore(engine, algorithm=auth.algorithm, token_ttl_seconds=auth.token_ttl_seconds)
        clients = ClientRegistry(engine, cache_seconds=auth.client_cache_seconds)
        audit_log = AuditLog(engine, audit)
        metrics = Metrics()
        metrics.watch_audit_queue(lambda: audit_log.pending)
        return cls(
            engine=engine,
            keys=keys,
            clients=clients,
            tokens=TokenService(keys, clients, auth, http),
            throttle=Throttle(throttling),
            idempotency=IdempotencyStore(engine, idempotency),
            audit=audit_log,
            metrics=metrics,
            http=http,
        )

    async def start(self) -> None:
        """Load or create the signing key, connect the throttle storage, start audit batching."""
        await self.keys.start()
        await self.throttle.start()
        await self.audit.start()

    async def close(self) -> None:
        """Flush the audit trail and release connections."""
        await self.audit.close()
        await self.throttle.close()
        await self.http.aclose()
