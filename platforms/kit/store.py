"""A small JSON document store on SQLite: the whole persistence layer of a sandbox.

Sandboxes hold a few thousand documents at most, so a synchronous store whose calls take
well under a millisecond is simpler than an async one and fast enough. Documents keep their
insertion order (an update keeps a document's place), and numbering sequences are persisted
with the documents, so a restarted sandbox carries on where it stopped.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import msgspec

__all__ = ["Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (collection, id)
);
CREATE TABLE IF NOT EXISTS sequences (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

_encoder = msgspec.json.Encoder(decimal_format="string")


class Store:
    """JSON documents by ``(collection, id)`` in one SQLite file (WAL) or in memory.

    Thread-safe: one connection guarded by a lock. After :meth:`close` the next call opens
    the file again, so an app object can be started, stopped and started again.

    Args:
        path: SQLite file; ``None`` keeps everything in memory (lost on :meth:`close`).
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self.path or ":memory:", check_same_thread=False, isolation_level=None)
            if self.path:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
            self._connection = connection
        return self._connection

    def get(self, collection: str, id: str) -> dict[str, Any] | None:
        """The document ``id`` of ``collection``, or ``None``."""
        with self._lock:
            row = self._db().execute(
                "SELECT body FROM documents WHERE collection = ? AND id = ?", (collection, id)
            ).fetchone()
        return None if row is None else _decode(row[0])

    def put(self, collection: str, id: str, doc: dict[str, Any]) -> None:
        """Insert or replace a document (a replaced document keeps its position)."""
        body = _encoder.encode(doc).decode()
        with self._lock:
            self._db().execute(
                "INSERT INTO documents (collection, id, body) VALUES (?, ?, ?) "
                "ON CONFLICT (collection, id) DO UPDATE SET body = excluded.body",
                (collection, id, body),
            )

    def delete(self, collection: str, id: str) -> bool:
        """Remove a document; ``True`` if it existed."""
        with self._lock:
            cursor = self._db().execute("DELETE FROM documents WHERE collection = ? AND id = ?", (collection, id))
        return cursor.rowcount > 0

    def all(self, collection: str) -> list[dict[str, Any]]:
        """Every document of ``collection``, in insertion order."""
        with self._lock:
            rows = self._db().execute(
                "SELECT body FROM documents WHERE collection = ? ORDER BY position", (collection,)
            ).fetchall()
        return [_decode(row[0]) for row in rows]

    def find(self, collection: str, **equals: Any) -> list[dict[str, Any]]:
        """Documents of ``collection`` whose top-level fields equal ``equals``, in insertion order."""
        return [doc for doc in self.all(collection) if all(doc.get(k) == v for k, v in equals.items())]

    def count(self, collection: str) -> int:
        """How many documents ``collection`` holds."""
        with self._lock:
            row = self._db().execute("SELECT count(*) FROM documents WHERE collection = ?", (collection,)).fetchone()
        return int(row[0])

    def next_number(self, sequence: str, start: int = 1) -> int:
        """The next number of ``sequence``: ``start`` the first time, then one more each call."""
        with self._lock:
            row = self._db().execute(
                "INSERT INTO sequences (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
                (sequence, start),
            ).fetchone()
        return int(row[0])

    def is_empty(self) -> bool:
        """``True`` when the store holds no document (a fresh sandbox that needs its seed)."""
        with self._lock:
            return self._db().execute("SELECT 1 FROM documents LIMIT 1").fetchone() is None

    def wipe(self) -> None:
        """Delete every document and sequence."""
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM documents")
            db.execute("DELETE FROM sequences")
            db.execute("COMMIT")

    def close(self) -> None:
        """Close the file (an in-memory store loses its content); the next call reopens it."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


def _decode(body: str) -> dict[str, Any]:
    value: dict[str, Any] = msgspec.json.decode(body)
    return value
