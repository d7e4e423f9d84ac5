"""Movable aliases in the database, so every replica on it resolves a model name the same way."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiserve.usage.tables import ModelAlias, utcnow


class DatabaseAliases:
    """The alias book's shared copy: read by every replica, written by the one whose admin moved an alias."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def fetch(self) -> dict[str, str]:
        """Every alias and the `id@version` it points at."""
        async with self._sessions() as session:
            rows = (await session.execute(select(ModelAlias.alias, ModelAlias.target))).all()
        return {str(alias): str(target) for alias, target in rows}

    async def put(self, alias: str, target: str) -> None:
        """Point `alias` at `target` (names compare case-insensitively; the new spelling is kept)."""
        async with self._sessions() as session, session.begin():
            await session.execute(delete(ModelAlias).where(func.lower(ModelAlias.alias) == alias.lower()))
            session.add(ModelAlias(alias=alias, target=target, updated_at=utcnow()))

    async def drop(self, alias: str) -> None:
        """Forget `alias`."""
        async with self._sessions() as session, session.begin():
            await session.execute(delete(ModelAlias).where(func.lower(ModelAlias.alias) == alias.lower()))
