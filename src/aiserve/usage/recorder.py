"""The usage ledger's writer: requests hand their event over and go on; a background task writes what has
gathered in one batched insert at least every `flush_s`, and everything left when the server stops. Keys' `last
used` times are written the same way, once per key per batch.

No event can stop the ledger, and none is lost while the database is away:

- every value is made to fit its column when the event is handed over (text is cut to the column's length);
- a batch the database refuses for what it holds is split in halves until the event at fault stands alone; that
  one goes to a dead-letter file (one JSON line each, with the reason), is counted, and is logged once; the others
  are written;
- while the database cannot be reached, events wait in memory up to `max_pending`, past that in a spill file on
  disk, and are all written once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import String, Table, insert, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aiserve.usage.tables import ApiKey, UsageEvent

log = logging.getLogger(__name__)

EVENTS: Table = UsageEvent.__table__  # type: ignore[assignment]
_LENGTHS = {c.name: c.type.length for c in EVENTS.columns if isinstance(c.type, String) and c.type.length}
_SPILL_CHUNK = 5_000


def fit(event: dict[str, Any]) -> dict[str, Any]:
    """`event` with every text cut to its column's length."""
    for name, length in _LENGTHS.items():
        value = event.get(name)
        if isinstance(value, str) and len(value) > length:
            event[name] = value[:length]
    return event


def _unreachable(exc: Exception) -> bool:
    """Whether the database could not be reached (as opposed to refusing what a batch holds)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout | OSError | TimeoutError)


class _Away(Exception):
    """The database went away; `unwritten` are the events of the batch that were not written."""

    def __init__(self, unwritten: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(unwritten)} events unwritten")
        self.unwritten = unwritten


class UsageRecorder:
    """`record(...)` costs a list append; `start()` begins the flushing, `close()` writes the rest."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        flush_s: float = 0.5,
        folder: Path | None = None,
        max_pending: int = 50_000,
        on_dead_letter: Callable[[int], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._flush_s = flush_s
        self._pending: list[dict[str, Any]] = []
        self._used: dict[int, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._max_pending = max_pending
        self._spill = folder / "ledger-spill.jsonl" if folder else None
        self._dead = folder / "ledger-dead-letter.jsonl" if folder else None
        self._on_dead_letter = on_dead_letter or (lambda _: None)
        self._unreachable = False
        self.written = 0
        self.dead_lettered = 0

    def record(self, **event: Any) -> None:
        """Queue one event (the columns of `UsageEvent`)."""
        self._pending.append(fit(event))
        if len(self._pending) > self._max_pending and self._spill is not None:
            self._spill_pending()

    def touch(self, key_id: int, at: datetime) -> None:
        """Note that key `key_id` was used at `at`."""
        self._used[key_id] = at

    @property
    def pending(self) -> int:
        """Events waiting in memory."""
        return len(self._pending)

    def start(self) -> None:
        """Flush every `flush_s` seconds from now on."""
        self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def flush(self) -> None:
        """Write what is pending now (and, once the database answers, what was spilled to disk)."""
        batch, self._pending = self._pending, []
        used, self._used = self._used, {}
        if batch or used:
            try:
                await self._write(batch, used)
            except _Away as away:  # keep what was not written for the next try
                self._away(away.__cause__, away.unwritten, used)
                return
        if self._unreachable:
            log.warning("the usage ledger is written again")
            self._unreachable = False
        await self._replay_spill()

    def _away(self, exc: BaseException | None, batch: list[dict[str, Any]], used: dict[int, datetime]) -> None:
        if not self._unreachable:  # one line per outage, not one per try
            log.error("could not write %d usage events (%s); they wait and are written when the database is back",
                      len(batch), type(exc).__name__)  # fmt: skip
            self._unreachable = True
        self._pending = batch + self._pending
        self._used = {**used, **self._used}
        if len(self._pending) > self._max_pending and self._spill is not None:
            self._spill_pending()

    async def _write(self, batch: list[dict[str, Any]], used: dict[int, datetime]) -> None:
        try:
            async with self._sessions() as session, session.begin():
                if batch:
                    await session.execute(insert(EVENTS), batch)  # the table, not the class: no ORM work per row
                if used:
                    await session.execute(update(ApiKey), [{"id": k, "last_used_at": t} for k, t in used.items()])
            self.written += len(batch)
        except Exception as exc:
            if _unreachable(exc):
                raise _Away(batch) from exc
            if used:  # which part was refused: the events, or the keys' last-use times?
                await self._write(batch, {})
                await self._write_used(used)
                return
            await self._split(batch, exc)

    async def _write_used(self, used: dict[int, datetime]) -> None:
        """Keys' last-use times on their own; refused ones are dropped (they are not worth holding the ledger)."""
        try:
            async with self._sessions() as session, session.begin():
                await session.execute(update(ApiKey), [{"id": k, "last_used_at": t} for k, t in used.items()])
        except Exception as exc:
            if _unreachable(exc):
                self._used = {**used, **self._used}
                return
            log.warning("keys' last-use times were not written: %s", str(exc).splitlines()[0][:300])

    async def _split(self, batch: list[dict[str, Any]], exc: Exception) -> None:
        """Write a refused batch in halves, so only the events at fault are left out."""
        if len(batch) <= 1:
            for event in batch:
                self._dead_letter(event, exc)
            return
        first, second = batch[: len(batch) // 2], batch[len(batch) // 2 :]
        try:
            await self._write(first, {})
        except _Away as away:
            raise _Away(away.unwritten + second) from away.__cause__
        await self._write(second, {})

    def _dead_letter(self, event: dict[str, Any], exc: Exception) -> None:
        self.dead_lettered += 1
        self._on_dead_letter(1)
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:500]
        log.error("a usage event cannot be written and goes to the dead-letter file: %s", reason,
                  extra={"request_id": event.get("request_id")})  # fmt: skip
        if self._dead is not None:
            self._append(self._dead, [{"event": event, "reason": reason}])

    def _spill_pending(self) -> None:
        """Move the oldest events past `max_pending` to the spill file, keeping memory bounded."""
        assert self._spill is not None
        excess = len(self._pending) - self._max_pending // 2
        spilled, self._pending = self._pending[:excess], self._pending[excess:]
        self._append(self._spill, spilled)
        log.warning("%d usage events spilled to %s until the database takes them", len(spilled), self._spill)

    async def _replay_spill(self) -> None:
        """Write what was spilled, in chunks, now that the database answers."""
        if self._spill is None or not self._spill.exists():
            return
        replaying = self._spill.with_suffix(".replay")
        self._spill.rename(replaying)
        lines = replaying.read_text().splitlines()
        for start in range(0, len(lines), _SPILL_CHUNK):
            chunk = [_revive(json.loads(line)) for line in lines[start : start + _SPILL_CHUNK]]
            try:
                await self._write(chunk, {})
            except _Away as away:  # away again: the rest goes back to the spill file
                rest = [_revive(json.loads(line)) for line in lines[start + _SPILL_CHUNK :]]
                self._append(self._spill, away.unwritten + rest)
                break
        replaying.unlink()

    @staticmethod
    def _append(path: Path, rows: list[dict[str, Any]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as file:
            file.writelines(json.dumps(row, default=_plain) + "\n" for row in rows)

    async def close(self) -> None:
        """Stop flushing and write everything still pending. The flushing task is asked to stop, never cancelled: a
        cancel landing during a write would lose the batch it had taken."""
        if self._task is not None:
            self._stop.set()
            await self._task
        await self.flush()
        if self._pending and self._spill is not None:  # the database is still away: keep them on disk
            self._max_pending = 0
            self._spill_pending()

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._flush_s)
            await self.flush()


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__}")


def _revive(event: dict[str, Any]) -> dict[str, Any]:
    created = event.get("created_at")
    if isinstance(created, str):
        event["created_at"] = datetime.fromisoformat(created)
    return event
