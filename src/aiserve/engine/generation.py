"""Text generation: the backend interface, and a scheduler that streams one model's answers to many clients.

Requests wait in a bounded queue (full: `Overloaded` before any tokenising) and run on one worker thread. Each
token is handed to the request's own asyncio queue; a request whose client has gone, or whose deadline has
passed, is stopped within one decoding step.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from aiserve.engine.runtime import Runtime
from aiserve.errors import AiserveError, DeadlineExceeded, ModelFailed, ModelNotReady, Overloaded

if TYPE_CHECKING:
    from aiserve.engine.protocol import EngineObserver

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to sample: temperature 0 is greedy."""

    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A plain prompt to continue, or a conversation `(role, text)` to answer with the model's chat template."""

    prompt: str = ""
    messages: tuple[tuple[str, str], ...] = ()
    params: SamplingParams = field(default_factory=SamplingParams)


@dataclass(frozen=True, slots=True)
class Piece:
    """Generated text, as it arrives."""

    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The end of an answer: why it ended and the tokens it used."""

    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


Event = Piece | Finished


class GenerationBackend(Runtime, ABC):
    """A text-generation runtime. `generate` runs on the scheduler's worker thread."""

    task: ClassVar[str] = "chat"

    @abstractmethod
    def load(self) -> None:
        """Load the weights."""

    def unload(self) -> None:
        """Release the weights."""

    @abstractmethod
    def chat_prompt(self, messages: list[tuple[str, str]]) -> str:
        """The conversation `(role, text)` rendered with the model's own chat template, ready for the answer."""

    slots: int = 1
    """Answers this backend can generate at the same time; the scheduler runs one worker thread per slot."""

    @abstractmethod
    def generate(self, request: GenerationRequest, stopped: Callable[[], bool], slot: int = 0) -> Iterator[Event]:
        """Yield pieces of text, then one `Finished`, using slot `slot`. Check `stopped()` once per token and end
        when it is true. Raise `InvalidInput` when the prompt plus `max_tokens` does not fit the context window."""

    def warmup(self) -> None:
        """Generate one token so the first request is not slow."""
        warm = GenerationRequest(messages=(("user", "Hello"),), params=SamplingParams(max_tokens=1, temperature=0))
        for _ in self.generate(warm, lambda: False):
            pass

    def info(self) -> dict[str, Any]:
        """Facts for `/v1/models`."""
        return {"device": self.device}


_DONE = object()


@dataclass(eq=False)
class _Job:
    request: GenerationRequest
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[Event | BaseException | object]
    deadline: float
    cancelled: threading.Event = field(default_factory=threading.Event)

    def push(self, item: Event | BaseException | object) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, item)

    def stopped(self) -> bool:
        return self.cancelled.is_set() or time.monotonic() > self.deadline


class Generator:
    """Runs one generation backend for many clients, first come first served, `backend.slots` answers at a time."""

    def __init__(
        self, model_id: str, backend: GenerationBackend, *, max_queue: int, observer: EngineObserver | None = None
    ) -> None:
        from aiserve.engine.protocol import NullObserver  # protocol imports this module's event types

        self.model_id = model_id
        self._observer: EngineObserver = observer or NullObserver()
        self.backend = backend
        self.max_queue = max_queue
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._waiting = 0
        self._closing = False
        self._live: set[_Job] = set()
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

    async def stream(self, request: GenerationRequest, *, timeout_s: float) -> AsyncGenerator[Event, None]:
        """Queue `request` and yield its events as they are generated. Leaving the loop early (a disconnect)
        stops the generation within one token."""
        if self._closing:
            raise ModelNotReady(f"The model '{self.model_id}' is shutting down.")
        if self._waiting >= self.max_queue:
            raise Overloaded(f"The model '{self.model_id}' has {self._waiting} requests waiting.", retry_after=2.0)
        loop = asyncio.get_running_loop()
        job = _Job(request, loop, asyncio.Queue(), time.monotonic() + timeout_s)
        self._waiting += 1
        self._live.add(job)
        self._jobs.put(job)
        # one timer per request (not one per token): a request stuck behind others still gets its 504 on time
        late = DeadlineExceeded("The answer did not finish within the request's deadline.")
        timer = loop.call_later(timeout_s, job.events.put_nowait, late)
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

    def _work(self, slot: int) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._run(job, slot)
            finally:
                job.loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        self._waiting -= 1

    def _run(self, job: _Job, slot: int) -> None:
        if job.cancelled.is_set():
            job.push(_DONE)
            return
        reason, tokens = "error", 0
        try:
            for event in self.backend.generate(job.request, job.stopped, slot):
                if isinstance(event, Finished):
                    reason, tokens = event.finish_reason, event.completion_tokens
                    if time.monotonic() > job.deadline and not job.cancelled.is_set():
                        job.push(DeadlineExceeded("The answer did not finish within the request's deadline."))
                        reason = "deadline"
                        break
                job.push(event)
        except AiserveError as exc:
            job.push(exc)
        except Exception as exc:  # a runtime bug fails its request, never the worker
            log.exception("model %s failed while generating", self.model_id)
            job.push(ModelFailed(f"The model '{self.model_id}' failed: {type(exc).__name__}."))
        job.push(_DONE)
        self._observer.generation_done(self.model_id, reason, tokens)

    async def close(self, drain_s: float = 10.0) -> None:
        """Refuse new requests, let the queued ones finish for up to `drain_s`, then stop the worker."""
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
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            await asyncio.to_thread(thread.join, 5.0)
