"""Alembic environment: runs on the connection the caller hands over (see ``upgrade``)."""

from __future__ import annotations

from alembic import context

from gateway.migrations import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the CLI always hands over a connection
    raise RuntimeError("run migrations with `finrail db upgrade`, not the alembic command")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
