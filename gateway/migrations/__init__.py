"""Alembic migrations of every table Finrail owns; run by ``finrail db upgrade``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from gateway.storage import create_engine
from policies.tables import metadata
from process_apis.budget import tables as _budget_tables  # noqa: F401 - registers the budget tables on ``metadata``
from process_apis.flow import tables as _flow_tables  # noqa: F401 - registers the flow tables on ``metadata``

__all__ = ["alembic_config", "metadata", "upgrade", "upgrade_sync"]

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    """An Alembic configuration pointing at these migrations and ``url``."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _run(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (the newest by default)."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run, alembic_config(url), revision)
    finally:
        await engine.dispose()


def upgrade_sync(url: str, revision: str = "head") -> None:
    """:func:`upgrade` for callers without an event loop (the CLI)."""
    asyncio.run(upgrade(url, revision))
