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
    """Generated text, as it arrives, with the answer's tokens so far: an answer that never finishes (its client
    left, its deadline passed) is still charged for what was sent."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Finished:
    """The end of an answer: why it ended and the tokens it used."""

    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


Event = Piece | Finished


@dataclass(frozen=True, slots=True)
class EmbeddingOutput:
    """One input's embedding and the tokens the model read for it."""

    vector: NDArray[np.float32]
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
