"""Stored Responses API objects in the database, so any replica on it can answer `previous_response_id`, `GET` and
`DELETE` for a response another one made.

Every moment written is UTC (`utcnow`), so comparing in SQL holds on PostgreSQL (`timestamptz`) and on SQLite (which
keeps the UTC wall time as text and hands back naive datetimes).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiserve.usage.tables import StoredResponse, utcnow

PURGE_BATCH = 100
"""At most this many expired rows are deleted by each `put`: enough to keep up, never a long write."""


class DatabaseResponses:
    """Responses kept for their owners until they expire; an expired one reads as absent until it is purged."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, owner: str, response_id: str) -> dict[str, Any] | None:
        """The document stored as `response_id` for `owner`; None if absent, someone else's, or expired."""
        query = select(StoredResponse.document).where(
            StoredResponse.id == response_id, StoredResponse.owner == owner, StoredResponse.expires_at > utcnow()
        )
        async with self._sessions() as session:
            document: dict[str, Any] | None = await session.scalar(query)
        return document

    async def put(self, owner: str, response_id: str, document: dict[str, Any], ttl_s: float) -> None:
        """Keep `document` as `response_id` for `owner` for `ttl_s` seconds, and purge some expired rows.

        The id must be new: one already taken raises (the database's integrity error), and nothing is written.
        """
        now = utcnow()
        expired = (
            select(StoredResponse.id)
            .where(StoredResponse.expires_at <= now)
            .limit(PURGE_BATCH)
            .with_for_update(skip_locked=True)  # PostgreSQL: concurrent puts purge different rows; SQLite ignores it
        )
        async with self._sessions() as session, session.begin():
            purge = delete(StoredResponse).where(StoredResponse.id.in_(expired))
            await session.execute(purge.execution_options(synchronize_session=False))
            session.add(
                StoredResponse(
                    id=response_id,
                    owner=owner,
                    created_at=now,
                    expires_at=now + timedelta(seconds=ttl_s),
                    document=document,
                )
            )

    async def delete(self, owner: str, response_id: str) -> bool:
        """Forget `response_id` of `owner`: True if it was there and live, False otherwise."""
        statement = (
            delete(StoredResponse)
            .where(
                StoredResponse.id == response_id, StoredResponse.owner == owner, StoredResponse.expires_at > utcnow()
            )
            .returning(StoredResponse.id)
            .execution_options(synchronize_session=False)
        )
        async with self._sessions() as session, session.begin():
            deleted = (await session.execute(statement)).first()
        return deleted is not None
