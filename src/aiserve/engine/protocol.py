"""The seams of the runtime: the request and event types the HTTP layer may rely on, the `EngineClient` it calls
and what observers receive. A leaf: it imports nothing else of the engine."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to choose each token, in this order: `logit_bias`, the penalties, the grammar's mask, then greedy at
    temperature 0, otherwise temperature, `top_k`, `top_p` and `min_p` before drawing."""

    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_k: int = 0
    """Keep only the k likeliest tokens (0: all)."""
    min_p: float = 0.0
    """Drop tokens less likely than `min_p` times the likeliest one."""
    presence_penalty: float = 0.0
    """Subtracted once from the logit of every token the answer already holds."""
    frequency_penalty: float = 0.0
    """Subtracted from a token's logit once per time the answer holds it."""
    repetition_penalty: float = 1.0
    """Divides the positive logits (multiplies the negative ones) of every token in the prompt or the answer."""
    logit_bias: tuple[tuple[int, float], ...] = ()
    """`(token, bias)` added to the logits."""
    logprobs: int | None = None
    """Return each chosen token's log-probability and this many likeliest alternatives (None: none)."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model made: its id, the function's name and its arguments as JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Picture:
    """An image shown to a model that sees for itself: 8-bit RGB pixels row by row, and its place in its message."""

    width: int
    height: int
    rgb: bytes = field(repr=False)
    at: int = 0
    """Where it stands in the message's `content`, as a character offset."""


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation: an assistant's turn may carry tool calls, a `tool` turn answers one; a user's
    turn may carry images for a model that sees them."""

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    images: tuple[Picture, ...] = ()


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A plain prompt to continue, or a conversation to answer with the model's chat template.

    `tools` are OpenAI function definitions (`{"type": "function", "function": {...}}`) shown to the model;
    `grammar` (llguidance's serialised form, made by the service) constrains the answer to a language.
    """

    prompt: str = ""
    messages: tuple[Message, ...] = ()
    params: SamplingParams = field(default_factory=SamplingParams)
    tools: tuple[dict[str, Any], ...] = ()
    grammar: str | None = None
    grammar_param: str = "response_format"
    """The request field the grammar came from, named when the grammar cannot be used."""

    @property
    def images(self) -> int:
        """How many images its messages carry."""
        return sum(len(message.images) for message in self.messages)


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """A chosen token's bytes and log-probability, with the likeliest alternatives `(bytes, logprob)`."""

    token: bytes
    logprob: float
    top: tuple[tuple[bytes, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Piece:
    """Generated text, as it arrives, with the answer's tokens so far: an answer that never finishes (its client
    left, its deadline passed) is still charged for what was sent. `logprobs` has one entry per token of the piece
    when they were asked for."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class Finished:
    """The end of an answer: why it ended and the tokens it used."""

    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    stop_sequence: str | None = None
    """The stop string that ended the answer, when one did."""


Event = Piece | Finished


@dataclass(frozen=True, slots=True)
class EmbeddingOutput:
    """One input's embedding and the tokens the model read for it."""

    vector: NDArray[np.float32]
    tokens: int


@dataclass(frozen=True, slots=True)
class ScoreOutput:
    """How relevant one document is to a query (0 to 1, higher is more), and the tokens the model read for it."""

    score: float
    tokens: int


@dataclass(frozen=True, slots=True)
class ClassOutput:
    """One image's best classes with their probabilities, best first."""

    top: list[tuple[str, float]]


@dataclass(frozen=True, slots=True)
class Completed:
    """A finished request: one output per input, and where its time went."""

    outputs: list[Any]
    queue_s: float
    inference_s: float


class EngineClient(Protocol):
    """What the transport layer uses to run models."""

    async def run(self, model_id: str, items: Sequence[Any], *, timeout_s: float, owner: str = "") -> Completed:
        """Queue `items` on a model and wait for its outputs. `owner` (an API key or a client address) gets fair
        turns with the other owners and at most its share of the queue.

        Raises:
            ModelNotReady: the model is not serving.
            Overloaded: its queue is full.
            DeadlineExceeded: `timeout_s` passed first.
        """
        ...

    async def count_tokens(self, model_id: str, items: Sequence[Any]) -> list[int] | None:
        """The tokens each input would take on a model, where its runtime counts them (None otherwise)."""
        ...

    def stream(
        self, model_id: str, request: GenerationRequest, *, timeout_s: float, owner: str = ""
    ) -> AsyncGenerator[Event, None]:
        """Generate text on a model for `owner`: pieces as they come, then `Finished`.

        Raises:
            ModelNotReady, Overloaded, InvalidInput (prompt too long), DeadlineExceeded.
        """
        ...


class EngineObserver(Protocol):
    """Receives engine events; the metrics module implements it."""

    def batch_done(self, model_id: str, size: int, inference_s: float) -> None:
        """A batch of `size` inputs ran in `inference_s` seconds."""

    def queue_changed(self, model_id: str, depth: int) -> None:
        """The number of inputs waiting on a model changed."""

    def rejected(self, model_id: str, reason: str) -> None:
        """A request was refused before it ran (`overloaded`, `deadline`)."""

    def generation_done(self, model_id: str, reason: str, tokens: int) -> None:
        """An answer ended (`stop`, `length`, `cancelled`, `error`) after `tokens` generated tokens."""


class NullObserver:
    """An observer that ignores everything."""

    def batch_done(self, model_id: str, size: int, inference_s: float) -> None:
        """Ignore."""

    def queue_changed(self, model_id: str, depth: int) -> None:
        """Ignore."""

    def rejected(self, model_id: str, reason: str) -> None:
        """Ignore."""

    def generation_done(self, model_id: str, reason: str, tokens: int) -> None:
        """Ignore."""
