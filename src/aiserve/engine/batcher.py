"""Dynamic batching for one model: a bounded queue, a batch-forming loop, and a worker thread.

Requests are queued whole and sliced into batches of at most `max_batch_size` inputs, so one large request
shares batches with small ones. Each owner (an API key, or a client address without keys) has its own line, a batch
is filled from the lines in turn, and one owner may hold at most `max_share` of the queue: one key's flood cannot
starve the others. A backend that `prepares` its inputs one by one (decoding an image) has that done as each request
arrives, on threads beside the model's, so it overlaps the batch running; a batch is formed from prepared inputs.
A request is refused with `Overloaded` before any preprocessing when the queue is full; it fails with
`DeadlineExceeded` when its deadline passes; if its caller goes away (a client disconnect cancels the awaiting task)
its inputs that have not run yet are dropped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiserve.engine.backends.base import ModelBackend
from aiserve.engine.fair import owner_cap
from aiserve.engine.priority import model_threads
from aiserve.engine.protocol import Completed, EngineObserver, NullObserver
from aiserve.errors import AiserveError, DeadlineExceeded, ModelFailed, ModelNotReady, Overloaded, PayloadTooLarge

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """How a model's batches are formed."""

    max_batch_size: int = 32
    max_wait_s: float = 0.002
    max_queue_items: int = 1024
    max_share: float = 1.0
    """The most of the queue one owner may hold."""
    nice: int = 0
    """How much lower than the event loop the model's threads run (`priority.lower_priority`)."""


class _Entry:
    """One queued request."""

    __slots__ = (
        "deadline",
        "dispatched",
        "enqueued",
        "future",
        "inference_s",
        "items",
        "outputs",
        "owner",
        "pending",
        "started",
    )

    def __init__(self, items: Sequence[Any], future: asyncio.Future[Completed], deadline: float, owner: str) -> None:
        self.items = items
        self.owner = owner
        self.outputs: list[Any] = [None] * len(items)
        self.dispatched = 0  # inputs handed to a batch so far
        self.pending = len(items)  # inputs without an output yet
        self.future = future
        self.deadline = deadline
        self.enqueued = time.perf_counter()
        self.started = 0.0
        self.inference_s = 0.0


_Slice = tuple[_Entry, int, int]


class Batcher:
    """Runs one backend behind a bounded queue. Use `async with Batcher(...)` or `start()` / `close()`."""

    def __init__(
        self,
        model_id: str,
        backend: ModelBackend[Any, Any, Any, Any],
        policy: BatchPolicy,
        observer: EngineObserver | None = None,
    ) -> None:
        self.model_id = model_id
        self.backend = backend
        self.policy = policy
        self._observer = observer or NullObserver()
        self._lines: OrderedDict[str, deque[_Entry]] = OrderedDict()
        self._queued = 0
        self._queued_by: Counter[str] = Counter()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._executor = model_threads(policy.nice, f"model-{model_id}")
        self._preparer = (
            model_threads(policy.nice, f"prepare-{model_id}", max(1, backend.threads)) if backend.prepares else None
        )
        self._preparing = 0  # inputs counted in the queue but still being prepared
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._rate = 0.0  # inputs per second, smoothed, for Retry-After estimates
        self._last_requests = 0  # requests in the previous batch: a sign of concurrent clients
        self._running: list[_Slice] = []

    @property
    def queued(self) -> int:
        """Inputs waiting to run."""
        return self._queued

    async def __aenter__(self) -> Batcher:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        """Start the batch loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batcher-{self.model_id}")

    async def close(self, drain_s: float = 10.0) -> None:
        """Refuse new work, let queued work finish for up to `drain_s`, then stop."""
        self._closing = True
        try:
            async with asyncio.timeout(drain_s):
                while self._lines or self._preparing or not self._idle.is_set():
                    await asyncio.sleep(0.01)
        except TimeoutError:
            log.warning("model %s stopped with %d inputs still queued", self.model_id, self._queued)
        running = [entry for entry, _, _ in self._running]  # a batch that overran the drain
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        stopped = ModelNotReady(f"The model '{self.model_id}' is shutting down.")
        for entry in [*(e for line in self._lines.values() for e in line), *running]:
            if not entry.future.done():
                entry.future.set_exception(stopped)
        self._lines.clear()
        self._queued = 0
        self._queued_by.clear()
        # never block the event loop on a batch that overran the drain time; its thread finishes on its own
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._preparer is not None:
            self._preparer.shutdown(wait=False, cancel_futures=True)

    async def submit(self, items: Sequence[Any], *, timeout_s: float, owner: str = "") -> Completed:
        """Queue `items` in `owner`'s line, wait for their outputs, and return them in order."""
        if self._closing or self._task is None:
            raise ModelNotReady(f"The model '{self.model_id}' is not serving.", retry_after=1.0)
        n = len(items)
        if n > self.policy.max_queue_items:
            raise PayloadTooLarge(
                f"The request has {n} inputs; this server queues at most {self.policy.max_queue_items} per model. "
                "Split it into smaller requests.",
                param="input",
            )
        self._admit(n, owner)
        future: asyncio.Future[Completed] = asyncio.get_running_loop().create_future()
        entry = _Entry(items, future, time.perf_counter() + timeout_s, owner)
        self._queued += n
        self._queued_by[owner] += n
        self._observer.queue_changed(self.model_id, self._queued)
        try:
            async with asyncio.timeout(timeout_s):
                if self._preparer is not None:
                    entry.items = await self._prepare(items)
                self._lines.setdefault(owner, deque()).append(entry)
                self._wakeup.set()
                return await future
        except TimeoutError:
            self._observer.rejected(self.model_id, "deadline")
            raise DeadlineExceeded(f"The request did not finish within {timeout_s:g} s.") from None
        finally:
            if not future.done():
                future.cancel()
            # if the caller gave up (deadline, disconnect) or failed early, free the room its unrun inputs held
            # now, not when the loop reaches them; the loop then just drops the entry
            if left := len(entry.items) - entry.dispatched:
                self._dequeued(entry, left)
                entry.dispatched = len(entry.items)
                self._observer.queue_changed(self.model_id, self._queued)

    async def _prepare(self, items: Sequence[Any]) -> list[Any]:
        """`backend.prepare` on each input, spread over the preparing threads."""
        assert self._preparer is not None
        loop = asyncio.get_running_loop()
        self._preparing += len(items)
        try:
            prepared = await asyncio.gather(*(loop.run_in_executor(self._preparer, self.backend.prepare, item)
                                              for item in items))  # fmt: skip
        finally:
            self._preparing -= len(items)
        if self._task is None or self._task.done():  # closed while these were being prepared
            raise ModelNotReady(f"The model '{self.model_id}' is shutting down.")
        return prepared

    def _admit(self, n: int, owner: str) -> None:
        """Refuse `n` more inputs when the queue, or `owner`'s share of it, is full."""
        share = owner_cap(self.policy.max_queue_items, self.policy.max_share)
        if self._queued + n > self.policy.max_queue_items:
            self._observer.rejected(self.model_id, "overloaded")
            raise Overloaded(
                f"The model '{self.model_id}' has {self._queued} inputs queued; try again shortly.",
                retry_after=self._retry_after(n),
            )
        if self._queued_by[owner] + n > share:
            self._observer.rejected(self.model_id, "overloaded")
            raise Overloaded(
                f"You have {self._queued_by[owner]} inputs queued on '{self.model_id}', your share of its queue "
                f"({share}); try again shortly.",
                retry_after=self._retry_after(n),
            )

    def _dequeued(self, entry: _Entry, n: int) -> None:
        self._queued -= n
        self._queued_by[entry.owner] -= n
        if self._queued_by[entry.owner] <= 0:
            del self._queued_by[entry.owner]

    def _retry_after(self, n: int) -> float:
        backlog = self._queued + n
        return float(max(1, math.ceil(backlog / self._rate))) if self._rate > 0 else 1.0

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._lines:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._linger(loop)
            batch = self._take()
            if not batch:
                continue
            self._idle.clear()
            self._last_requests = len(batch)
            self._running = batch
            try:
                await self._run(loop, batch)
            finally:
                self._running = []
                self._idle.set()

    async def _linger(self, loop: asyncio.AbstractEventLoop) -> None:
        """Give a partly filled batch up to `max_wait_s` to fill, but only when clients are concurrent: a lone
        client would just wait for nobody."""
        if self._last_requests <= 1 and sum(len(line) for line in self._lines.values()) <= 1:
            return
        until = loop.time() + self.policy.max_wait_s
        while self._queued - self._preparing < self.policy.max_batch_size:
            remaining = until - loop.time()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()
            except TimeoutError:
                return

    def _take(self) -> list[_Slice]:
        """Pop up to `max_batch_size` inputs off the lines, an equal share from each owner in turn (what one leaves
        unused goes to the others), dropping cancelled and expired requests."""
        batch: list[_Slice] = []
        room = self.policy.max_batch_size
        now = time.perf_counter()
        while room and self._lines:
            share = max(1, room // len(self._lines))
            for owner in list(self._lines):
                if not room:
                    break
                room -= self._take_from(owner, min(share, room), now, batch)
        if self._lines:
            self._lines.move_to_end(next(iter(self._lines)))  # the next batch starts with the next owner
        self._observer.queue_changed(self.model_id, self._queued)
        return batch

    def _take_from(self, owner: str, want: int, now: float, batch: list[_Slice]) -> int:
        """Up to `want` inputs from the head of `owner`'s line; how many were taken."""
        line = self._lines[owner]
        taken = 0
        while line and taken < want:
            entry = line[0]
            left = len(entry.items) - entry.dispatched
            if entry.future.done() or entry.deadline <= now:
                line.popleft()
                self._dequeued(entry, left)
                entry.dispatched = len(entry.items)
                if not entry.future.done():
                    entry.future.set_exception(DeadlineExceeded("The request's deadline passed while it was queued."))
                continue
            take = min(left, want - taken)
            if entry.dispatched == 0:
                entry.started = now
            batch.append((entry, entry.dispatched, entry.dispatched + take))
            entry.dispatched += take
            taken += take
            self._dequeued(entry, take)
            if entry.dispatched == len(entry.items):
                line.popleft()
        if not line:
            del self._lines[owner]
        return taken

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Slice]) -> None:
        items = [item for entry, lo, hi in batch for item in entry.items[lo:hi]]
        started = time.perf_counter()
        try:
            outputs = await loop.run_in_executor(self._executor, self.backend.run_batch, items)
        except Exception as exc:  # a model bug must fail its requests, never the loop
            log.exception("model %s failed on a batch of %d", self.model_id, len(items))
            error = ModelFailed(f"The model '{self.model_id}' failed: {type(exc).__name__}.")
            for entry, _, _ in batch:
                if not entry.future.done():
                    entry.future.set_exception(error)
            return
        elapsed = time.perf_counter() - started
        self._rate = len(items) / elapsed if self._rate == 0 else 0.8 * self._rate + 0.2 * len(items) / elapsed
        self._observer.batch_done(self.model_id, len(items), elapsed)
        self._deliver(batch, outputs, elapsed)

    def _deliver(self, batch: list[_Slice], outputs: list[Any], elapsed: float) -> None:
        pos = 0
        for entry, lo, hi in batch:
            chunk = outputs[pos : pos + hi - lo]
            pos += hi - lo
            if entry.future.done():
                continue
            error = next((o for o in chunk if isinstance(o, AiserveError)), None)
            if error is not None:
                entry.future.set_exception(error)
                continue
            entry.outputs[lo:hi] = chunk
            entry.pending -= hi - lo
            entry.inference_s += elapsed
            if entry.pending == 0:
                entry.future.set_result(
                    Completed(entry.outputs, queue_s=entry.started - entry.enqueued, inference_s=entry.inference_s)
                )
