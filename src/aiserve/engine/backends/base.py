"""The interface every model backend implements: load, preprocess, forward, postprocess, unload."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from aiserve.engine.backends.options import BackendOptions
from aiserve.engine.runtime import Runtime
from aiserve.errors import AiserveError

In = TypeVar("In")
Batch = TypeVar("Batch")
Raw = TypeVar("Raw")
Out = TypeVar("Out")


class ModelBackend(Runtime, ABC, Generic[In, Batch, Raw, Out]):
    """A model runtime. The batcher calls `run_batch` on a worker thread, never on the event loop.

    `postprocess` returns one entry per input: the output, or an `AiserveError` for an input that cannot be
    served (so one bad input fails its own request, not the whole batch).
    """

    Options: ClassVar[type[BackendOptions]] = BackendOptions
    """The options this backend reads; a subclass names its own and checks them with `Options.parse` when built."""
    prepares: ClassVar[bool] = False
    """Whether `prepare` does work: the batcher then runs it on each input as it arrives, on threads of its own, so
    that it overlaps the batch the model is running."""

    @abstractmethod
    def load(self) -> None:
        """Load weights and tokenizers from `model_dir`. Called once, off the event loop."""

    @abstractmethod
    def preprocess(self, items: Sequence[In]) -> Batch:
        """Turn raw inputs into the model's batch."""

    @abstractmethod
    def forward(self, batch: Batch) -> Raw:
        """Run the model on a batch."""

    @abstractmethod
    def postprocess(self, raw: Raw, batch: Batch) -> list[Out | AiserveError]:
        """Turn the model's raw output into one result per input."""

    def prepare(self, item: In) -> In:
        """The work on one input that needs no other (decoding an image), safe on any thread; `preprocess` takes
        prepared and unprepared inputs alike. Runs only when `prepares` is set."""
        return item

    def unload(self) -> None:
        """Release resources."""

    def count_tokens(self, items: Sequence[In]) -> list[int] | None:  # noqa: ARG002 - a runtime that counts uses it
        """The tokens each input would take, for runtimes that count tokens (None: this one does not). Called off
        the model's thread; it must not touch state the model's thread changes."""
        return None

    @abstractmethod
    def warmup_items(self, n: int) -> list[In]:
        """`n` representative inputs, run once after loading so the first request is not slow."""

    def info(self) -> dict[str, Any]:
        """Facts for `/v1/models` (dimensions, context window)."""
        return {}

    def run_batch(self, items: Sequence[In]) -> list[Out | AiserveError]:
        """Preprocess, forward and postprocess one batch."""
        batch = self.preprocess(items)
        return self.postprocess(self.forward(batch), batch)
