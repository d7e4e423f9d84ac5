"""transformers keeps each finished answer's cache in a free row: a prompt that starts like an earlier one evaluates
only the rest, and gets exactly the answer (and nearly the logits) it gets from scratch, also when another answer
moved rows in between."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from aiserve.engine.backends.generative import Decoding
from aiserve.engine.backends.kv_rows import KVRows
from aiserve.engine.backends.transformers_lm import TransformersBackend
from aiserve.engine.protocol import GenerationRequest, Message, Piece, SamplingParams

pytestmark = pytest.mark.integration

FIRST = (Message("system", "Answer in one short sentence."), Message("user", "What is the capital of France?"))
OTHER = (Message("system", "You are a helpful assistant."), Message("user", "Name three colours."))


def folder(data_dir: Path) -> Path:
    return data_dir / "models" / "smollm2-135m-instruct@hf"


@pytest.fixture
def backend(data_dir: Path) -> Iterator[TransformersBackend]:
    loaded = TransformersBackend(folder(data_dir), threads=2, options={"slots": 3})
    loaded.load()
    yield loaded
    loaded.unload()


def request(messages: tuple[Message, ...], max_tokens: int = 16) -> GenerationRequest:
    return GenerationRequest(messages=messages, params=SamplingParams(max_tokens=max_tokens, temperature=0))


def answer(backend: TransformersBackend, messages: tuple[Message, ...]) -> str:
    return "".join(e.text for e in backend.generate(request(messages), lambda: False) if isinstance(e, Piece))


def test_a_conversation_reuses_the_cache_of_its_earlier_turns(backend: TransformersBackend, data_dir: Path) -> None:
    first = answer(backend, FIRST)
    assert "Paris" in first
    assert backend.reused_tokens == 0
    later = (*FIRST, Message("assistant", first), Message("user", "And the capital of Italy?"))
    again = answer(backend, later)
    # the first prompt and the answer's tokens come from the kept row
    assert backend.reused_tokens > len(backend.tokenize(request(FIRST))) + 4
    fresh = TransformersBackend(folder(data_dir), threads=2, options={"slots": 3})
    fresh.load()
    try:
        assert answer(fresh, later) == again
        assert fresh.reused_tokens == 0
    finally:
        fresh.unload()
    assert "Rome" in again
    backend.unload()  # a reload starts with no kept rows
    backend.load()
    assert answer(backend, later) == again
    assert backend.reused_tokens == 0


def test_an_answer_that_ends_first_keeps_its_cache_while_the_last_row_moves_into_its_place(
    backend: TransformersBackend,
) -> None:
    alone = {messages: answer(backend, messages) for messages in (FIRST, OTHER)}
    backend.unload()
    backend.load()
    short = backend.begin(request(FIRST, max_tokens=3))  # row 0
    long = backend.begin(request(OTHER))  # row 1: moves to row 0 when the short one ends
    running: list[Decoding] = [short, long]
    while running:
        backend.step()
        for sequence in [s for s in running if s.finish is not None]:
            backend.end(sequence)
            running.remove(sequence)
    assert backend.detokenize(long.tokens) == alone[OTHER]
    assert backend.detokenize(short.tokens) == alone[FIRST][: len(backend.detokenize(short.tokens))]
    assert backend.reused_tokens == 0
    # both are kept: asked again, each evaluates only its prompt's last token
    for messages in (FIRST, OTHER):
        before = backend.reused_tokens
        assert answer(backend, messages) == alone[messages]
        assert backend.reused_tokens - before == len(backend.tokenize(request(messages))) - 1


def test_a_prompt_evaluated_after_kept_columns_has_the_logits_it_has_from_scratch(data_dir: Path) -> None:
    import transformers

    hf: Any = transformers
    tokenizer = hf.AutoTokenizer.from_pretrained(folder(data_dir))
    model = hf.AutoModelForCausalLM.from_pretrained(folder(data_dir), dtype=torch.float32).eval()
    tokens: list[int] = tokenizer("The capital of France is Paris. " * 8 + "The capital of Italy is").input_ids
    rows = KVRows(2, 256, "cpu")
    scratch = rows.prefill(model, tokens, 0)
    rows.prefill(model, tokens[:40], 1)
    rest = rows.prefill(model, tokens, 1, start=40)
    assert int(rest.argmax()) == int(scratch.argmax())
    torch.testing.assert_close(rest, scratch, atol=1e-3, rtol=1e-3)
    # and the steps after it
    step = rows.decode(model, [int(scratch.argmax())] * 2)
    torch.testing.assert_close(step[1], step[0], atol=1e-3, rtol=1e-3)
