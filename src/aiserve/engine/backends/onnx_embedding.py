"""Sentence embeddings on ONNX Runtime: a BERT-style encoder, mean pooling, L2 normalisation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from aiserve.engine.backends._ort import open_session
from aiserve.engine.backends.base import ModelBackend
from aiserve.engine.backends.options import BackendOptions
from aiserve.engine.protocol import EmbeddingOutput
from aiserve.errors import AiserveError, InvalidInput

Int64Array = NDArray[np.int64]
FloatArray = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """Token ids for the inputs that fit, and errors for those that do not."""

    input_ids: Int64Array
    attention_mask: Int64Array
    rows: list[int]
    errors: dict[int, AiserveError]
    size: int


class OnnxEmbeddingOptions(BackendOptions):
    """What an ONNX sentence encoder reads."""

    max_tokens: int = Field(default=256, gt=0)
    """The model's window, in tokens."""
    truncate: bool = True
    """Cut longer inputs to the window, else refuse them (the registry sets `models.embeddings.truncate`)."""
    dimensions: int = Field(default=384, gt=0)
    """The size of the model's vectors."""
    allow_spinning: bool = False
    """Let idle ONNX Runtime threads spin; off leaves the CPU to the HTTP server between batches."""


class OnnxEmbeddingBackend(ModelBackend[str, EncodedBatch, FloatArray, EmbeddingOutput]):
    """all-MiniLM-L6-v2 and friends: `model.onnx` plus a `tokenizer.json` in the model folder.

    Options: `OnnxEmbeddingOptions`.
    """

    task = "embeddings"
    runtime = "onnxruntime"
    Options = OnnxEmbeddingOptions

    def __init__(self, model_dir: Path, *, threads: int, options: Mapping[str, Any]) -> None:
        super().__init__(model_dir, threads=threads, options=options)
        self.opts = OnnxEmbeddingOptions.parse(options, model=model_dir.name)
        # a word piece spans a few characters; 64 per token leaves room for long words and whitespace
        self._max_chars = self.opts.max_tokens * 64
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: set[str] = set()

    def load(self) -> None:
        """Open the ONNX session and the tokenizer."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tokenizer.enable_padding()  # pad to the longest input of each batch, not a fixed length
        if self.opts.truncate:
            tokenizer.enable_truncation(self.opts.max_tokens)
        else:
            tokenizer.no_truncation()
        session = open_session(
            self.model_dir / "model.onnx",
            threads=self.threads,
            device=self.device,
            spinning=self.opts.allow_spinning,
        )
        self._input_names = {i.name for i in session.get_inputs()}
        self._session, self._tokenizer = session, tokenizer

    def unload(self) -> None:
        """Drop the session and tokenizer."""
        self._session = self._tokenizer = None

    def preprocess(self, items: Sequence[str]) -> EncodedBatch:
        """Tokenize; in refuse mode, set aside inputs longer than the window."""
        if self.opts.truncate:  # the window holds at most this many characters; never tokenize megabytes to drop them
            items = [text[: self._max_chars] for text in items]
        encodings = self._tokenizer.encode_batch(list(items))
        errors: dict[int, AiserveError] = {}
        rows = list(range(len(items)))
        if not self.opts.truncate:
            lengths = [sum(e.attention_mask) for e in encodings]
            for i, n in enumerate(lengths):
                if n > self.opts.max_tokens:
                    errors[i] = InvalidInput(
                        f"An input has {n} tokens; this model reads at most {self.opts.max_tokens}. Shorten it, or "
                        "let the server truncate (AISERVE_MODELS__EMBEDDINGS__TRUNCATE=true).",
                        param="input",
                    )
            if errors:
                rows = [i for i in rows if i not in errors]
                width = max((lengths[i] for i in rows), default=1)
                encodings = [encodings[i] for i in rows]
                ids = np.array([e.ids[:width] for e in encodings], dtype=np.int64).reshape(len(rows), -1)
                mask = np.array([e.attention_mask[:width] for e in encodings], dtype=np.int64).reshape(len(rows), -1)
                return EncodedBatch(ids, mask, rows, errors, len(items))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return EncodedBatch(ids, mask, rows, errors, len(items))

    def count_tokens(self, items: Sequence[str]) -> list[int] | None:
        """Tokens per input as the model will read them (cut to the window when truncating)."""
        if self._tokenizer is None:
            return None
        if self.opts.truncate:
            items = [text[: self._max_chars] for text in items]
        return [sum(e.attention_mask) for e in self._tokenizer.encode_batch(list(items))]

    def forward(self, batch: EncodedBatch) -> FloatArray:
        """Run the encoder and mean-pool its last hidden state over real tokens."""
        if not batch.rows:
            return np.zeros((0, self.opts.dimensions), dtype=np.float32)
        feeds: dict[str, Int64Array] = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(batch.input_ids)
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        mask = batch.attention_mask[..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        out: FloatArray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return out

    def postprocess(self, raw: FloatArray, batch: EncodedBatch) -> list[EmbeddingOutput | AiserveError]:
        """One vector (and its token count) per input, errors in place of refused inputs."""
        out: list[EmbeddingOutput | AiserveError] = [batch.errors.get(i, _MISSING) for i in range(batch.size)]
        tokens = batch.attention_mask.sum(axis=1).tolist()
        for row, (index, vector) in enumerate(zip(batch.rows, raw, strict=True)):
            out[index] = EmbeddingOutput(vector=vector, tokens=int(tokens[row]))
        return out

    def warmup_items(self, n: int) -> list[str]:
        """Sentences of a typical length."""
        return [f"Warm-up sentence number {i} for the embedding model." for i in range(n)]

    def info(self) -> dict[str, Any]:
        """Embedding size and window."""
        return {"dimensions": self.opts.dimensions, "max_input_tokens": self.opts.max_tokens, "device": self.device}


_MISSING = InvalidInput("input was not processed")
