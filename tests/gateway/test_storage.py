"""Storage wiring: migrations agree with the tables, SQLite runs in WAL, first start migrates."""

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import create_app
from gateway.migrations import metadata
from gateway.settings import load_settings
from gateway.storage import create_engine


def _diff(connection: sa.Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrations_create_exactly_the_declared_tables(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        differences = await conn.run_sync(_diff)
    assert differences == []


async def test_embedded_first_start_creates_and_migrates_the_database(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    app = create_app(load_settings(environ={}, data_dir=str(data)))
    await app.startup()
    await app.shutdown()
    database = data / "finrail.db"
    assert database.exists()
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    async with engine.connect() as conn:
        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        version = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar()
    await engine.dispose()
    assert mode == "wal"
    assert version is not None
