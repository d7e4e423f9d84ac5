"""A deterministic fake backend, for engine unit tests only."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from aiserve.engine.backends.base import ModelBackend
from aiserve.engine.backends.options import BackendOptions
from aiserve.engine.protocol import EmbeddingOutput
from aiserve.errors import AiserveError, InvalidInput


class DummyOptions(BackendOptions):
    """What the fake backend reads."""

    delay_s: float = Field(default=0.0, ge=0)
    """Seconds each batch takes."""


class DummyBackend(ModelBackend[str, list[str], list[EmbeddingOutput], EmbeddingOutput]):
    """Embeds a string as 8 numbers from its CRC (options: `DummyOptions`). The input `"bad"` fails alone,
    the input `"boom"` makes the whole batch raise. `batches` records every batch size it ran."""

    task = "embeddings"
    runtime = "dummy"
    Options = DummyOptions

    def __init__(self, model_dir: Path, *, threads: int, options: Mapping[str, Any]) -> None:
        super().__init__(model_dir, threads=threads, options=options)
        self.opts = DummyOptions.parse(options, model=model_dir.name)
        self.batches: list[int] = []
        self.started = threading.Event()
        self.loaded = False

    def load(self) -> None:
        """Nothing to load."""
        self.loaded = True

    def preprocess(self, items: Sequence[str]) -> list[str]:
        """Keep the strings."""
        return list(items)

    def forward(self, batch: list[str]) -> list[EmbeddingOutput]:
        """Hash each string into a vector, after the configured delay."""
        self.started.set()
        self.batches.append(len(batch))
        if "boom" in batch:
            raise RuntimeError("boom")
        if self.opts.delay_s:
            time.sleep(self.opts.delay_s)
        rng = [np.random.default_rng(zlib.crc32(s.encode())) for s in batch]
        return [
            EmbeddingOutput(vector=r.standard_normal(8).astype(np.float32), tokens=len(s.split()))
            for r, s in zip(rng, batch, strict=True)
        ]

    def postprocess(self, raw: list[EmbeddingOutput], batch: list[str]) -> list[EmbeddingOutput | AiserveError]:
        """Fail the input `"bad"` on its own."""
        return [InvalidInput("bad input", param="input") if s == "bad" else r for r, s in zip(raw, batch, strict=True)]

    def warmup_items(self, n: int) -> list[str]:
        """Plain words."""
        return [f"warm {i}" for i in range(n)]
