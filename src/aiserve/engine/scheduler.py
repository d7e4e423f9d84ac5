"""The generation scheduler: streams one model's answers to many clients.

Requests wait in a bounded queue (full: `Overloaded` before any tokenising), one line per owner (an API key, or a
client address without keys) served in turn, and one owner may hold at most `max_share` of it, so one key's flood
cannot starve the others. A slot backend runs one worker thread
per slot, each generating one answer at a time; a stepped backend runs one worker thread that admits newcomers as
soon as there is room and decodes every running answer in one forward pass per token (iteration-level batching).
Each token is handed to the request's own asyncio queue; a request whose client has gone, or whose deadline has
passed, is stopped within one decoding step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from aiserve.engine.backends.generative import Decoding, GenerationBackend, SteppedBackend
from aiserve.engine.backends.grammar import Constraint
from aiserve.engine.fair import FairQueue, owner_cap
from aiserve.engine.priority import lower_priority
from aiserve.engine.protocol import EngineObserver, Event, Finished, GenerationRequest, NullObserver, Piece
from aiserve.errors import AiserveError, DeadlineExceeded, ModelFailed, ModelNotReady, Overloaded

log = logging.getLogger(__name__)

_DONE = object()


def _late() -> DeadlineExceeded:
    return DeadlineExceeded("The answer did not finish within the request's deadline.")


@dataclass(eq=False)
class _Job:
    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[Event | BaseException | object]
    deadline: float
    owner: str = ""
    tokens: list[int] | None = None
    """The prompt's tokens, when they were counted before it was queued."""
    constraint: Constraint | None = None
    """The matcher holding the answer to its grammar, built before it was queued."""
    cancelled: threading.Event = field(default_factory=threading.Event)

    def push(self, item: Event | BaseException | object) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, item)

    def stopped(self) -> bool:
        return self.cancelled.is_set() or time.monotonic() > self.deadline

    def deliver(self, event: Event) -> str | None:
        """Hand `event` to the client; for the last one, say how the answer ended (a deadline that passed while
        it was generated wins over a normal end)."""
        if not isinstance(event, Finished):
            self.push(event)
            return None
        if time.monotonic() > self.deadline and not self.cancelled.is_set():
            self.push(_late())
            return "deadline"
        self.push(event)
        return event.finish_reason


class Scheduler:
    """Runs one generation backend for many clients, first come first served."""

    def __init__(
        self,
        model_id: str,
        backend: GenerationBackend,
        *,
        max_queue: int,
        max_share: float = 1.0,
        observer: EngineObserver | None = None,
        nice: int = 0,
    ) -> None:
        self.model_id = model_id
        self._nice = nice
        self._observer: EngineObserver = observer or NullObserver()
        self.backend = backend
        self.max_queue = max_queue
        self._jobs: FairQueue[_Job] = FairQueue()
        self._waiting = 0
        self._per_owner = owner_cap(max_queue, max_share)
        self._waiting_by: Counter[str] = Counter()
        self._closing = False
        self._live: set[_Job] = set()
        if isinstance(backend, SteppedBackend):
            self._threads = [
                threading.Thread(target=self._step_loop, args=(backend,), name=f"generate-{model_id}", daemon=True)
            ]
        else:
            self._threads = [
                threading.Thread(target=self._work, args=(slot,), name=f"generate-{model_id}-{slot}", daemon=True)
                for slot in range(backend.slots)
            ]
        for thread in self._threads:
            thread.start()

    @property
    def waiting(self) -> int:
        """Requests queued or running."""
        return self._waiting

    async def stream(
        self, request: GenerationRequest, *, timeout_s: float, owner: str = ""
    ) -> AsyncGenerator[Event, None]:
        """Queue `request` in `owner`'s line and yield its events as they are generated. Leaving the loop early (a
        disconnect) stops the generation within one token."""
        if self._closing:
            raise ModelNotReady(f"The model '{self.model_id}' is shutting down.")
        if self._waiting >= self.max_queue:
            raise Overloaded(f"The model '{self.model_id}' has {self._waiting} requests waiting.", retry_after=2.0)
        if self._waiting_by[owner] >= self._per_owner:
            raise Overloaded(f"You have {self._waiting_by[owner]} requests waiting or running on '{self.model_id}', "
                             "your share of its queue; try again shortly.", retry_after=2.0)  # fmt: skip
        self._waiting += 1  # counted from now, so requests being tokenised hold their place in the bound
        self._waiting_by[owner] += 1
        try:
            tokens, constraint = await self._prepared(request)
        except BaseException:
            self._release(owner)
            raise
        loop = asyncio.get_running_loop()
        job = _Job(request, loop, asyncio.Queue(), time.monotonic() + timeout_s, owner, tokens, constraint)
        self._live.add(job)
        self._jobs.put(owner, job)
        # one timer per request (not one per token): a request stuck behind others still gets its 504 on time
        timer = loop.call_later(timeout_s, job.events.put_nowait, _late())
        try:
            while True:
                item = await job.events.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, Piece | Finished)
                yield item
        finally:
            timer.cancel()
            job.cancelled.set()
            self._live.discard(job)

    async def _prepared(self, request: GenerationRequest) -> tuple[list[int] | None, Constraint | None]:
        """The prompt's tokens, templated and tokenised (and a prompt over the window refused) where the backend
        allows it, and the answer's grammar matcher: both off the model's thread, so neither a huge prompt nor a
        large grammar holds the answers being decoded."""
        backend = self.backend
        if not isinstance(backend, SteppedBackend):
            backend.constrain(request)  # refuses a grammar
            return None, None
        if not backend.tokenizes_anywhere and request.grammar is None:
            return None, None

        def prepare() -> tuple[list[int] | None, Constraint | None]:
            tokens = backend.tokenize(request) if backend.tokenizes_anywhere else None
            return tokens, backend.constrain(request)

        return await asyncio.to_thread(prepare)

    def _release(self, owner: str) -> None:
        self._waiting -= 1
        self._waiting_by[owner] -= 1
        if self._waiting_by[owner] <= 0:
            del self._waiting_by[owner]

    def _close_job(self, job: _Job, reason: str, tokens: int) -> None:
        job.push(_DONE)
        job.loop.call_soon_threadsafe(self._release, job.owner)
        self._observer.generation_done(self.model_id, reason, tokens)

    def _fail(self, job: _Job, exc: Exception) -> None:
        if isinstance(exc, AiserveError):
            job.push(exc)
        else:  # a runtime bug fails its request, never the worker
            log.error("model %s failed while generating", self.model_id, exc_info=exc)
            job.push(ModelFailed(f"The model '{self.model_id}' failed: {type(exc).__name__}."))

    # slot backends: one answer per worker thread

    def _work(self, slot: int) -> None:
        lower_priority(self._nice)
        while (job := self._jobs.get()) is not None:
            self._run(job, slot)

    def _run(self, job: _Job, slot: int) -> None:
        reason, tokens = "cancelled", 0
        if not job.cancelled.is_set():
            reason = "error"
            try:
                for event in self.backend.generate(job.request, job.stopped, slot):
                    ended = job.deliver(event)
                    if ended is not None:
                        reason = ended
                        tokens = event.completion_tokens if isinstance(event, Finished) else 0
                        break
            except Exception as exc:
                self._fail(job, exc)
        self._close_job(job, reason, tokens)

    # stepped backends: every running answer advances one token per forward pass

    def _step_loop(self, backend: SteppedBackend) -> None:
        lower_priority(self._nice)
        running: dict[Decoding, _Job] = {}
        open_ = True
        while open_ or running:
            try:
                open_ = self._admit(backend, running, block=open_ and not running) and open_
                for sequence, job in list(running.items()):
                    if job.stopped():
                        sequence.finish = "cancelled"
                        self._settle(backend, running, sequence)
                if running:
                    backend.step()
                    for sequence in list(running):
                        self._settle(backend, running, sequence)
            except Exception as exc:  # the runtime failed mid-step: fail what it was running, keep serving
                for sequence, job in running.items():
                    self._fail(job, exc)
                    self._close_job(job, "error", len(sequence.tokens))
                    with contextlib.suppress(Exception):
                        backend.end(sequence)
                running.clear()

    def _admit(self, backend: SteppedBackend, running: dict[Decoding, _Job], *, block: bool) -> bool:
        """Start queued requests while there is room; False once the queue has been closed."""
        while len(running) < backend.max_running:
            try:
                job = self._jobs.get(block=block)
            except queue.Empty:
                return True
            if job is None:
                return False
            block = False
            if job.cancelled.is_set():
                self._close_job(job, "cancelled", 0)
                continue
            try:
                sequence = backend.begin(job.request, job.tokens, job.constraint)
            except Exception as exc:
                self._fail(job, exc)
                self._close_job(job, "error", 0)
                continue
            running[sequence] = job
            self._settle(backend, running, sequence)
        return True

    def _settle(self, backend: SteppedBackend, running: dict[Decoding, _Job], sequence: Decoding) -> None:
        """Send what `sequence` produced; close its request when it has ended."""
        job = running[sequence]
        reason = None
        for event in sequence.take():
            reason = job.deliver(event)
        if sequence.finish is not None:
            del running[sequence]
            backend.end(sequence)
            self._close_job(job, reason or sequence.finish, len(sequence.tokens))

    async def close(self, drain_s: float = 10.0) -> None:
        """Refuse new requests, let the queued ones finish for up to `drain_s`, then stop the workers."""
        self._closing = True
        try:
            async with asyncio.timeout(drain_s):
                while self._waiting:
                    await asyncio.sleep(0.02)
        except TimeoutError:
            log.warning("model %s stopped with %d requests unfinished", self.model_id, self._waiting)
            for job in list(self._live):
                job.push(ModelNotReady(f"The model '{self.model_id}' is shutting down."))
                job.cancelled.set()
        self._jobs.close()
        for thread in self._threads:
            await asyncio.to_thread(thread.join, 5.0)
