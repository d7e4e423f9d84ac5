"""In-process throughput of a model, with no HTTP: the physical limit the server is measured against."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from aiserve.engine.backends.base import ModelBackend


@dataclass(frozen=True, slots=True)
class OfflineResult:
    """Inputs per second at one batch size, tokenisation and pooling included."""

    batch_size: int
    items_per_s: float
    batches: int
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        """As a plain dict."""
        return asdict(self)


def measure_offline(
    backend: ModelBackend[Any, Any, Any, Any], item: Any, *, batch_size: int, duration_s: float
) -> OfflineResult:
    """Run full batches of `item` back to back for about `duration_s` seconds."""
    batch = [item] * batch_size
    backend.run_batch(batch)  # warm this shape
    batches = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < duration_s or batches == 0:
        backend.run_batch(batch)
        batches += 1
    elapsed = time.perf_counter() - started
    return OfflineResult(batch_size, batches * batch_size / elapsed, batches, elapsed)
