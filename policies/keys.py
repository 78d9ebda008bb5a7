"""Signing keys of the token issuer: created on first start, persisted, rotated with overlap.

One key is *active* (it signs new tokens); retired keys stay published in the JWKS until the
last token they signed has expired, so a rotation never breaks a token in flight. Everything
the hot path needs (the active key, the public keys by ``kid``) is held in memory; the
database is read at start, after a rotation, and when a token names a ``kid`` this process
has not seen yet (another process rotated), at most once per second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from joserfc import jwk, jws
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from policies.tables import signing_keys

__all__ = ["SUPPORTED_ALGORITHMS", "Key", "KeyStore"]

logger = logging.getLogger("finrail.keys")

Key = jwk.ECKey | jwk.RSAKey
"""A public or private asymmetric key as joserfc models it."""

SUPPORTED_ALGORITHMS = ("ES256", "RS256")
"""Algorithms Finrail signs with: asymmetric only, so verifiers never hold a signing secret."""

REFRESH_INTERVAL_SECONDS = 1.0
"""Least time between two reloads of the key table prompted by an unknown ``kid``."""

OVERLAP_SECONDS = 60
"""Extra time a retired key stays published after the longest-lived token it could have signed."""


@dataclass(frozen=True, slots=True)
class _PublishedKey:
    kid: str
    algorithm: str
    key: Key
    jwk: dict[str, Any]
    expires_at: float | None
    """Unix time after which the key is no longer published (``None``: active)."""

    def live(self, now: float) -> bool:
        return self.expires_at is None or now < self.expires_at


def _generate(algorithm: str, kid: str) -> Key:
    if algorithm == "ES256":
        return jwk.ECKey.generate_key("P-256", {"kid": kid, "alg": algorithm, "use": "sig"}, private=True)
    if algorithm == "RS256":
        return jwk.RSAKey.generate_key(2048, {"kid": kid, "alg": algorithm, "use": "sig"}, private=True)
    supported = ", ".join(SUPPORTED_ALGORITHMS)
    raise ValueError(f"unsupported signing algorithm {algorithm!r}; use one of {supported}")


def _import(data: str) -> Key:
    key = jwk.import_key(json.loads(data))
    if not isinstance(key, jwk.ECKey | jwk.RSAKey):
        raise TypeError(f"stored signing key has unsupported type {type(key).__name__}")
    return key


def _public_jwk(key: Key, kid: str, algorithm: str) -> dict[str, Any]:
    data = dict(key.as_dict(private=False))
    data.update(kid=kid, alg=algorithm, use="sig")
    return data


class KeyStore:
    """The issuer's signing keys, persisted in ``signing_keys`` and mirrored in memory."""

    def __init__(self, engine: AsyncEngine, *, algorithm: str, token_ttl_seconds: int) -> None:
        """Create the store; nothing is read until :meth:`start`.

        Args:
            engine: Database holding the ``signing_keys`` table.
            algorithm: ``ES256`` or ``RS256``; used for keys created from now on.
            token_ttl_seconds: Lifetime of issued tokens; a retired key is published this long
                (plus a minute) after its retirement.
        """
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise ValueError(f"unsupported signing algorithm {algorithm!r}")
        self.engine = engine
        self.algorithm = algorithm
        self.token_ttl_seconds = token_ttl_seconds
        self._active: _PublishedKey | None = None
        self._signing_key: Key | None = None
        self._published: dict[str, _PublishedKey] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def active_kid(self) -> str:
        """``kid`` of the key that signs new tokens."""
        return self._require_active()[0].kid

    async def start(self) -> None:
        """Load the active key, creating and persisting one on the very first start."""
        async with self.engine.begin() as conn:
            await self._lock_table(conn)
            row = await self._active_row(conn)
            if row is None:
                await self._insert_new(conn, datetime.now(UTC))
        await self.reload()

    async def rotate(self) -> str:
        """Make a new active key and retire the current one.

        The retired key stays published in the JWKS until every token it signed has expired.

        Returns:
            The ``kid`` of the new active key.
        """
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            await self._lock_table(conn)
            await conn.execute(
                signing_keys.update()
                .where(signing_keys.c.retired_at.is_(None))
                .values(
                    retired_at=now,
                    expires_at=now + timedelta(seconds=self.token_ttl_seconds + OVERLAP_SECONDS),
                )
            )
            kid = await self._insert_new(conn, now)
        await self.reload()
        logger.info("signing key rotated; new kid %s", kid)
        return kid

    async def reload(self) -> None:
        """Read the keys from the database again (the active key and every published one)."""
        now = datetime.now(UTC)
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(signing_keys)
                    .where(sa.or_(signing_keys.c.retired_at.is_(None), signing_keys.c.expires_at > now))
                    .order_by(signing_keys.c.created_at)
                )
            ).all()
        published: dict[str, _PublishedKey] = {}
        active: _PublishedKey | None = None
        signing_key: Key | None = None
        for row in rows:
            key = _import(row.public_jwk)
            entry = _PublishedKey(
                kid=row.kid,
                algorithm=row.algorithm,
                key=key,
                jwk=_public_jwk(key, row.kid, row.algorithm),
                expires_at=row.expires_at.timestamp() if row.expires_at is not None else None,
            )
            published[row.kid] = entry
            if row.retired_at is None:
                # Newest active row wins; the table lock makes more than one impossible anyway.
                active, signing_key = entry, _import(row.private_jwk)
        self._published = published
        self._active = active
        self._signing_key = signing_key
        self._loaded_at = time.monotonic()

    async def refresh_if_stale(self, max_age_seconds: float) -> None:
        """Reload when the keys in memory are older than ``max_age_seconds``.

        The token endpoint calls this so that a rotation made by another process is picked up
        for signing well within the overlap a retired key is published for.
        """
        if time.monotonic() - self._loaded_at >= max_age_seconds:
            async with self._lock:
                if time.monotonic() - self._loaded_at >= max_age_seconds:
                    await self.reload()

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set: the active key and every retired key whose tokens may still be live."""
        now = time.time()
        return {"keys": [dict(entry.jwk) for entry in self._published.values() if entry.live(now)]}

    def sign(self, claims: dict[str, Any]) -> str:
        """Sign ``claims`` as an RFC 9068 access token with the active key (compact JWS)."""
        active, key = self._require_active()
        header = {"alg": active.algorithm, "typ": "at+jwt", "kid": active.kid}
        payload = json.dumps(claims, separators=(",", ":"))
        return jws.serialize_compact(header, payload, key, algorithms=[active.algorithm])

    async def public_key(self, kid: str) -> Key | None:
        """The public key named ``kid``, or ``None`` when no published key has that id.

        An unknown ``kid`` triggers a reload (at most once per second), so that a key created
        by a rotation in another process is found.
        """
        now = time.time()
        entry = self._published.get(kid)
        if entry is not None:
            return entry.key if entry.live(now) else None
        if time.monotonic() - self._loaded_at < REFRESH_INTERVAL_SECONDS:
            return None
        async with self._lock:
            if time.monotonic() - self._loaded_at >= REFRESH_INTERVAL_SECONDS:
                await self.reload()
        entry = self._published.get(kid)
        return entry.key if entry is not None and entry.live(now) else None

    def algorithm_of(self, kid: str) -> str | None:
        """The algorithm the published key ``kid`` signs with (``None`` if not published)."""
        entry = self._published.get(kid)
        return entry.algorithm if entry is not None else None

    def _require_active(self) -> tuple[_PublishedKey, Key]:
        if self._active is None or self._signing_key is None:
            raise RuntimeError("KeyStore.start() has not run: there is no active signing key")
        return self._active, self._signing_key

    @staticmethod
    async def _lock_table(conn: AsyncConnection) -> None:
        # SQLite transactions begin with BEGIN IMMEDIATE (one writer at a time); PostgreSQL needs
        # an explicit lock so two processes starting together do not both create a key.
        if conn.dialect.name == "postgresql":
            await conn.execute(sa.text("LOCK TABLE signing_keys IN EXCLUSIVE MODE"))

    @staticmethod
    async def _active_row(conn: AsyncConnection) -> Any:
        return (
            await conn.execute(
                sa.select(signing_keys.c.kid)
                .where(signing_keys.c.retired_at.is_(None))
                .order_by(signing_keys.c.created_at.desc())
                .limit(1)
            )
        ).first()

    async def _insert_new(self, conn: AsyncConnection, now: datetime) -> str:
        kid = secrets.token_urlsafe(12)
        # Generating an RSA key takes tens of milliseconds: keep it off the event loop.
        key = await asyncio.to_thread(_generate, self.algorithm, kid)
        await conn.execute(
            signing_keys.insert().values(
                kid=kid,
                algorithm=self.algorithm,
                private_jwk=json.dumps(key.as_dict(private=True)),
                public_jwk=json.dumps(_public_jwk(key, kid, self.algorithm)),
                created_at=now,
                retired_at=None,
                expires_at=None,
            )
        )
        return kid
