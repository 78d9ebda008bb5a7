"""Idempotency keys (draft-ietf-httpapi-idempotency-key-header) for routes that create effects.

A client that retries a POST after a timeout must not create the effect twice. It sends an
``Idempotency-Key``; the first call with a key claims it (a row in ``idempotency_keys``), and
its outcome is stored before the client hears it. A retry then gets the stored answer back
instead of a second effect; a retry while the first call still runs gets 409; the same key with
a different request gets 422. Keys are scoped per client, live in the database (so they survive
a restart and are shared by every process), and are kept ``retention_hours`` (at least 24).

The store claims a key with a plain ``INSERT`` and treats the unique violation as "already
claimed": that is atomic on SQLite and PostgreSQL alike, with no table lock.

Stored answers can hold secrets (``POST /admin/v1/clients`` answers with a client secret), so
the database never holds a key or an answer in the clear: rows are found by a SHA-256 digest
of the key, and the answer is sealed with AES-GCM under a key derived from the idempotency key
itself. Only a caller presenting the key can read the stored answer back.
"""

from __future__ import annotations

import enum
import hashlib
import os
from datetime import UTC, datetime, timedelta

import msgspec
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.call import Call
from policies.chain import Policy
from policies.config import IdempotencyConfig
from policies.problems import Problem
from policies.tables import idempotency_keys

__all__ = [
    "REPLAYED_HEADER",
    "Claim",
    "ClaimState",
    "Idempotency",
    "IdempotencyStore",
    "fingerprint",
    "parse_key",
]

REPLAYED_HEADER = (b"idempotent-replayed", b"true")
"""Added to every replayed answer, so a client can tell a replay from a first execution."""

MAX_KEY_LENGTH = 255
MIN_RETENTION_HOURS = 24

_IN_FLIGHT = "in_flight"
_COMPLETED = "completed"
_CLAIM_ATTEMPTS = 5

_KEY_HELP = (
    'send a unique value per operation (for example a UUID) as `Idempotency-Key: "<value>"`, '
    "1 to 255 visible ASCII characters; reuse it only to retry the same request"
)


class ClaimState(enum.Enum):
    """What :meth:`IdempotencyStore.begin` found for a key."""

    NEW = "new"
    """The key is now claimed by this call: run it, then complete or release the key."""
    REPLAY = "replay"
    """A call with this key and request completed: answer with its stored response."""
    MISMATCH = "mismatch"
    """The key was used for a different request."""
    IN_FLIGHT = "in_flight"
    """A call with this key is still running."""


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of claiming a key; the stored response when it is a replay."""

    state: ClaimState
    """What was found."""
    status: int = 0
    """Stored status code (replay only)."""
    headers: list[tuple[bytes, bytes]] = msgspec.field(default_factory=list)
    """Stored response headers, as ASGI header pairs (replay only)."""
    body: bytes = b""
    """Stored response body (replay only)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(key: str) -> str:
    """What the database holds instead of the key."""
    return hashlib.sha256(key.encode("latin-1")).hexdigest()


def _cipher(client_id: str, key: str) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=client_id.encode(), info=b"finrail idempotency")
    return AESGCM(hkdf.derive(key.encode("latin-1")))


def _seal(client_id: str, key: str, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    nonce = os.urandom(12)
    plain = msgspec.msgpack.encode((headers, body))
    return nonce + _cipher(client_id, key).encrypt(nonce, plain, client_id.encode())


def _unseal(client_id: str, key: str, sealed: bytes) -> tuple[list[tuple[bytes, bytes]], bytes] | None:
    try:
        plain = _cipher(client_id, key).decrypt(sealed[:12], sealed[12:], client_id.encode())
    except (InvalidTag, ValueError):
        return None
    headers, body = msgspec.msgpack.decode(plain, type=tuple[list[tuple[bytes, bytes]], bytes])
    return headers, body


_RETRYABLE = frozenset({408, 429})


class IdempotencyStore:
    """Durable claims on idempotency keys, shared by every process using the database."""

    def __init__(self, engine: AsyncEngine, config: IdempotencyConfig) -> None:
        self.engine = engine
        self.config = config
        self.retention = timedelta(hours=max(config.retention_hours, MIN_RETENTION_HOURS))
        self.lock = timedelta(seconds=config.lock_seconds)

    async def begin(self, client_id: str, key: str, method: str, path: str, fingerprint: str) -> Claim:
        """Claim ``key`` for a call, or say why the call must not run.

        Args:
            client_id: The calling client; keys of different clients never collide.
            key: The idempotency key as sent (unquoted).
            method: HTTP method of the call.
            path: Path and query of the call.
            fingerprint: Hash of the request (see :func:`fingerprint`).

        Returns:
            The claim; only :attr:`ClaimState.NEW` allows the call to run.
        """
        for _ in range(_CLAIM_ATTEMPTS):
            now = _now()
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(
                        idempotency_keys.insert().values(
                            client_id=client_id,
                            key=_digest(key),
                            method=method,
                            path=path[:2000],
                            fingerprint=fingerprint,
                            state=_IN_FLIGHT,
                            locked_until=now + self.lock,
                            created_at=now,
                            expires_at=now + self.retention,
                        )
                    )
                return Claim(state=ClaimState.NEW)
            except IntegrityError:
                pass  # claimed before; the transaction was rolled back by the context manager
            claim = await self._existing(client_id, key, method, path, fingerprint)
            if claim is not None:
                return claim
            # The row vanished (released or purged) or a takeover raced us: try again.
        return Claim(state=ClaimState.IN_FLIGHT)

    async def _existing(
        self, client_id: str, key: str, method: str, path: str, fingerprint: str
    ) -> Claim | None:
        table = idempotency_keys
        where = sa.and_(table.c.client_id == client_id, table.c.key == _digest(key))
        now = _now()
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        table.c.fingerprint,
                        table.c.state,
                        table.c.status_code,
                        table.c.headers,
                        table.c.body,
                        table.c.locked_until,
                        table.c.expires_at,
                    ).where(where)
                )
            ).one_or_none()
            if row is None:
                return None
            if row.expires_at <= now:
                # Past retention but not purged yet: the key is free again.
                taken = await conn.execute(
                    table.update()
                    .where(where, table.c.expires_at <= now)
                    .values(
                        method=method,
                        path=path[:2000],
                        fingerprint=fingerprint,
                        state=_IN_FLIGHT,
                        status_code=None,
                        headers=None,
                        body=None,
                        locked_until=now + self.lock,
                        created_at=now,
                        expires_at=now + self.retention,
                    )
                )
                return Claim(state=ClaimState.NEW) if taken.rowcount == 1 else None
            if row.fingerprint != fingerprint:
                return Claim(state=ClaimState.MISMATCH)
            if row.state == _COMPLETED:
                opened = _unseal(client_id, key, row.body)
                if opened is None:  # same digest, different key: as good as a different request
                    return Claim(state=ClaimState.MISMATCH)
                headers, body = opened
                return Claim(state=ClaimState.REPLAY, status=row.status_code, headers=headers, body=body)
            if row.locked_until > now:
                return Claim(state=ClaimState.IN_FLIGHT)
            # The first call's process died holding the key: take it over, atomically, so that
            # of several retries racing here exactly one wins.
            taken = await conn.execute(
                table.update()
                .where(where, table.c.state == _IN_FLIGHT, table.c.locked_until <= now)
                .values(locked_until=now + self.lock)
            )
            return Claim(state=ClaimState.NEW) if taken.rowcount == 1 else None

    async def complete(
        self, client_id: str, key: str, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        """Store the response of the call holding ``key``, to be replayed to its retries."""
        table = idempotency_keys
        async with self.engine.begin() as conn:
            await conn.execute(
                table.update()
                .where(table.c.client_id == client_id, table.c.key == _digest(key), table.c.state == _IN_FLIGHT)
                .values(state=_COMPLETED, status_code=status, headers=None, body=_seal(client_id, key, headers, body))
            )

    async def release(self, client_id: str, key: str) -> None:
        """Give up the claim on ``key`` (the call failed or crashed), so the client may retry."""
        table = idempotency_keys
        async with self.engine.begin() as conn:
            await conn.execute(
                table.delete().where(
                    table.c.client_id == client_id, table.c.key == _digest(key), table.c.state == _IN_FLIGHT
                )
            )

    async def purge_expired(self) -> int:
        """Delete keys past their retention; returns how many were deleted."""
        table = idempotency_keys
        async with self.engine.begin() as conn:
            result = await conn.execute(table.delete().where(table.c.expires_at <= _now()))
        return int(result.rowcount)


def _visible(text: str, *, allow_space: bool) -> bool:
    low = 0x20 if allow_space else 0x21
    return all(low <= ord(char) <= 0x7E for char in text)


def parse_key(value: str) -> str:
    r"""The key carried by an ``Idempotency-Key`` header value.

    The draft makes the field a structured-field string (RFC 8941 §3.3.3: ``"abc"``, with
    ``\"`` and ``\\`` escapes); many clients send the bare value (``abc``), so both are
    accepted and name the same key.

    Raises:
        Problem: 400 when the value is empty, longer than 255 characters or not visible ASCII.
    """
    value = value.strip(" \t")
    if value.startswith('"'):
        chars: list[str] = []
        escaped = False
        closed = False
        for index, char in enumerate(value[1:], start=1):
            if escaped:
                if char not in '"\\':
                    raise Problem(400, f"Idempotency-Key has an invalid escape \\{char}; {_KEY_HELP}")
                chars.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                if index != len(value) - 1:
                    raise Problem(400, f"Idempotency-Key has characters after its closing quote; {_KEY_HELP}")
                closed = True
            else:
                chars.append(char)
        if not closed:
            raise Problem(400, f"Idempotency-Key has no closing quote; {_KEY_HELP}")
        key = "".join(chars)
        allow_space = True
    else:
        key = value
        allow_space = False
    if not key:
        raise Problem(400, f"Idempotency-Key is empty; {_KEY_HELP}")
    if len(key) > MAX_KEY_LENGTH:
        raise Problem(400, f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters; {_KEY_HELP}")
    if not _visible(key, allow_space=allow_space):
        raise Problem(400, f"Idempotency-Key must be visible ASCII; {_KEY_HELP}")
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 over the method, the path with its query, and the body (length-prefixed parts)."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode("utf-8", "surrogateescape"), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class Idempotency(Policy):
    """Require, claim and replay ``Idempotency-Key`` on routes that create an effect.

    ``call.capture`` stays set while the key is claimed but its outcome not yet stored;
    :meth:`on_response` clears it once the outcome is stored or the key released, and
    :meth:`on_finish` releases a key whose call never got that far (crash, client gone).
    """

    name = "idempotency"

    def __init__(self, store: IdempotencyStore) -> None:
        self.store = store

    async def on_request(self, call: Call) -> None:
        """Claim the key, or answer with a replay, 400, 409 or 422."""
        if not call.route.effect:
            return
        raw = call.header(b"idempotency-key")
        if raw is None:
            raise Problem(
                400,
                f"this operation creates an effect and requires an Idempotency-Key header; {_KEY_HELP}",
                kind="idempotency-key-missing",
            )
        key = parse_key(raw)
        body = await self._body(call)
        scope = call.scope
        path = scope["path"]
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode("latin-1")
        method = call.route.method
        client = call.client_id or ""
        claim = await self.store.begin(client, key, method, path, fingerprint(method, path, body))
        if claim.state is ClaimState.NEW:
            call.idempotency_key = key
            call.capture = True
        elif claim.state is ClaimState.REPLAY:
            call.replay = (claim.status, [*claim.headers, REPLAYED_HEADER], claim.body)
        elif claim.state is ClaimState.MISMATCH:
            raise Problem(
                422,
                "this Idempotency-Key was used with a different request body, method or path; "
                "use a new key for a new request",
                kind="idempotency-key-reused",
            )
        else:
            raise Problem(
                409,
                "a request with this Idempotency-Key is still being processed; retry later",
                kind="idempotency-key-in-flight",
                headers={"Retry-After": "1"},
            )

    @staticmethod
    async def _body(call: Call) -> bytes:
        if call.body is not None:
            return call.body
        if call.receive is None:
            return b""
        limit = call.route.threat.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await call.receive()
            if message["type"] != "http.request":
                raise Problem(400, "the client went away before the request body was received")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise Problem(413, f"the request body is larger than {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        call.body = b"".join(chunks)
        return call.body

    async def on_response(self, call: Call) -> None:
        """Store the outcome before the client hears it; a 5xx, 408 or 429 frees the key for a retry.

        Those answers say "not now", not "no": replaying them would refuse the retry the
        client was told to make.
        """
        if call.idempotency_key is None or not call.capture:
            return
        client = call.client_id or ""
        if call.status < 500 and call.status not in _RETRYABLE:
            await self.store.complete(
                client, call.idempotency_key, call.status, call.captured_headers, b"".join(call.captured_body)
            )
        else:
            await self.store.release(client, call.idempotency_key)
        call.capture = False

    async def on_finish(self, call: Call) -> None:
        """Release a key whose call ended without a stored outcome."""
        if call.idempotency_key is None or not call.capture:
            return
        call.capture = False
        await self.store.release(call.client_id or "", call.idempotency_key)
