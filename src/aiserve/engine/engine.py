"""The engine facade: one batcher per served model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from aiserve.engine.backends.base import ModelBackend
from aiserve.engine.backends.generative import GenerationBackend
from aiserve.engine.batcher import Batcher, BatchPolicy
from aiserve.engine.protocol import Completed, EngineObserver, Event, GenerationRequest, NullObserver
from aiserve.engine.scheduler import Scheduler
from aiserve.errors import ModelNotReady


class Engine:
    """Runs models. Implements `EngineClient`; `async with Engine()` stops every model on exit."""

    def __init__(self, observer: EngineObserver | None = None) -> None:
        self._observer = observer or NullObserver()
        self._batchers: dict[str, Batcher] = {}
        self._generators: dict[str, Scheduler] = {}

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def add(self, model_id: str, backend: ModelBackend[Any, Any, Any, Any], policy: BatchPolicy) -> None:
        """Start serving a loaded backend under `model_id`."""
        if model_id in self._batchers:
            raise ValueError(f"the model {model_id!r} is already served; remove it first")
        batcher = Batcher(model_id, backend, policy, self._observer)
        batcher.start()
        self._batchers[model_id] = batcher

    def add_generator(
        self, model_id: str, backend: GenerationBackend, *, max_queue: int, max_share: float = 1.0, nice: int = 0
    ) -> None:
        """Start serving a loaded text-generation backend under `model_id`, its threads `nice` steps below the event
        loop's priority."""
        if model_id in self._generators:
            raise ValueError(f"the model {model_id!r} is already served; remove it first")
        self._generators[model_id] = Scheduler(
            model_id, backend, max_queue=max_queue, max_share=max_share, observer=self._observer, nice=nice
        )

    async def stream(
        self, model_id: str, request: GenerationRequest, *, timeout_s: float, owner: str = ""
    ) -> AsyncGenerator[Event, None]:
        """Generate on `model_id` for `owner`, yielding text pieces and then `Finished`."""
        generator = self._generators.get(model_id)
        if generator is None:
            raise ModelNotReady(f"The model '{model_id}' is not loaded yet.", retry_after=2.0)
        async for event in generator.stream(request, timeout_s=timeout_s, owner=owner):
            yield event

    async def remove(self, model_id: str, drain_s: float = 10.0) -> None:
        """Stop serving `model_id`, letting queued work finish first."""
        batcher = self._batchers.pop(model_id, None)
        if batcher is not None:
            await batcher.close(drain_s)
        generator = self._generators.pop(model_id, None)
        if generator is not None:
            await generator.close(drain_s)

    def queued(self, model_id: str) -> int:
        """Inputs waiting on `model_id`."""
        batcher = self._batchers.get(model_id)
        return batcher.queued if batcher else 0

    async def run(self, model_id: str, items: Sequence[Any], *, timeout_s: float, owner: str = "") -> Completed:
        """Queue `items` on `model_id` for `owner` and wait for the outputs."""
        batcher = self._batchers.get(model_id)
        if batcher is None:
            raise ModelNotReady(f"The model '{model_id}' is not loaded yet.", retry_after=2.0)
        return await batcher.submit(items, timeout_s=timeout_s, owner=owner)

    async def count_tokens(self, model_id: str, items: Sequence[Any]) -> list[int] | None:
        """The tokens each input would take on `model_id`, where its runtime counts them (off the event loop)."""
        runner = self._batchers.get(model_id) or self._generators.get(model_id)
        if runner is None:
            return None
        return await asyncio.to_thread(runner.backend.count_tokens, list(items))

    async def close(self, drain_s: float = 10.0) -> None:
        """Stop every model."""
        for model_id in [*self._batchers, *self._generators]:
            await self.remove(model_id, drain_s)
