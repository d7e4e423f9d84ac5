"""Users and API keys on real SQLite (WAL) and real PostgreSQL, through the migrations."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from aiserve.errors import Conflict, NotFound
from aiserve.settings import load_settings
from aiserve.usage import repository
from aiserve.usage.db import make_engine, migrate, sessions
from aiserve.usage.recorder import UsageRecorder
from aiserve.usage.reports import summarize
from aiserve.usage.tables import utcnow

pytestmark = pytest.mark.integration


@pytest.mark.asyncio
async def test_keys_authenticate_until_revoked_or_expired(engine: AsyncEngine) -> None:
    async with sessions(engine)() as session, session.begin():
        alice = await repository.create_user(session, name="alice")
        row, plaintext = await repository.create_key(session, user=alice, name="laptop")
        _, soon = await repository.create_key(session, user=alice, expires_at=utcnow() + timedelta(hours=1))
    async with sessions(engine)() as session, session.begin():
        found = await repository.authenticate(session, plaintext=plaintext)
        assert found is not None
        assert found.id == row.id
        assert found.user.name == "alice"
        assert found.scopes == ["inference", "usage:read"]
        assert plaintext not in found.key_hash
        assert await repository.authenticate(session, plaintext=plaintext[:-2] + "zz") is None
        assert await repository.authenticate(session, plaintext="sk-" + "x" * 40) is None
        assert await repository.authenticate(session, plaintext=soon) is not None
        later = utcnow() + timedelta(hours=2)
        assert await repository.authenticate(session, plaintext=soon, now=later) is None
        await repository.revoke_key(session, key=row.prefix)
    async with sessions(engine)() as session, session.begin():
        assert await repository.authenticate(session, plaintext=plaintext) is None
        listed = await repository.list_keys(session, user=alice)
        assert [k.id for k in listed] == [row.id, row.id + 1]
        assert listed[0].revoked_at is not None


@pytest.mark.asyncio
async def test_names_are_unique_and_unknown_things_are_not_found(engine: AsyncEngine) -> None:
    async with sessions(engine)() as session, session.begin():
        await repository.create_user(session, name="bob")
        with pytest.raises(Conflict, match="already exists"):
            await repository.create_user(session, name="bob")
        with pytest.raises(NotFound):
            await repository.find_user(session, name="carol")
        with pytest.raises(NotFound):
            await repository.revoke_key(session, key="999")


@pytest.mark.asyncio
async def test_the_first_start_makes_one_admin_key(engine: AsyncEngine) -> None:
    async with sessions(engine)() as session, session.begin():
        plaintext = await repository.bootstrap_admin(session)
        assert plaintext is not None
        assert await repository.bootstrap_admin(session) is None  # only on an empty key table
    async with sessions(engine)() as session, session.begin():
        admin = await repository.authenticate(session, plaintext=plaintext)
        assert admin is not None
        assert admin.user.name == "admin"
        assert set(admin.scopes) == {"admin", "inference", "usage:read"}


@pytest.mark.asyncio
async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    made = make_engine(load_settings(data_dir=tmp_path))
    await migrate(made)
    async with made.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    await made.dispose()
    assert (tmp_path / "aiserve.db").is_file()


@pytest.mark.asyncio
async def test_stopping_while_a_batch_is_being_written_loses_nothing(engine: AsyncEngine) -> None:
    async with sessions(engine)() as session, session.begin():
        user = await repository.create_user(session, name="erin")
        key, _ = await repository.create_key(session, user=user)
    writing = asyncio.Event()

    def slow_insert(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO USAGE_EVENTS"):
            loop.call_soon_threadsafe(writing.set)
            time.sleep(0.3)  # the database is slow: the stop arrives while this batch is being written

    loop = asyncio.get_running_loop()
    event.listen(engine.sync_engine, "before_cursor_execute", slow_insert)
    try:
        recorder = UsageRecorder(sessions(engine), flush_s=0.01)
        recorder.start()
        recorder.record(request_id="last", key_id=key.id, user_id=user.id, model="m@1", route="/v1/embeddings",
                        status=200, latency_ms=1.0, input_tokens=1, created_at=utcnow())  # fmt: skip
        await asyncio.wait_for(writing.wait(), 10)
        await recorder.close()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", slow_insert)
    async with sessions(engine)() as session:
        assert (await summarize(session, user_id=user.id))["total_requests"] == 1


@pytest.mark.asyncio
async def test_the_recorder_writes_events_that_reports_add_up(engine: AsyncEngine) -> None:
    async with sessions(engine)() as session, session.begin():
        user = await repository.create_user(session, name="dana")
        key, _ = await repository.create_key(session, user=user)
    recorder = UsageRecorder(sessions(engine), flush_s=0.05)
    recorder.start()
    for i, status in enumerate([200, 200, 429, 200]):
        recorder.record(request_id=f"r{i}", key_id=key.id, user_id=user.id, model="m@1", route="/v1/embeddings",
                        status=status, latency_ms=10.0 * (i + 1), input_tokens=5, created_at=utcnow())  # fmt: skip
    await recorder.close()
    assert recorder.written == 4
    async with sessions(engine)() as session:
        report = await summarize(session, user_id=user.id)
        one_key = await summarize(session, user_id=user.id, key_id=key.id, start=utcnow() + timedelta(days=1))
    assert report["total_requests"] == 4
    assert report["successful_requests"] == 3
    assert report["success_rate"] == 0.75
    assert report["avg_response_time_ms"] == pytest.approx(25.0)
    assert report["input_tokens"] == 20
    assert report["by_model"] == [{"model": "m@1", "requests": 4, "successful_requests": 3, "input_tokens": 20,
                                   "output_tokens": 0, "images": 0}]  # fmt: skip
    assert report["by_day"][0]["day"] == utcnow().date()
    assert one_key["total_requests"] == 0
