"""The audit trail: one hash-chained record per governed call, with a gap-free sequence.

Every record carries the hash of the record before it, so editing, deleting or reordering a
record breaks the chain at that record, and :meth:`AuditLog.verify` names the first broken
sequence number. The chain head (``audit_head``: last seq and hash) is locked while a
transaction appends, so sequence numbers are assigned only inside the transaction that commits
them: a rolled-back transaction leaves no gap.

Records of changes are appended inside the transaction of the change
(:meth:`AuditLog.record_change`), so the change and its record commit together or not at all.
Records of reads and rejections are queued by the :class:`Audit` policy without touching the
database and written in batches by a background task; :meth:`AuditLog.close` writes whatever
is queued, so a clean shutdown loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from policies.call import Call
from policies.chain import Policy
from policies.config import AuditConfig
from policies.tables import audit_head, audit_records

__all__ = [
    "GENESIS_HASH",
    "Audit",
    "AuditLog",
    "AuditRecord",
    "VerifyResult",
    "record_hash",
]

logger = logging.getLogger("finrail.audit")

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first record."""

_HEAD_ID = 1
_CHUNK = 500
_MAX_QUERY = 1000

Kind = Literal["read", "change", "rejected"]


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One audit record, as stored in ``audit_records`` and exported as a JSON line."""

    seq: int
    """Position in the chain, from 1, without gaps."""
    recorded_at: datetime
    """When the call arrived (UTC)."""
    kind: Kind
    """``read``, ``change`` (with before and after) or ``rejected`` (refused or failed)."""
    client_id: str | None
    """The calling OAuth2 client."""
    subject: str | None
    """The portal user on whose behalf the client called, if any."""
    api: str
    """Catalog name of the API."""
    version: int
    """Major version of the API."""
    operation: str
    """Operation name of the route."""
    method: str
    """HTTP method."""
    path: str
    """Request path."""
    resource_ids: dict[str, str]
    """Identifiers of the objects the call touched."""
    remote_addr: str
    """Address the call came from."""
    outcome: int
    """HTTP status of the answer."""
    detail: str | None
    """Why the call was refused or failed, if it was."""
    correlation_id: str
    """Correlation id of the call."""
    before: Any = None
    """State of the changed object before the change (changes only)."""
    after: Any = None
    """State of the changed object after the change (changes only)."""
    prev_hash: str = ""
    """Hash of the previous record (:data:`GENESIS_HASH` for the first)."""
    hash: str = ""
    """SHA-256 of ``prev_hash`` and the canonical encoding of this record."""


class VerifyResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of checking the whole chain."""

    ok: bool
    """The chain is intact."""
    records: int
    """Records checked."""
    first_broken_seq: int | None
    """Sequence number where the chain first breaks."""
    reason: str
    """What is wrong, or ``"ok"``."""


_HASHED_OUT = frozenset({"hash", "prev_hash"})
_canonical_encoder = msgspec.json.Encoder(order="sorted")


def record_hash(record: AuditRecord) -> str:
    """The hash of ``record``: SHA-256 over its ``prev_hash`` and its canonical JSON.

    Canonical JSON is msgspec's encoding with sorted keys; datetimes are ISO 8601 UTC.
    """
    fields = {
        name: value for name, value in msgspec.structs.asdict(record).items() if name not in _HASHED_OUT
    }
    fields["recorded_at"] = record.recorded_at.astimezone(UTC)
    return hashlib.sha256(record.prev_hash.encode() + _canonical_encoder.encode(fields)).hexdigest()


def _json_value(value: Any) -> Any:
    """``value`` as plain JSON data, exactly as it reads back from the database."""
    if value is None:
        return None
    return msgspec.json.decode(msgspec.json.encode(value))


def _cut(value: str | None, size: int) -> str | None:
    return value if value is None or len(value) <= size else value[:size]


def _remote_addr(call: Call) -> str:
    if call.remote_addr:
        return call.remote_addr
    client = call.scope.get("client")
    return str(client[0]) if client else ""


def _record(
    call: Call,
    kind: Kind,
    *,
    operation: str | None = None,
    resource_ids: dict[str, str] | None = None,
    outcome: int | None = None,
    before: Any = None,
    after: Any = None,
) -> AuditRecord:
    route = call.route
    return AuditRecord(
        seq=0,
        recorded_at=call.at,
        kind=kind,
        client_id=_cut(call.client_id, 64),
        subject=_cut(call.subject, 200),
        api=route.api[:64],
        version=route.version,
        operation=(operation or route.operation)[:200],
        method=route.method[:10],
        path=call.scope["path"][:2000],
        resource_ids=dict(call.resource_ids if resource_ids is None else resource_ids),
        remote_addr=_remote_addr(call)[:64],
        outcome=call.status if outcome is None else outcome,
        detail=call.outcome_detail,
        correlation_id=call.correlation_id[:128],
        before=before,
        after=after,
    )


_FIELDS = tuple(msgspec.structs.fields(AuditRecord))
_JSON_FIELDS = frozenset({"resource_ids", "before", "after"})
_COLUMN_NAMES = tuple(field.name for field in _FIELDS)


def _insert_sql(paramstyle: str) -> str:
    if paramstyle == "qmark":
        marks = ", ".join("?" for _ in _COLUMN_NAMES)
    elif paramstyle == "numeric_dollar":
        marks = ", ".join(f"${i}" for i in range(1, len(_COLUMN_NAMES) + 1))
    else:  # pragma: no cover - the two supported drivers use the styles above
        raise RuntimeError(f"unsupported DBAPI paramstyle {paramstyle}")
    columns = ", ".join(f'"{name}"' for name in _COLUMN_NAMES)
    return f"INSERT INTO audit_records ({columns}) VALUES ({marks})"  # noqa: S608 - column names and markers are constants


def _driver_row(record: AuditRecord, sqlite_times: bool) -> tuple[Any, ...]:
    """One row for the driver's ``executemany``, stored exactly as the table's types store it.

    Read records arrive by the thousand per second; going through SQLAlchemy's per-value type
    processing for each of them cost more than hashing them. The values are the ones
    :data:`policies.tables.audit_records` would store: JSON text, UTC times (naive text on SQLite).
    """
    values: list[Any] = []
    for name in _COLUMN_NAMES:
        value = getattr(record, name)
        if name in _JSON_FIELDS:
            value = None if value is None else msgspec.json.encode(value).decode()
        elif name == "recorded_at":
            value = value.astimezone(UTC)
            if sqlite_times:
                value = value.strftime("%Y-%m-%d %H:%M:%S.%f")
        values.append(value)
    return tuple(values)


def _from_row(row: sa.Row[Any]) -> AuditRecord:
    return AuditRecord(**row._mapping)


class AuditLog:
    """Appends to, verifies and reads the audit trail; batches records of reads."""

    def __init__(self, engine: AsyncEngine, config: AuditConfig) -> None:
        self.engine = engine
        self.config = config
        self._pending: deque[AuditRecord] = deque()
        self._wake = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- writing -------------------------------------------------------------------------

    def enqueue(self, call: Call) -> None:
        """Queue the record of a finished read or rejected call (no I/O, no hashing)."""
        kind: Kind = "rejected" if call.rejected_by is not None or call.status >= 400 else "read"
        self._pending.append(_record(call, kind))
        if len(self._pending) >= self.config.batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Records queued and not yet written."""
        return len(self._pending)

    async def record_change(
        self,
        conn: AsyncConnection,
        call: Call,
        *,
        operation: str | None = None,
        resource_ids: dict[str, str],
        before: Any,
        after: Any,
        outcome: int = 200,
    ) -> AuditRecord:
        """Append the record of a change inside the caller's open transaction ``conn``.

        The record commits with the change or not at all; the :class:`Audit` policy writes no
        second record for the call.

        Args:
            conn: The connection whose transaction makes the change.
            call: The governed call making the change.
            operation: Operation name; the route's when not given.
            resource_ids: Identifiers of the changed objects.
            before: The object before the change (``None`` when created); JSON-encodable.
            after: The object after the change (``None`` when deleted); JSON-encodable.
            outcome: HTTP status the call will answer with.

        Returns:
            The appended record, with its seq and hash.
        """
        record = _record(
            call,
            "change",
            operation=operation,
            resource_ids=resource_ids,
            outcome=outcome,
            before=_json_value(before),
            after=_json_value(after),
        )
        for name, value in resource_ids.items():
            call.resource_ids.setdefault(name, value)
        (appended,) = await self.append(conn, [record])
        call.audited = True
        return appended

    async def record_remote_change(
        self,
        call: Call,
        *,
        resource_ids: dict[str, str],
        before: Any,
        after: Any,
        outcome: int = 200,
        operation: str | None = None,
    ) -> AuditRecord:
        """Record a change a platform has just confirmed, in a transaction of its own.

        A system API's change lives in the platform, not in our database, so there is no
        transaction of the change to join; the record is written once the platform confirmed,
        before the caller hears the answer. ``before`` and ``after`` may be Structs.
        """
        call.resource_ids.update(resource_ids)
        async with self.engine.begin() as conn:
            return await self.record_change(
                conn, call, operation=operation, resource_ids=resource_ids, before=before, after=after,
                outcome=outcome,
            )

    async def append(self, conn: AsyncConnection, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        """Chain ``records`` onto the trail inside the open transaction of ``conn``.

        The only place that assigns sequence numbers and hashes: the head row is locked first,
        so concurrent appenders queue behind each other and commit in sequence order.

        Returns:
            The records as written, with seq, prev_hash and hash set.
        """
        if not records:
            return []
        seq, prev_hash = await self._lock_head(conn)
        chained: list[AuditRecord] = []
        for record in records:
            seq += 1
            record = msgspec.structs.replace(
                record, seq=seq, prev_hash=prev_hash, recorded_at=record.recorded_at.astimezone(UTC)
            )
            prev_hash = record_hash(record)
            chained.append(msgspec.structs.replace(record, hash=prev_hash))
        dialect = conn.dialect
        sqlite_times = dialect.name == "sqlite"
        await conn.exec_driver_sql(
            _insert_sql(dialect.paramstyle), [_driver_row(record, sqlite_times) for record in chained]
        )
        await conn.execute(
            audit_head.update().where(audit_head.c.id == _HEAD_ID).values(seq=seq, hash=prev_hash)
        )
        return chained

    async def _lock_head(self, conn: AsyncConnection) -> tuple[int, str]:
        is_pg = conn.dialect.name == "postgresql"
        query = sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == _HEAD_ID)
        if is_pg:
            query = query.with_for_update()
        row = (await conn.execute(query)).one_or_none()
        if row is None:
            # First record ever: create the head. ON CONFLICT DO NOTHING makes concurrent first
            # appenders agree on one row; PostgreSQL makes the loser wait for the winner's commit.
            insert = postgresql.insert if is_pg else sqlite.insert
            await conn.execute(
                insert(audit_head)
                .values(id=_HEAD_ID, seq=0, hash=GENESIS_HASH)
                .on_conflict_do_nothing(index_elements=[audit_head.c.id])
            )
            row = (await conn.execute(query)).one()
        return int(row.seq), str(row.hash)

    async def start(self) -> None:
        """Start the background task that writes queued records in batches."""
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name="finrail-audit-writer")

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.flush_interval_seconds)
            self._wake.clear()
            if not self._pending:
                continue
            try:
                await self.flush()
            except Exception:
                logger.exception("writing %d audit records failed; will retry", len(self._pending))
                await asyncio.sleep(self.config.flush_interval_seconds)

    async def flush(self) -> None:
        """Write every queued record now, in batches of ``batch_size``, in queue order."""
        async with self._write_lock:
            while self._pending:
                size = min(self.config.batch_size, len(self._pending))
                batch = [self._pending.popleft() for _ in range(size)]
                try:
                    async with self.engine.begin() as conn:
                        await self.append(conn, batch)
                except BaseException:
                    self._pending.extendleft(reversed(batch))
                    raise

    async def close(self) -> None:
        """Stop the background task and write everything still queued."""
        task, self._task = self._task, None
        if task is not None:
            self._closing = True
            self._wake.set()
            await task
        await self.flush()

    # -- reading -------------------------------------------------------------------------

    async def _chunks(self, query: sa.Select[Any], after_seq: int = 0) -> AsyncIterator[list[AuditRecord]]:
        """Records matching ``query`` in seq order, a chunk per short transaction (keyset paging).

        Short transactions matter on SQLite, where every transaction holds the write lock.
        """
        while True:
            page = query.where(audit_records.c.seq > after_seq).order_by(audit_records.c.seq).limit(_CHUNK)
            async with self.engine.begin() as conn:
                rows = (await conn.execute(page)).all()
            if not rows:
                return
            chunk = [_from_row(row) for row in rows]
            yield chunk
            if len(rows) < _CHUNK:
                return
            after_seq = chunk[-1].seq

    async def verify(self) -> VerifyResult:
        """Check the whole chain up to the head as it is when verification starts.

        Detects an edited record (its hash no longer matches), a deleted one (a gap in the
        sequence, or a head ahead of the last record) and reordered ones (a broken link).
        """
        async with self.engine.begin() as conn:
            head = (
                await conn.execute(
                    sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == _HEAD_ID)
                )
            ).one_or_none()
        head_seq, head_hash = (int(head.seq), str(head.hash)) if head is not None else (0, GENESIS_HASH)
        expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
        query = sa.select(audit_records).where(audit_records.c.seq <= head_seq)
        async for chunk in self._chunks(query):
            for record in chunk:
                count += 1
                if record.seq != expected_seq:
                    return _broken(count - 1, expected_seq, f"record {expected_seq} is missing")
                if record.prev_hash != prev_hash:
                    reason = f"record {record.seq} does not link to its predecessor"
                    return _broken(count - 1, record.seq, reason)
                if record_hash(record) != record.hash:
                    return _broken(count - 1, record.seq, f"record {record.seq} was altered")
                prev_hash = record.hash
                expected_seq += 1
        last_seq = expected_seq - 1
        if head is None and last_seq == 0:
            beyond = await self._first_seq_after(0)
            if beyond is not None:
                return _broken(0, beyond, "the chain head is missing")
        if last_seq != head_seq:
            return _broken(count, last_seq + 1, f"records {last_seq + 1} to {head_seq} are missing")
        if prev_hash != head_hash:
            return _broken(count, head_seq, f"record {head_seq} does not match the chain head")
        return VerifyResult(ok=True, records=count, first_broken_seq=None, reason="ok")

    async def _first_seq_after(self, seq: int) -> int | None:
        query = sa.select(sa.func.min(audit_records.c.seq)).where(audit_records.c.seq > seq)
        async with self.engine.begin() as conn:
            value = (await conn.execute(query)).scalar()
        return None if value is None else int(value)

    @staticmethod
    def _filtered(
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        client_id: str | None = None,
        correlation_id: str | None = None,
    ) -> sa.Select[Any]:
        query = sa.select(audit_records)
        if since is not None:
            query = query.where(audit_records.c.recorded_at >= since)
        if until is not None:
            query = query.where(audit_records.c.recorded_at < until)
        if client_id is not None:
            query = query.where(audit_records.c.client_id == client_id)
        if correlation_id is not None:
            query = query.where(audit_records.c.correlation_id == correlation_id)
        return query

    async def export(
        self, out: TextIO, *, since: datetime | None = None, until: datetime | None = None
    ) -> int:
        """Write records recorded in ``[since, until)`` to ``out`` as JSON lines, in seq order.

        Returns:
            How many records were written.
        """
        count = 0
        encoder = msgspec.json.Encoder()
        async for chunk in self._chunks(self._filtered(since=since, until=until)):
            for record in chunk:
                out.write(encoder.encode(record).decode())
                out.write("\n")
            count += len(chunk)
        return count

    async def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        client_id: str | None = None,
        correlation_id: str | None = None,
        after_seq: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """One page of records in seq order; pass the last seq as ``after_seq`` for the next.

        Args:
            since: Recorded at or after this time.
            until: Recorded before this time.
            client_id: Of this client only.
            correlation_id: Of this correlation id only.
            after_seq: Only records after this sequence number (the paging cursor).
            limit: Page size, 1 to 1000.
        """
        query = self._filtered(since=since, until=until, client_id=client_id, correlation_id=correlation_id)
        if after_seq is not None:
            query = query.where(audit_records.c.seq > after_seq)
        query = query.order_by(audit_records.c.seq).limit(max(1, min(limit, _MAX_QUERY)))
        async with self.engine.begin() as conn:
            rows = (await conn.execute(query)).all()
        return [_from_row(row) for row in rows]


def _broken(records: int, seq: int, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, records=records, first_broken_seq=seq, reason=reason)


class Audit(Policy):
    """Queue one audit record per finished call, unless the handler recorded a change.

    A call that recorded a change but still failed (status 400 or above) gets its own
    ``rejected`` record too: its change transaction may have rolled back with the change
    record in it, and a failed call must never leave the trail silent.
    """

    name = "audit"

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    async def on_finish(self, call: Call) -> None:
        """Queue the call's record (a change was already recorded in its transaction)."""
        if not call.audited or call.status >= 400:
            self.log.enqueue(call)
