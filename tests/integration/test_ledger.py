"""The usage ledger on real PostgreSQL: no event can stop it, values too long for their columns are cut to fit, an
event the database refuses goes to the dead-letter file while the others are written, and nothing is lost while the
database is away (restarted mid-way), even past the in-memory bound."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from aiserve.settings import load_settings
from aiserve.usage import repository
from aiserve.usage.db import make_engine, migrate, sessions
from aiserve.usage.recorder import UsageRecorder
from aiserve.usage.tables import UsageEvent, utcnow
from tests.integration.conftest import ALL_TABLES
from tests.services import PostgresServer, postgres_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    with postgres_server() as running:
        yield running


@pytest_asyncio.fixture
async def engine(server: PostgresServer, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    made = make_engine(load_settings(data_dir=tmp_path / "data", database={"url": server.url}))
    await migrate(made)
    yield made
    async with made.begin() as conn:
        await conn.execute(text(f"DROP TABLE {ALL_TABLES}"))
    await made.dispose()


async def a_key(engine: AsyncEngine) -> tuple[int, int]:
    async with sessions(engine)() as session, session.begin():
        user = await repository.create_user(session, name="ledger")
        row, _ = await repository.create_key(session, user=user)
        return row.id, user.id


def event(key_id: int, user_id: int, request_id: str, **overrides: Any) -> dict[str, Any]:
    return {"request_id": request_id, "key_id": key_id, "user_id": user_id, "model": "m@1", "route": "/v1/embeddings",
            "status": 200, "latency_ms": 1.0, "queue_ms": 0.1, "input_tokens": 3, "output_tokens": 0, "images": 0,
            "created_at": utcnow(), "client_ip": "127.0.0.1", **overrides}  # fmt: skip


async def written(engine: AsyncEngine) -> list[str]:
    async with sessions(engine)() as session:
        return sorted(str(r) for r in (await session.scalars(select(UsageEvent.request_id))).all())


@pytest.mark.asyncio
async def test_values_too_long_for_their_columns_are_cut_to_fit(engine: AsyncEngine, tmp_path: Path) -> None:
    key_id, user_id = await a_key(engine)
    recorder = UsageRecorder(sessions(engine), folder=tmp_path)
    recorder.record(**event(key_id, user_id, "r" * 128, route="/v1/models/" + "m" * 500, client_ip="x" * 300,
                            model="q" * 400))  # fmt: skip
    recorder.record(**event(key_id, user_id, "after"))
    await recorder.flush()
    assert await written(engine) == ["after", "r" * 64]
    assert recorder.dead_lettered == 0


@pytest.mark.asyncio
async def test_a_refused_event_goes_to_the_dead_letter_file_and_the_others_are_written(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    key_id, user_id = await a_key(engine)
    dead: list[int] = []
    recorder = UsageRecorder(sessions(engine), folder=tmp_path, on_dead_letter=dead.append)
    for i in range(20):
        recorder.record(**event(key_id, user_id, f"ok-{i:02}"))
        if i in (3, 11):  # a key that does not exist: the foreign key refuses it
            recorder.record(**event(key_id + 1000 + i, user_id, f"bad-{i}"))
    await recorder.flush()
    assert await written(engine) == [f"ok-{i:02}" for i in range(20)]
    assert recorder.dead_lettered == 2
    assert dead == [1, 1]
    lines = [json.loads(line) for line in (tmp_path / "ledger-dead-letter.jsonl").read_text().splitlines()]
    assert sorted(line["event"]["request_id"] for line in lines) == ["bad-11", "bad-3"]
    assert all("foreign key" in line["reason"] for line in lines)
    recorder.record(**event(key_id, user_id, "later"))  # the ledger goes on
    await recorder.flush()
    assert "later" in await written(engine)


@pytest.mark.asyncio
async def test_nothing_is_lost_while_the_database_restarts(
    engine: AsyncEngine, server: PostgresServer, tmp_path: Path
) -> None:
    key_id, user_id = await a_key(engine)
    recorder = UsageRecorder(sessions(engine), folder=tmp_path, max_pending=50)
    recorder.record(**event(key_id, user_id, "before"))
    await recorder.flush()
    await engine.dispose()  # its pooled connections die with the server
    server.stop()
    try:
        for i in range(180):  # past the in-memory bound: the rest waits on disk
            recorder.record(**event(key_id, user_id, f"during-{i:03}"))
            if i % 40 == 0:
                await recorder.flush()  # fails: the database is away
        assert recorder.pending <= 50
        assert (tmp_path / "ledger-spill.jsonl").exists()
    finally:
        server.start()
    await asyncio.sleep(0.1)
    await recorder.flush()
    assert await written(engine) == sorted(["before", *(f"during-{i:03}" for i in range(180))])
    assert not (tmp_path / "ledger-spill.jsonl").exists()
    async with sessions(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(UsageEvent)) == 181  # each exactly once
