"""The usage ledger's writer: requests hand their event over and go on; a background task writes what has
gathered in one batched insert at least every `flush_s`, and everything left when the server stops. Keys' `last
used` times are written the same way, once per key per batch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiserve.usage.tables import ApiKey, UsageEvent

log = logging.getLogger(__name__)

EVENTS: Table = UsageEvent.__table__  # type: ignore[assignment]


class UsageRecorder:
    """`record(...)` costs a list append; `start()` begins the flushing, `close()` writes the rest."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, flush_s: float = 0.5) -> None:
        self._sessions = sessions
        self._flush_s = flush_s
        self._pending: list[dict[str, Any]] = []
        self._used: dict[int, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.written = 0

    def record(self, **event: Any) -> None:
        """Queue one event (the columns of `UsageEvent`)."""
        self._pending.append(event)

    def touch(self, key_id: int, at: datetime) -> None:
        """Note that key `key_id` was used at `at`."""
        self._used[key_id] = at

    def start(self) -> None:
        """Flush every `flush_s` seconds from now on."""
        self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def flush(self) -> None:
        """Write what is pending now."""
        batch, self._pending = self._pending, []
        used, self._used = self._used, {}
        if not batch and not used:
            return
        try:
            async with self._sessions() as session, session.begin():
                if batch:
                    await session.execute(insert(EVENTS), batch)  # the table, not the class: no ORM work per row
                if used:
                    await session.execute(update(ApiKey), [{"id": k, "last_used_at": t} for k, t in used.items()])
            self.written += len(batch)
        except Exception:  # the database is away: keep the events for the next try
            log.exception("could not write %d usage events; will retry", len(batch))
            self._pending = batch + self._pending
            self._used = {**used, **self._used}

    async def close(self) -> None:
        """Stop flushing and write everything still pending. The flushing task is asked to stop, never cancelled: a
        cancel landing during a write would lose the batch it had taken."""
        if self._task is not None:
            self._stop.set()
            await self._task
        await self.flush()

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._flush_s)
            await self.flush()
