"""The two kinds of text-generation backend the scheduler (`engine/scheduler.py`) runs.

A `GenerationBackend` generates one answer per slot, each on its own worker thread: the simplest contract, for a
runtime that cannot batch. A `SteppedBackend` decodes every running answer together, one token each per forward pass
(iteration-level batching: llama.cpp and transformers), and leaves the text handling of each answer to the
`Decoding` it returns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiserve.engine.backends.options import BackendOptions
from aiserve.engine.protocol import Event, Finished, GenerationRequest, Piece, SamplingParams
from aiserve.engine.runtime import Runtime


class GenerationBackend(Runtime, ABC):
    """A text-generation runtime. `generate` runs on the scheduler's worker thread."""

    task: ClassVar[str] = "chat"
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    """The options this backend reads; a subclass names its own and checks them with `Options.parse` when built."""

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

    def prompt_of(self, request: GenerationRequest) -> str:
        """The text the model continues: the chat template applied to the messages, or the plain prompt."""
        return self.chat_prompt(list(request.messages)) if request.messages else request.prompt


@dataclass(eq=False)
class Decoding:
    """One answer of a `SteppedBackend`: the tokens chosen so far, the text sent, and why it ended (`finish`)."""

    request: GenerationRequest
    prompt_tokens: int
    tokens: list[int] = field(default_factory=list)
    """Answer tokens (an end-of-sequence token is not one)."""
    sent: str = ""
    finish: str | None = None
    _pieces: list[tuple[str, int]] = field(default_factory=list)
    """Text not yet taken, each with the answer tokens chosen when it was produced."""

    def take(self) -> list[Event]:
        """The text produced since the last call, then `Finished` once the answer is over."""
        events: list[Event] = [Piece(text, self.prompt_tokens, tokens) for text, tokens in self._pieces]
        self._pieces.clear()
        if self.finish is not None:
            events.append(Finished(self.finish, self.prompt_tokens, len(self.tokens)))
        return events


class SteppedBackend(GenerationBackend):
    """A runtime that decodes all its running answers together, one token each per forward pass.

    The scheduler calls `begin` for a newcomer while fewer than `max_running` answers run, `step` for all of them,
    and `end` for each one that finished or was stopped; all on one worker thread. Subclasses tokenise, prefill and
    run the model; `accept` turns each chosen token into text, honouring end-of-sequence, stop strings and
    `max_tokens`.
    """

    max_running: int = 8
    """Answers decoded together at most; more wait in the scheduler's queue."""

    tokenizes_anywhere: ClassVar[bool] = False
    """Whether `tokenize` may run on any thread while the model decodes on its own: the scheduler then templates and
    tokenises each prompt before it queues the request, off the model's thread."""

    @abstractmethod
    def tokenize(self, request: GenerationRequest) -> list[int]:
        """The prompt's tokens (chat template applied), checked against the context window with `max_tokens`
        (`InvalidInput` when it does not fit or is empty)."""

    @abstractmethod
    def begin(self, request: GenerationRequest, tokens: list[int] | None = None) -> Decoding:
        """Tokenise and prefill a new answer and choose its first token. Raise `InvalidInput` when the prompt plus
        `max_tokens` does not fit the context window."""

    @abstractmethod
    def step(self) -> None:
        """Choose one more token for every running answer that has not finished."""

    @abstractmethod
    def end(self, sequence: Decoding) -> None:
        """Forget an answer (finished or stopped) and free its place."""

    @abstractmethod
    def detokenize(self, tokens: list[int]) -> str:
        """The text of answer tokens."""

    eos_tokens: frozenset[int] = frozenset()

    def accept(self, sequence: Decoding, token: int) -> None:
        """Add a chosen token to `sequence`: text goes out as whole characters, held back while it could still be
        the start of a stop string."""
        params = sequence.request.params
        if token in self.eos_tokens:
            sequence.finish = "stop"
            return
        sequence.tokens.append(token)
        text = self.detokenize(sequence.tokens)
        safe = len(text) - _held_back(text, params.stop)
        cut = _first_stop(text, params.stop)
        if cut is not None:
            text, safe, sequence.finish = text[:cut], cut, "stop"
        elif len(sequence.tokens) >= params.max_tokens:
            sequence.finish, safe = "length", len(text)
        while safe > len(sequence.sent) and text[safe - 1] == "\ufffd":  # wait for whole characters
            safe -= 1
        if safe > len(sequence.sent):
            sequence._pieces.append((text[len(sequence.sent) : safe], len(sequence.tokens)))
            sequence.sent = text[:safe]

    def generate(
        self,
        request: GenerationRequest,
        stopped: Callable[[], bool],
        slot: int = 0,  # noqa: ARG002 - one place for all answers
    ) -> Iterator[Event]:
        """One answer on its own, through the same steps (warm-up, offline measurement)."""
        sequence = self.begin(request)
        try:
            yield from sequence.take()
            while sequence.finish is None:
                if stopped():
                    sequence.finish = "cancelled"
                else:
                    self.step()
                yield from sequence.take()
        finally:
            self.end(sequence)


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    found = [i for s in stops if (i := text.find(s)) >= 0]
    return min(found) if found else None


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many characters at the end of `text` could begin a stop string."""
    return max((n for s in stops for n in range(min(len(s) - 1, len(text)), 0, -1) if s.startswith(text[-n:])),
               default=0)  # fmt: skip
