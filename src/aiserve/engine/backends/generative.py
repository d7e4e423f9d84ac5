"""The two kinds of text-generation backend the scheduler (`engine/scheduler.py`) runs.

A `GenerationBackend` generates one answer per slot, each on its own worker thread: the simplest contract, for a
runtime that cannot batch. A `SteppedBackend` decodes every running answer together, one token each per forward pass
(iteration-level batching: llama.cpp and transformers), and leaves the text handling of each answer to the
`Decoding` it returns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiserve.engine.backends.grammar import Constraint, Grammars
from aiserve.engine.backends.options import BackendOptions
from aiserve.engine.backends.sampling import Sampler
from aiserve.engine.protocol import (
    Event,
    Finished,
    GenerationRequest,
    Message,
    Piece,
    SamplingParams,
    TokenLogprob,
)
from aiserve.engine.runtime import Runtime
from aiserve.errors import InvalidInput


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
    def chat_prompt(self, messages: Sequence[Message], tools: Sequence[dict[str, Any]] = ()) -> str:
        """The conversation (and the tools offered) rendered with the model's own chat template, ready for the
        answer."""

    slots: int = 1
    """Answers this backend can generate at the same time; the scheduler runs one worker thread per slot."""

    @abstractmethod
    def generate(self, request: GenerationRequest, stopped: Callable[[], bool], slot: int = 0) -> Iterator[Event]:
        """Yield pieces of text, then one `Finished`, using slot `slot`. Check `stopped()` once per token and end
        when it is true. Raise `InvalidInput` when the prompt plus `max_tokens` does not fit the context window."""

    def warmup(self) -> None:
        """Generate one token so the first request is not slow."""
        warm = GenerationRequest(
            messages=(Message("user", "Hello"),), params=SamplingParams(max_tokens=1, temperature=0)
        )
        for _ in self.generate(warm, lambda: False):
            pass

    def info(self) -> dict[str, Any]:
        """Facts for `/v1/models`."""
        return {"device": self.device}

    def prompt_of(self, request: GenerationRequest) -> str:
        """The text the model continues: the chat template applied to the messages, or the plain prompt."""
        return self.chat_prompt(request.messages, request.tools) if request.messages else request.prompt

    def count_tokens(self, items: Sequence[GenerationRequest]) -> list[int] | None:  # noqa: ARG002 - some count
        """The tokens each request's prompt takes, chat template included, where this runtime counts them."""
        return None

    def constrain(self, request: GenerationRequest) -> Constraint | None:
        """The matcher that holds the answer to `request.grammar`; this runtime cannot, so a grammar is refused."""
        if request.grammar is None:
            return None
        raise InvalidInput(f"The model '{self.model_dir.name}' cannot hold its answers to a format.",
                           param=request.grammar_param)  # fmt: skip


@dataclass(eq=False)
class Decoding:
    """One answer of a `SteppedBackend`: the tokens chosen so far, the text sent, and why it ended (`finish`)."""

    request: GenerationRequest
    prompt_tokens: int
    sampler: Sampler
    tokens: list[int] = field(default_factory=list)
    """Answer tokens (an end-of-sequence token is not one)."""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    """One per answer token, when they were asked for."""
    sent: str = ""
    finish: str | None = None
    stop_sequence: str | None = None
    """The stop string that ended it, if one did."""
    _pieces: list[tuple[str, int]] = field(default_factory=list)
    """Text not yet taken, each with the answer tokens chosen when it was produced."""
    _given: int = 0
    """Log-probabilities already handed out."""

    def take(self) -> list[Event]:
        """The text produced since the last call, then `Finished` once the answer is over."""
        events: list[Event] = []
        for text, tokens in self._pieces:
            logprobs = tuple(self.logprobs[self._given : tokens])
            self._given = max(self._given, tokens)
            events.append(Piece(text, self.prompt_tokens, tokens, logprobs))
        self._pieces.clear()
        if self.finish is not None:
            events.append(Finished(self.finish, self.prompt_tokens, len(self.tokens), self.stop_sequence))
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

    grammars: Grammars | None = None
    """The vocabulary for constrained decoding, set at load by a runtime that supports it."""

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """The tokens of a templated prompt (safe on any thread when `tokenizes_anywhere`)."""

    context_window: int = 0
    """Prompt and answer tokens at most."""

    def tokenize(self, request: GenerationRequest) -> list[int]:
        """The prompt's tokens (chat template applied), checked against the context window with `max_tokens`
        (`InvalidInput` when it does not fit or is empty)."""
        params = request.params
        tokens = self.prompt_tokens(request)
        if not tokens:
            raise InvalidInput("The prompt is empty.", param="prompt")
        if len(tokens) + params.max_tokens > self.context_window:
            raise InvalidInput(
                f"The prompt has {len(tokens)} tokens and max_tokens is {params.max_tokens}: "
                f"{len(tokens) + params.max_tokens} is more than the model's context window of "
                f"{self.context_window} tokens.",
                param="max_tokens",
            )
        return tokens

    def prompt_tokens(self, request: GenerationRequest) -> list[int]:
        """The prompt's tokens, chat template applied; images are refused by a runtime that cannot see them."""
        self._refuse_images([request])
        return self.encode(self.prompt_of(request))

    def _refuse_images(self, items: Sequence[GenerationRequest]) -> None:
        if any(request.images for request in items):
            raise InvalidInput(f"The model '{self.model_dir.name}' does not see images.", param="messages")

    def count_tokens(self, items: Sequence[GenerationRequest]) -> list[int] | None:
        """The tokens each request's prompt takes, chat template included (off the model's thread)."""
        self._refuse_images(items)
        return [len(self.count_encode(self.prompt_of(request))) for request in items]

    def count_encode(self, text: str) -> list[int]:
        """`encode` for counting, off the model's thread (a runtime whose tokenizer is not thread-safe overrides)."""
        return self.encode(text)

    @abstractmethod
    def begin(
        self, request: GenerationRequest, tokens: list[int] | None = None, constraint: Constraint | None = None
    ) -> Decoding:
        """Tokenise (unless `tokens` are given) and prefill a new answer and choose its first token, held to
        `constraint` when there is one. Raise `InvalidInput` when the prompt plus `max_tokens` does not fit the
        context window."""

    def constrain(self, request: GenerationRequest) -> Constraint | None:
        """The matcher that holds the answer to `request.grammar` (thread-safe: the scheduler builds it off the
        model's thread)."""
        if request.grammar is None:
            return None
        if self.grammars is None:
            return super().constrain(request)
        return self.grammars.constraint(request.grammar, request.grammar_param)

    def decoding(self, request: GenerationRequest, tokens: list[int], constraint: Constraint | None) -> Decoding:
        """A new answer to a prompt of `tokens`, with its sampler."""
        if constraint is None:
            constraint = self.constrain(request)
        sampler = Sampler(request.params, tokens, n_vocab=self.n_vocab, token_bytes=self.token_bytes,
                          constraint=constraint)  # fmt: skip
        return Decoding(request, len(tokens), sampler)

    n_vocab: int = 0
    """The width of the model's logits."""

    def token_bytes(self, token: int) -> bytes:
        """A token's bytes, for log-probabilities."""
        if self.grammars is not None:
            return self.grammars.token_bytes(token)
        return self.detokenize([token]).encode()

    def choose(self, sequence: Decoding, logits: Any, greedy: int | None = None) -> int:
        """Choose `sequence`'s next token from its logits (a 1-D float32 array; None for a greedy-only answer
        whose `greedy` token is given) and accept it."""
        token, logprob = sequence.sampler.choose(logits, greedy)
        self.accept(sequence, token, logprob)
        return token

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

    def accept(self, sequence: Decoding, token: int, logprob: TokenLogprob | None = None) -> None:
        """Add a chosen token to `sequence`: text goes out as whole characters, held back while it could still be
        the start of a stop string. An answer held to a grammar ends where the grammar does."""
        params = sequence.request.params
        if token in self.eos_tokens:
            sequence.finish = "stop"
            return
        constraint = sequence.sampler.constraint
        if constraint is not None and constraint.failed:  # its mask could not be made: the token may break the grammar
            sequence.finish = "length"
            return
        sequence.tokens.append(token)
        if logprob is not None:
            sequence.logprobs.append(logprob)
        sequence.sampler.chosen(token)
        text = self.detokenize(sequence.tokens)
        safe = len(text) - _held_back(text, params.stop)
        cut, sequence.stop_sequence = _first_stop(text, params.stop)
        if cut is not None:
            text, safe, sequence.finish = text[:cut], cut, "stop"
        elif constraint is not None and constraint.done:
            sequence.finish, safe = "stop", len(text)
        elif len(sequence.tokens) >= params.max_tokens or (constraint is not None and constraint.failed):
            sequence.finish, safe = "length", len(text)  # a grammar past its work limit ends as if out of tokens
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


def _first_stop(text: str, stops: tuple[str, ...]) -> tuple[int | None, str | None]:
    """Where the first stop string in `text` begins, and which one it is."""
    found = [(i, s) for s in stops if (i := text.find(s)) >= 0]
    return min(found) if found else (None, None)


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many characters at the end of `text` could begin a stop string."""
    return max((n for s in stops for n in range(min(len(s) - 1, len(text)), 0, -1) if s.startswith(text[-n:])),
               default=0)  # fmt: skip
