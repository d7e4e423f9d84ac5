"""llama.cpp keeps each finished answer's cache: a prompt that starts like an earlier one evaluates only the rest,
and gets exactly the answer it gets from scratch."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiserve.engine.backends.llama_cpp import LlamaCppBackend
from aiserve.engine.protocol import GenerationRequest, Message, Piece, SamplingParams

pytestmark = pytest.mark.integration

FIRST = (Message("system", "Answer in one short sentence."), Message("user", "What is the capital of France?"))
LATER = (*FIRST, Message("assistant", "The capital of France is Paris."), Message("user", "And the capital of Italy?"))


def answer(backend: LlamaCppBackend, messages: tuple[Message, ...]) -> str:
    request = GenerationRequest(messages=messages, params=SamplingParams(max_tokens=16, temperature=0))
    return "".join(e.text for e in backend.generate(request, lambda: False) if isinstance(e, Piece))


def test_a_conversation_reuses_the_cache_of_its_earlier_turns(data_dir: Path) -> None:
    backend = LlamaCppBackend(data_dir / "models" / "smollm2-135m-instruct@1", threads=2, options={"slots": 2})
    backend.load()
    try:
        from_scratch = answer(backend, LATER)
        assert backend.reused_tokens == 0
        assert "Paris" in answer(backend, FIRST)  # a prefix of what the first sequence holds
        first_reuse = backend.reused_tokens
        assert first_reuse > 20
        assert answer(backend, LATER) == from_scratch  # the earlier turns come from the kept cache
        assert backend.reused_tokens > 2 * first_reuse - 1
        assert "Rome" in from_scratch
    finally:
        backend.unload()
