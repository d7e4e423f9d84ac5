"""The generation scheduler with a fake backend: order, queue limit, cancellation within a step, deadlines."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from aiserve.engine.backends.generative import GenerationBackend
from aiserve.engine.protocol import Event, Finished, GenerationRequest, Message, Piece, SamplingParams
from aiserve.engine.scheduler import Scheduler
from aiserve.errors import DeadlineExceeded, InvalidInput, ModelFailed, Overloaded

pytestmark = pytest.mark.unit

GUARD_S = 5.0


class CountingBackend(GenerationBackend):
    """Says "tok0 tok1 …"; waits on `gate` before each token when one is set; records steps and prompts."""

    runtime = "fake"

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__(Path("."), threads=1, options={})
        self.gate = gate
        self.steps = 0
        self.prompts: list[str] = []
        self.started = threading.Event()

    def load(self) -> None:
        """Nothing to load."""

    def chat_prompt(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> str:
        return " | ".join(f"{m.role}: {m.content}" for m in messages)

    def generate(self, request: GenerationRequest, stopped: Callable[[], bool], slot: int = 0) -> Iterator[Event]:
        prompt = self.prompt_of(request)
        if prompt == "too long":
            raise InvalidInput("too long", param="max_tokens")
        if prompt == "crash":
            raise RuntimeError("boom")
        self.prompts.append(prompt)
        self.started.set()
        for i in range(request.params.max_tokens):
            if self.gate is not None:
                self.gate.wait(GUARD_S)
            if stopped():
                yield Finished("cancelled", 1, i)
                return
            self.steps += 1
            yield Piece(f"tok{i} ")
        yield Finished("length", 1, request.params.max_tokens)


async def collect(gen: Scheduler, prompt: str, tokens: int = 3, timeout_s: float = 30) -> list[Event]:
    request = GenerationRequest(prompt=prompt, params=SamplingParams(max_tokens=tokens))
    return [event async for event in gen.stream(request, timeout_s=timeout_s)]


@pytest.mark.asyncio
async def test_answers_stream_in_order_and_requests_run_first_come_first_served() -> None:
    backend = CountingBackend()
    gen = Scheduler("m", backend, max_queue=8)
    async with asyncio.timeout(GUARD_S):
        first, second = await asyncio.gather(collect(gen, "a"), collect(gen, "b"))
        await gen.close()
    assert first == [Piece("tok0 "), Piece("tok1 "), Piece("tok2 "), Finished("length", 1, 3)]
    assert second == first
    assert backend.prompts == ["a", "b"]
    assert gen.waiting == 0


@pytest.mark.asyncio
async def test_full_queue_is_refused_before_the_backend_sees_the_prompt() -> None:
    gate = threading.Event()
    backend = CountingBackend(gate)
    gen = Scheduler("m", backend, max_queue=2)
    async with asyncio.timeout(GUARD_S):
        running = [asyncio.ensure_future(collect(gen, p)) for p in ("a", "b")]
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded):
            await collect(gen, "refused")
        gate.set()
        await asyncio.gather(*running)
        await gen.close()
    assert "refused" not in backend.prompts


@pytest.mark.asyncio
async def test_leaving_the_stream_stops_generation_within_a_step() -> None:
    gate = threading.Event()
    backend = CountingBackend(gate)
    gen = Scheduler("m", backend, max_queue=4)
    async with asyncio.timeout(GUARD_S):
        stream = gen.stream(GenerationRequest(prompt="long", params=SamplingParams(max_tokens=10_000)), timeout_s=30)
        gate.set()
        assert isinstance(await anext(stream), Piece)
        await stream.aclose()  # the client went away
        assert await collect(gen, "next", tokens=2) == [Piece("tok0 "), Piece("tok1 "), Finished("length", 1, 2)]
        await gen.close()
    assert backend.steps < 10_000


@pytest.mark.asyncio
async def test_deadline_and_errors_reach_the_caller() -> None:
    gate = threading.Event()
    gen = Scheduler("m", CountingBackend(gate), max_queue=4)
    async with asyncio.timeout(GUARD_S):
        threading.Timer(0.3, gate.set).start()
        with pytest.raises(DeadlineExceeded):
            await collect(gen, "slow", tokens=50, timeout_s=0.1)
        with pytest.raises(InvalidInput, match="too long"):
            await collect(gen, "too long")
        with pytest.raises(ModelFailed):
            await collect(gen, "crash")
        assert len(await collect(gen, "still serving")) == 4
        await gen.close()


@pytest.mark.asyncio
async def test_messages_use_the_chat_template() -> None:
    backend = CountingBackend()
    gen = Scheduler("m", backend, max_queue=4)
    request = GenerationRequest(
        messages=(Message("system", "be brief"), Message("user", "hi")), params=SamplingParams(max_tokens=1)
    )
    async with asyncio.timeout(GUARD_S):
        events = [event async for event in gen.stream(request, timeout_s=30)]
        await gen.close()
    assert backend.prompts == ["system: be brief | user: hi"]
    assert events[-1] == Finished("length", 1, 1)


@pytest.mark.asyncio
async def test_a_request_queued_behind_a_stuck_one_still_times_out() -> None:
    gate = threading.Event()
    backend = CountingBackend(gate)
    gen = Scheduler("m", backend, max_queue=4)
    async with asyncio.timeout(GUARD_S):
        stuck = asyncio.ensure_future(collect(gen, "stuck", tokens=2))
        await asyncio.to_thread(backend.started.wait, GUARD_S)
        with pytest.raises(DeadlineExceeded):
            await collect(gen, "waiting", timeout_s=0.1)
        gate.set()
        await stuck
        await gen.close()
    assert backend.prompts == ["stuck"]  # the one that gave up never ran


@pytest.mark.asyncio
async def test_slots_run_answers_side_by_side() -> None:
    gate = threading.Event()
    backend = CountingBackend(gate)
    backend.slots = 2
    gen = Scheduler("m", backend, max_queue=8)
    async with asyncio.timeout(GUARD_S):
        streams = [asyncio.ensure_future(collect(gen, p, tokens=2)) for p in ("a", "b", "c")]
        while len(backend.prompts) < 2:
            await asyncio.sleep(0.01)
        # two answers started while the first is still held: they share the model; the third waits its turn
        assert sorted(backend.prompts) == ["a", "b"]
        gate.set()
        results = await asyncio.gather(*streams)
        await gen.close()
    assert all(r[-1] == Finished("length", 1, 2) for r in results)
    assert sorted(backend.prompts) == ["a", "b", "c"]
