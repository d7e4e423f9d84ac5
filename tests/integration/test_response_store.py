"""Stored Responses API objects on real SQLite (WAL) and real PostgreSQL, through the migrations: kept per owner,
gone once expired, and purged a batch at a time by later writes."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from aiserve.usage.db import sessions
from aiserve.usage.responses import PURGE_BATCH, DatabaseResponses
from aiserve.usage.tables import Base, StoredResponse, utcnow

pytestmark = pytest.mark.integration


@pytest.fixture
def store(engine: AsyncEngine) -> DatabaseResponses:
    return DatabaseResponses(sessions(engine))


def new_id(length: int = 28) -> str:
    return ("resp_" + secrets.token_hex(32))[:length]


def a_response(text_: str = "Hello") -> dict[str, Any]:
    return {
        "id": new_id(),
        "object": "response",
        "status": "completed",
        "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text_}]}],
        "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
        "metadata": {},
        "temperature": 0.7,
        "store": True,
        "previous_response_id": None,
    }


async def write_expired(engine: AsyncEngine, count: int, *, owner: str = "old") -> None:
    """`count` rows that expired an hour ago, written directly."""
    past = utcnow() - timedelta(hours=1)
    async with sessions(engine)() as session, session.begin():
        session.add_all(
            StoredResponse(id=new_id(), owner=owner, created_at=past, expires_at=past, document={"n": n})
            for n in range(count)
        )


async def rows(engine: AsyncEngine) -> int:
    async with sessions(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(StoredResponse)) or 0)


@pytest.mark.asyncio
async def test_a_stored_document_reads_back_equal(store: DatabaseResponses) -> None:
    small = a_response('héllo — 世界 🙂 "quoted" \\ back\nslash')
    small["nested"] = [[1, 2.5, -3], {"deep": [{"deeper": [True, False, None]}]}, [], {}]
    large = a_response("x")
    large["output"] = [
        {"type": "message", "content": [{"type": "output_text", "text": f"{n} ünïcødé {'abc' * 20}", "n": n}]}
        for n in range(10_000)
    ]
    assert len(str(large)) > 1_000_000
    longest = new_id(64)
    for response_id, document in [(new_id(), small), (new_id(), large), (longest, small)]:
        await store.put("alice", response_id, document, ttl_s=3600)
        assert await store.get("alice", response_id) == document
    assert len(longest) == 64
    assert await store.get("alice", new_id()) is None


@pytest.mark.asyncio
async def test_only_the_owner_reads_or_deletes(store: DatabaseResponses) -> None:
    response_id, document = new_id(), a_response()
    await store.put("alice", response_id, document, ttl_s=3600)
    assert await store.get("bob", response_id) is None
    assert await store.delete("bob", response_id) is False
    assert await store.get("alice", response_id) == document


@pytest.mark.asyncio
async def test_delete_is_true_once(store: DatabaseResponses) -> None:
    response_id = new_id()
    await store.put("alice", response_id, a_response(), ttl_s=3600)
    assert await store.delete("alice", response_id) is True
    assert await store.delete("alice", response_id) is False
    assert await store.get("alice", response_id) is None


@pytest.mark.asyncio
async def test_a_taken_id_is_refused_and_nothing_is_written(engine: AsyncEngine, store: DatabaseResponses) -> None:
    response_id = new_id()
    await store.put("alice", response_id, a_response("first"), ttl_s=3600)
    await write_expired(engine, 3)
    with pytest.raises(IntegrityError):
        await store.put("bob", response_id, a_response("second"), ttl_s=3600)
    first = await store.get("alice", response_id)
    assert first is not None
    assert first["output"][0]["content"][0]["text"] == "first"
    assert await store.get("bob", response_id) is None
    assert await rows(engine) == 4  # the failed put's purge was rolled back with it


@pytest.mark.asyncio
async def test_expired_responses_are_gone_and_purged_by_later_puts(
    engine: AsyncEngine, store: DatabaseResponses
) -> None:
    at_once = new_id()
    await store.put("alice", at_once, a_response(), ttl_s=0)
    assert await store.get("alice", at_once) is None
    assert await store.delete("alice", at_once) is False
    await write_expired(engine, PURGE_BATCH + 50)
    assert await rows(engine) == PURGE_BATCH + 51

    kept = new_id()
    await store.put("alice", kept, a_response(), ttl_s=3600)
    assert await rows(engine) == 51 + 1  # at most one batch per put, of any owner
    await store.put("alice", new_id(), a_response(), ttl_s=3600)
    assert await rows(engine) == 2  # the rest, and nothing live
    assert await store.get("alice", kept) is not None


@pytest.mark.asyncio
async def test_the_migrations_match_the_table(engine: AsyncEngine) -> None:
    def ours(_object: object, name: str | None, kind: str, _reflected: bool, _other: object) -> bool:
        return kind != "table" or name == "stored_responses"

    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"include_object": ours})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(differences) == []
