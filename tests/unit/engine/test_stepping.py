"""Iteration-level batching with a fake stepped backend: answers share steps, newcomers join between steps,
a stopped answer leaves within a step, and the text of each answer honours stop strings and whole characters."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from aiserve.engine.backends.generative import Decoding, SteppedBackend
from aiserve.engine.backends.grammar import Constraint
from aiserve.engine.protocol import Event, Finished, GenerationRequest, Message, Piece, SamplingParams
from aiserve.engine.scheduler import Scheduler
from aiserve.errors import DeadlineExceeded, InvalidInput, ModelFailed, Overloaded

pytestmark = pytest.mark.unit

GUARD_S = 5.0
EOS = 0


class Letters(SteppedBackend):
    """Token `t` is the letter chr(96 + t); each answer spells its prompt's letters, then ends with EOS.
    Records how many answers each step carried; waits on `gate` before each step when one is set."""

    runtime = "fake"

    def __init__(self, max_running: int = 4, gate: threading.Event | None = None) -> None:
        super().__init__(Path("."), threads=1, options={})
        self.max_running = max_running
        self.eos_tokens = frozenset({EOS})
        self.gate = gate
        self.batches: list[int] = []
        self.running: list[Decoding] = []
        self.plans: dict[Decoding, list[int]] = {}
        self.fail_step = False

    def load(self) -> None:
        """Nothing to load."""

    def chat_prompt(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> str:
        return messages[-1].content

    def detokenize(self, tokens: list[int]) -> str:
        return "".join(chr(96 + t) for t in tokens)

    def encode(self, text: str) -> list[int]:
        return [ord(c) - 96 for c in text]

    def tokenize(self, request: GenerationRequest) -> list[int]:
        prompt = self.prompt_of(request)
        if prompt == "too long":
            raise InvalidInput("too long", param="max_tokens")
        return self.encode(prompt)

    def begin(
        self, request: GenerationRequest, tokens: list[int] | None = None, constraint: Constraint | None = None
    ) -> Decoding:
        prompt = self.prompt_of(request)
        if tokens is None and prompt == "too long":
            raise InvalidInput("too long", param="max_tokens")
        sequence = self.decoding(request, [ord(c) - 96 for c in prompt], constraint)
        self.plans[sequence] = [ord(c) - 96 for c in prompt] + [EOS]
        self.running.append(sequence)
        self.accept(sequence, self.plans[sequence].pop(0))
        return sequence

    def step(self) -> None:
        if self.gate is not None:
            self.gate.wait(GUARD_S)
        if self.fail_step:
            raise RuntimeError("boom")
        self.batches.append(len(self.running))
        for sequence in self.running:
            self.accept(sequence, self.plans[sequence].pop(0))

    def end(self, sequence: Decoding) -> None:
        if sequence in self.plans:
            self.running.remove(sequence)
            del self.plans[sequence]


def ask(prompt: str, max_tokens: int = 100, stop: tuple[str, ...] = ()) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, params=SamplingParams(max_tokens=max_tokens, stop=stop))


async def collect(gen: Scheduler, request: GenerationRequest, timeout_s: float = 30) -> list[Event]:
    return [event async for event in gen.stream(request, timeout_s=timeout_s)]


def text(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, Piece))


@pytest.mark.asyncio
async def test_running_answers_share_every_step() -> None:
    gate = threading.Event()
    backend = Letters(gate=gate)
    gen = Scheduler("m", backend, max_queue=8)
    async with asyncio.timeout(GUARD_S):
        answers = [asyncio.ensure_future(collect(gen, ask(p))) for p in ("abcdefgh", "ijkl", "mn")]
        while gen.waiting < 3:
            await asyncio.sleep(0.01)
        gate.set()
        results = await asyncio.gather(*answers)
        await gen.close()
    assert [text(r) for r in results] == ["abcdefgh", "ijkl", "mn"]
    assert results[0][-1] == Finished("stop", 8, 8)
    assert max(backend.batches) == 3  # one forward pass carried all three answers
    assert len(backend.batches) == 8  # no more steps than the longest answer needs alone: 7 letters and the EOS


@pytest.mark.asyncio
async def test_beyond_max_running_requests_wait_and_join_when_a_row_frees() -> None:
    gate = threading.Event()
    backend = Letters(max_running=2, gate=gate)
    gen = Scheduler("m", backend, max_queue=8)
    async with asyncio.timeout(GUARD_S):
        answers = [asyncio.ensure_future(collect(gen, ask(p))) for p in ("ab", "cdefgh", "ij")]
        while gen.waiting < 3:
            await asyncio.sleep(0.01)
        assert len(backend.running) <= 2  # the third waits in the queue
        gate.set()
        results = await asyncio.gather(*answers)
        await gen.close()
    assert [text(r) for r in results] == ["ab", "cdefgh", "ij"]
    assert max(backend.batches) == 2
    assert gen.waiting == 0


@pytest.mark.asyncio
async def test_leaving_a_stream_frees_its_row_within_a_step() -> None:
    gate = threading.Event()
    backend = Letters(gate=gate)
    gen = Scheduler("m", backend, max_queue=8)
    async with asyncio.timeout(GUARD_S):
        stream = gen.stream(ask("abcdefghijklmnopqrstuvwxyz" * 20), timeout_s=30)
        assert isinstance(await anext(stream), Piece)  # the first letter comes with the prefill; step 1 is held
        await stream.aclose()  # the client went away
        gate.set()
        assert text(await collect(gen, ask("ok"))) == "ok"
        await gen.close()
    # the abandoned answer took at most the step that was under way; "ok" took two (its "k", then the EOS)
    assert len(backend.batches) <= 3
    assert backend.running == []


@pytest.mark.asyncio
async def test_errors_fail_their_requests_and_the_loop_keeps_serving() -> None:
    gate = threading.Event()
    backend = Letters(gate=gate)
    gen = Scheduler("m", backend, max_queue=8)
    async with asyncio.timeout(GUARD_S):
        with pytest.raises(InvalidInput, match="too long"):
            await collect(gen, ask("too long"))
        threading.Timer(0.3, gate.set).start()
        with pytest.raises(DeadlineExceeded):
            await collect(gen, ask("abcdefgh"), timeout_s=0.1)
        backend.fail_step = True
        with pytest.raises(ModelFailed):
            await collect(gen, ask("abc"))
        backend.fail_step = False
        assert text(await collect(gen, ask("still"))) == "still"
        await gen.close()
    assert backend.running == []


def test_text_is_held_back_while_it_could_begin_a_stop_string() -> None:
    backend = Letters()
    pieces = list(backend.generate(ask("abcabd", stop=("abd",)), lambda: False))
    # "ab" after "abc" could have begun "abd": it is never sent, and the answer ends before the stop string
    assert text(pieces) == "abc"
    assert pieces[-1] == Finished("stop", 6, 6, "abd")


def test_max_tokens_ends_with_length() -> None:
    backend = Letters()
    events = list(backend.generate(ask("abcdef", max_tokens=3), lambda: False))
    assert text(events) == "abc"
    assert events[-1] == Finished("length", 6, 3)


async def collect_as(gen: Scheduler, request: GenerationRequest, owner: str) -> list[Event]:
    return [event async for event in gen.stream(request, timeout_s=30, owner=owner)]


@pytest.mark.asyncio
async def test_owners_take_turns_for_the_running_rows_and_hold_at_most_their_share() -> None:
    gate = threading.Event()
    backend = Letters(max_running=1, gate=gate)
    gen = Scheduler("m", backend, max_queue=8, max_share=0.5)
    order: list[str] = []

    async def answer(prompt: str, owner: str) -> None:
        events = await collect_as(gen, ask(prompt), owner)
        order.append(text(events))

    async with asyncio.timeout(GUARD_S):
        heavy = [asyncio.ensure_future(answer(p, "key:heavy")) for p in ("aa", "bb", "cc", "dd")]
        while gen.waiting < 4:
            await asyncio.sleep(0.01)
        with pytest.raises(Overloaded, match="your share"):  # 4 of 8 is the heavy key's share
            await collect_as(gen, ask("ee"), "key:heavy")
        light = asyncio.ensure_future(answer("zz", "key:light"))
        while gen.waiting < 5:
            await asyncio.sleep(0.01)
        gate.set()
        await asyncio.gather(*heavy, light)
        await gen.close()
    assert order.index("zz") <= 2  # not behind every one of the heavy key's queued answers


class PreTokenizing(Letters):
    """Letters whose prompts are tokenised before they are queued, recording the thread that did it."""

    tokenizes_anywhere = True

    def __init__(self, gate: threading.Event) -> None:
        super().__init__(max_running=4, gate=gate)
        self.tokenized_on: list[str] = []

    def tokenize(self, request: GenerationRequest) -> list[int]:
        self.tokenized_on.append(threading.current_thread().name)
        prompt = self.prompt_of(request)
        if prompt == "too long":
            raise InvalidInput("too long", param="max_tokens")
        return [ord(c) - 96 for c in prompt]


@pytest.mark.asyncio
async def test_a_prompt_over_the_window_is_refused_while_the_model_is_busy() -> None:
    gate = threading.Event()
    backend = PreTokenizing(gate)
    gen = Scheduler("m", backend, max_queue=8)
    async with asyncio.timeout(GUARD_S):
        busy = asyncio.ensure_future(collect(gen, ask("abcdef")))
        while not backend.running:
            await asyncio.sleep(0.01)  # the model's thread now waits inside a step
        with pytest.raises(InvalidInput, match="too long"):
            await collect(gen, ask("too long"))  # refused without waiting for the model's thread
        assert not busy.done()
        assert gen.waiting == 1
        gate.set()
        assert text(await busy) == "abcdef"
        await gen.close()
    assert backend.tokenized_on
    assert not any(name.startswith("generate-") for name in backend.tokenized_on)
