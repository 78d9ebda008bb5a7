"""The client registry: who may ask for tokens, with which scopes, at which SLA tier.

A client secret is shown once, when it is created or rotated, and stored only as an argon2
hash; hashing and verifying are deliberately slow, so they run in a worker thread and never
stall the event loop. The per-request question "is this client still active?" is answered
from a short-lived in-memory cache, which bounds how long a disabled client's tokens keep
working (``AuthConfig.client_cache_seconds``) without a database read on every call.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from policies.config import INTERNAL_TIER
from policies.tables import clients

__all__ = ["SCOPE_PATTERN", "ClientRecord", "ClientRegistry", "ClientStatus"]

logger = logging.getLogger("finrail.clients")

ClientStatus = Literal["active", "disabled"]

SCOPE_PATTERN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
"""An RFC 6749 §3.3 ``scope-token``: printable ASCII without space, ``"`` or ``\\``."""


class ClientRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A registered API client, as everything but the registry sees it (never its secret)."""

    client_id: str
    """Public identifier, ``cl_`` followed by random URL-safe characters."""
    name: str
    """Human name of the client (the application or team)."""
    scopes: tuple[str, ...]
    """Scopes the client may request."""
    tier: str
    """SLA tier that selects its rate limits."""
    status: ClientStatus
    """``active`` clients get tokens and their tokens are honoured; ``disabled`` ones do not."""
    subject: str | None = None
    """Portal subject (supplier or employee id) the client acts for, if any."""
    created_at: datetime
    """When the client was registered."""
    updated_at: datetime
    """When the client last changed (rotation, disabling)."""


def _record(row: Any) -> ClientRecord:
    return ClientRecord(
        client_id=row.client_id,
        name=row.name,
        scopes=tuple(row.scopes),
        tier=row.tier,
        status=row.status,
        subject=row.subject,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    result = tuple(dict.fromkeys(scopes))
    for scope in result:
        if not SCOPE_PATTERN.match(scope):
            raise ValueError(f"invalid scope {scope!r}: use printable ASCII without spaces or quotes")
    return result


class ClientRegistry:
    """Clients in the ``clients`` table, with argon2-hashed secrets and a status cache."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        cache_seconds: float,
        hasher: PasswordHasher | None = None,
    ) -> None:
        """Create the registry.

        Args:
            engine: Database holding the ``clients`` table.
            cache_seconds: How long :meth:`active` trusts what it read.
            hasher: argon2 parameters; the library's defaults (RFC 9106 low-memory) if not given.
        """
        self.engine = engine
        self.cache_seconds = cache_seconds
        self.hasher = hasher or PasswordHasher()
        self._cache: dict[str, tuple[float, ClientRecord | None]] = {}
        self._reading: dict[str, asyncio.Task[ClientRecord | None]] = {}
        self._dummy_hash: str | None = None

    @asynccontextmanager
    async def _connection(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        if conn is not None:
            yield conn
            return
        async with self.engine.begin() as own:
            yield own

    async def create(
        self,
        name: str,
        scopes: Sequence[str],
        tier: str,
        *,
        subject: str | None = None,
        conn: AsyncConnection | None = None,
    ) -> tuple[ClientRecord, str]:
        """Register a client.

        Args:
            name: Human name.
            scopes: Scopes it may request.
            tier: SLA tier.
            subject: Portal subject it acts for, if any.
            conn: Run in the caller's transaction (to commit an audit record with it).

        Returns:
            The record and the secret; the secret is not stored and cannot be shown again.
        """
        checked = _check_scopes(scopes)
        secret = secrets.token_urlsafe(32)
        secret_hash = await asyncio.to_thread(self.hasher.hash, secret)
        now = datetime.now(UTC)
        record = ClientRecord(
            client_id="cl_" + secrets.token_urlsafe(12),
            name=name,
            scopes=checked,
            tier=tier,
            status="active",
            subject=subject,
            created_at=now,
            updated_at=now,
        )
        async with self._connection(conn) as c:
            await c.execute(
                clients.insert().values(
                    client_id=record.client_id,
                    name=name,
                    secret_hash=secret_hash,
                    scopes=list(checked),
                    tier=tier,
                    status="active",
                    subject=subject,
                    created_at=now,
                    updated_at=now,
                )
            )
        return record, secret

    async def ensure_service(self, client_id: str, name: str, scopes: Sequence[str]) -> ClientRecord:
        """The service client Finrail itself calls its APIs with, created on first use.

        It is of the internal tier and has no usable secret: its tokens are minted in-process
        by whoever can read the signing keys. Its scopes follow the catalog; an operator who
        disables it stops the flows, and that choice is kept.
        """
        checked = _check_scopes(scopes)
        existing = await self.get(client_id)
        if existing is None:
            now = datetime.now(UTC)
            unusable = await asyncio.to_thread(self.hasher.hash, secrets.token_urlsafe(32))
            async with self._connection(None) as c:
                await c.execute(
                    self._insert_missing().values(
                        client_id=client_id, name=name, secret_hash=unusable, scopes=list(checked),
                        tier=INTERNAL_TIER, status="active", subject=None, created_at=now, updated_at=now,
                    )
                )
            existing = await self.get(client_id)
            if existing is None:
                raise RuntimeError(f"service client {client_id} vanished right after it was created")
        if set(existing.scopes) != set(checked):
            existing = await self._update(client_id, None, scopes=list(checked)) or existing
        return existing

    def _insert_missing(self) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(clients).on_conflict_do_nothing(index_elements=["client_id"])

    async def list(
        self,
        *,
        status: ClientStatus | None = None,
        after: str | None = None,
        limit: int = 100,
        conn: AsyncConnection | None = None,
    ) -> builtins.list[ClientRecord]:
        """Clients ordered by ``client_id``, starting after the cursor ``after``."""
        query = sa.select(clients).order_by(clients.c.client_id).limit(limit)
        if status is not None:
            query = query.where(clients.c.status == status)
        if after is not None:
            query = query.where(clients.c.client_id > after)
        async with self._connection(conn) as c:
            rows = (await c.execute(query)).all()
        return [_record(row) for row in rows]

    async def get(self, client_id: str, conn: AsyncConnection | None = None) -> ClientRecord | None:
        """The client ``client_id``, whatever its status, or ``None``."""
        async with self._connection(conn) as c:
            row = (await c.execute(sa.select(clients).where(clients.c.client_id == client_id))).first()
        return _record(row) if row is not None else None

    async def rotate(
        self, client_id: str, conn: AsyncConnection | None = None
    ) -> tuple[ClientRecord, str] | None:
        """Give a client a new secret; the old one stops working at once.

        Returns:
            The updated record and the new secret, or ``None`` if there is no such client.
        """
        secret = secrets.token_urlsafe(32)
        secret_hash = await asyncio.to_thread(self.hasher.hash, secret)
        record = await self._update(client_id, conn, secret_hash=secret_hash)
        return (record, secret) if record is not None else None

    async def disable(self, client_id: str, conn: AsyncConnection | None = None) -> ClientRecord | None:
        """Disable a client: no new tokens, and its tokens are refused within the cache time.

        Returns:
            The updated record, or ``None`` if there is no such client.
        """
        return await self._update(client_id, conn, status="disabled")

    async def _update(
        self, client_id: str, conn: AsyncConnection | None, **values: Any
    ) -> ClientRecord | None:
        async with self._connection(conn) as c:
            result = await c.execute(
                clients.update()
                .where(clients.c.client_id == client_id)
                .values(updated_at=datetime.now(UTC), **values)
            )
            if result.rowcount == 0:
                return None
            row = (await c.execute(sa.select(clients).where(clients.c.client_id == client_id))).one()
        self.forget(client_id)
        return _record(row)

    async def authenticate(self, client_id: str, secret: str) -> ClientRecord | None:
        """The active client ``client_id`` if ``secret`` is its secret, else ``None``.

        Unknown ids cost the same hash verification as known ones, so the answer time does not
        tell a guesser which client ids exist.
        """
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(clients).where(clients.c.client_id == client_id))).first()
        stored = row.secret_hash if row is not None else await self._dummy()
        if not await asyncio.to_thread(self._verify, stored, secret):
            return None
        if row is None or row.status != "active":
            return None
        if self.hasher.check_needs_rehash(stored):
            # Parameters were raised since this secret was hashed: upgrade it while we know it.
            new_hash = await asyncio.to_thread(self.hasher.hash, secret)
            async with self.engine.begin() as conn:
                await conn.execute(
                    clients.update().where(clients.c.client_id == client_id).values(secret_hash=new_hash)
                )
        return _record(row)

    def _verify(self, stored: str, secret: str) -> bool:
        try:
            return self.hasher.verify(stored, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(self.hasher.hash, secrets.token_urlsafe(32))
        return self._dummy_hash

    async def active(self, client_id: str) -> ClientRecord | None:
        """The client if it exists and is active; read at most once per ``cache_seconds``.

        This runs on every authenticated call, so it answers from memory: when the cached
        status is older than ``cache_seconds``, one background read refreshes it while calls
        keep the status last read; past twice that age, calls wait for the read. So a change
        made elsewhere is seen within ``2 * cache_seconds``, and concurrent calls never stampede
        the database: they share one read.
        """
        cached = self._cache.get(client_id)
        if cached is not None:
            age = time.monotonic() - cached[0]
            if age < self.cache_seconds:
                return cached[1]
            if age < 2 * self.cache_seconds:
                if client_id not in self._reading:
                    self._reading[client_id] = asyncio.create_task(self._read_status(client_id))
                return cached[1]
        reading = self._reading.get(client_id)
        if reading is None:
            reading = self._reading[client_id] = asyncio.create_task(self._read_status(client_id))
        return await asyncio.shield(reading)

    async def _read_status(self, client_id: str) -> ClientRecord | None:
        try:
            record = await self.get(client_id)
            if record is not None and record.status != "active":
                record = None
            if len(self._cache) >= 100_000:
                # Never grow without bound (tokens of many deleted clients); start over.
                self._cache.clear()
            self._cache[client_id] = (time.monotonic(), record)
            return record
        except Exception:
            logger.exception("could not read the status of client %s; keeping the last one", client_id)
            cached = self._cache.get(client_id)
            if cached is None:
                raise
            return cached[1]
        finally:
            self._reading.pop(client_id, None)

    def forget(self, client_id: str) -> None:
        """Drop the cached status of ``client_id`` so the next :meth:`active` reads it again."""
        self._cache.pop(client_id, None)
