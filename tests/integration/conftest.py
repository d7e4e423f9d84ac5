"""The real app in process, with the real model, through Starlette's TestClient (lifespan included); and the
database on SQLite and on PostgreSQL, migrated, for the storage tests."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from aiserve.app import create_app
from aiserve.settings import Settings, load_settings
from aiserve.usage.db import make_engine, migrate
from aiserve.usage.tables import Base
from tests.conftest import MakeSettings
from tests.services import postgres

ADMIN_KEY = "sk-test-admin-routes-" + "a" * 32
ADMIN_AUTH = {"enabled": True, "bootstrap_key": ADMIN_KEY, "cache_s": 0}
"""Settings for tests that use the admin routes (closed while authentication is off); with `key=ADMIN_KEY`."""


@contextmanager
def running_app(settings: Settings, *, key: str | None = None) -> Iterator[TestClient]:
    """A started app whose models are ready; with `key`, every request carries it."""
    headers = {"Authorization": f"Bearer {key}"} if key else None
    with TestClient(create_app(settings), raise_server_exceptions=False, headers=headers) as client:
        deadline = time.monotonic() + 120
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, "models did not become ready"
            time.sleep(0.05)
        yield client


@pytest.fixture(scope="module")
def client(make_settings: MakeSettings) -> Iterator[TestClient]:
    """The default app."""
    with running_app(make_settings()) as c:
        yield c


ALL_TABLES = ", ".join([*Base.metadata.tables, "alembic_version"])
"""Every table the migrations make, to drop after a test on a shared PostgreSQL."""


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres() as url:
        yield url


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    database = {} if request.param == "sqlite" else {"url": request.getfixturevalue("postgres_url")}
    settings = load_settings(data_dir=tmp_path / "data", database=database)
    made = make_engine(settings)
    await migrate(made)
    await migrate(made)  # a second run finds nothing to do
    yield made
    if request.param == "postgresql":
        async with made.begin() as conn:
            await conn.execute(text(f"DROP TABLE {ALL_TABLES}"))
    await made.dispose()
