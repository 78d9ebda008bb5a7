"""Fixtures shared by the whole suite.

Every test that touches storage runs twice: on a fresh SQLite file and on a fresh PostgreSQL
database (``backend`` fixture). PostgreSQL is reached at ``FINRAIL_TEST_PG`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432``); Redis at ``FINRAIL_TEST_REDIS`` (default
``redis://127.0.0.1:6379/15``, one database lower for each further parallel worker).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.migrations import metadata, upgrade_sync
from gateway.storage import create_engine

PG_SERVER = os.environ.get("FINRAIL_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
# Parallel test workers (pytest-xdist) each get their own Redis database: tests flush theirs.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_URL = os.environ.get("FINRAIL_TEST_REDIS", f"redis://127.0.0.1:6379/{15 - _WORKER % 8}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "finrail.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A migrated PostgreSQL database for this test session, dropped at the end."""
    import asyncio

    name = f"finrail_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        engine = create_engine(f"{PG_SERVER}/postgres", pool_size=1)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(sql)
        await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    upgrade_sync(url)
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty, migrated database: a fresh SQLite file, or the session's PostgreSQL
    database emptied before the test."""
    if request.param == "sqlite":
        path = tmp_path / "data" / "finrail.db"
        path.parent.mkdir()
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("pg_database")
    import asyncio

    async def truncate() -> None:
        engine = create_engine(url, pool_size=1)
        async with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            await conn.execute(sa.text(f"TRUNCATE {names}"))
        await engine.dispose()

    asyncio.run(truncate())
    yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test's database."""
    engine = create_engine(database_url, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
def redis_url() -> str:
    """A Redis database reserved for tests (flushed by the tests that use it)."""
    return REDIS_URL


# --- the assembled gateway -------------------------------------------------------------------

import httpx  # noqa: E402

from gateway.app import Gateway, create_app  # noqa: E402
from gateway.settings import Settings, load_settings  # noqa: E402
from tests.support import Operator, register  # noqa: E402


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Embedded settings on the test's database (a generous spike limit keeps tests deterministic)."""
    return load_settings(
        environ={},
        data_dir=str(tmp_path / "data"),
        storage={"url": database_url},
        throttling={"spike": "1000/second"},
        # Scheduled windows (master-data publish, polls) would run in the background of every
        # test; the tests of those flows start their windows themselves.
        flows={"worker": {"run_schedules": False}},
    )


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Gateway]:
    """The whole gateway, started (migrations, keys, audit batching) and stopped cleanly."""
    app = create_app(settings)
    await app.startup()
    yield app
    await app.shutdown()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the gateway in-process (real ASGI, no sockets)."""
    transport = httpx.ASGITransport(app=gateway, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def operator(gateway: Gateway, client: httpx.AsyncClient) -> Operator:
    """A gold-tier client with every scope of the catalog."""
    return await register(gateway, client, sorted(gateway.catalog.scopes))
