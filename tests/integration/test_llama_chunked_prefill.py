"""Chunked prefill on llama.cpp: a long prompt that arrives while answers are running is evaluated a chunk per step
beside their tokens, so every running answer still gets a token at every step, and the long prompt's answer is the
one it gets alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiserve.engine.backends.generative import Decoding
from aiserve.engine.backends.llama_cpp import LlamaCppBackend
from aiserve.engine.protocol import GenerationRequest, Message, SamplingParams

pytestmark = pytest.mark.integration

LONG = "Summarise the following notes in one sentence. " + " ".join(
    f"Note {i}: the shipment of part {i * 7} arrived on day {i % 30} and was checked by team {i % 5}."
    for i in range(40)
)


def request(text: str, max_tokens: int) -> GenerationRequest:
    return GenerationRequest(messages=(Message("user", text),), params=SamplingParams(max_tokens=max_tokens,
                                                                                       temperature=0))  # fmt: skip


def run_alone(backend: LlamaCppBackend, generation: GenerationRequest) -> list[int]:
    sequence = backend.begin(generation)
    while sequence.finish is None:
        backend.step()
    backend.end(sequence)
    return sequence.tokens


def test_a_long_prompt_is_evaluated_beside_the_running_answers(data_dir: Path) -> None:
    folder = data_dir / "models" / "smollm2-135m-instruct@1"
    backend = LlamaCppBackend(folder, threads=2, options={"slots": 4, "prefill_chunk": 64, "context_window": 2048})
    backend.load()
    try:
        long = request(LONG, 12)
        alone = run_alone(backend, long)
        for seq_id in range(4):  # no kept cache may shorten the long prompt's evaluation below
            backend._forget(seq_id)
        running = [backend.begin(request(f"Count from {n} to {n + 400}, one number per line.", 600)) for n in (1, 100)]
        while not all(s.tokens for s in running):  # the second prompt may itself be evaluated beside the first
            backend.step()
        prompt_tokens = len(backend.tokenize(long))
        assert prompt_tokens > 6 * 64
        arriving = backend.begin(long)
        assert arriving.tokens == []  # not evaluated yet: it waits for the steps
        steps = shared = 0
        while not arriving.tokens:
            answering = [s for s in running if s.finish is None]
            before = [len(s.tokens) for s in answering]
            backend.step()
            steps += 1
            # nobody waits for the prompt: each running answer took a token (or ended)
            assert all(len(s.tokens) == n + 1 or s.finish for s, n in zip(answering, before, strict=True))
            shared += bool(answering)
        assert shared > 1  # the answers were running while the prompt was evaluated
        assert steps >= -(-prompt_tokens // 64)  # chunks of at most `prefill_chunk`, sized from the measured costs
        chunked: Decoding = arriving
        while chunked.finish is None:
            backend.step()
        assert chunked.tokens == alone  # evaluated in chunks, the same answer
        for sequence in [*running, chunked]:
            backend.end(sequence)
    finally:
        backend.unload()
