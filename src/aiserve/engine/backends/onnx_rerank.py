"""Rerankers on ONNX Runtime: each input is a `(query, document)` pair and each output its relevance, 0 to 1.

- `OnnxCrossEncoderBackend`: a cross-encoder (ms-marco-MiniLM, bge-reranker, ...) reads the query and the document
  together and gives one logit (its sigmoid is the relevance) or two (the softmax of the second).
- `OnnxLateInteractionBackend`: the built-in reranker on the shipped sentence encoder (all-MiniLM-L6-v2). It
  compares the query and the document token by token (late interaction, as ColBERT does: each query token's best
  match in the document, averaged) as well as whole (the cosine of the mean-pooled vectors), and scores a weighted
  mean of the two (`LATE`); the texts are encoded once per batch however many pairs share them.
"""

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
from aiserve.engine.protocol import ScoreOutput
from aiserve.errors import AiserveError

Pair = tuple[str, str]

LATE = 0.25
"""The share of the late-interaction similarity in the built-in reranker's score (the rest is the whole-text cosine):
on the retrieval set in the tests a quarter scored best of the shares tried (0, 0.25, 0.5, 1); token matches alone
rank worse than the whole text."""
Int64Array = NDArray[np.int64]
FloatArray = NDArray[np.float32]

_WARM_UP = [("What is the capital of France?", f"Document {i} says that Paris is the capital of France.")
            for i in range(64)]  # fmt: skip


@dataclass(frozen=True, slots=True)
class PairBatch:
    """Token ids of the pairs (for late interaction, of each distinct text) and the tokens each pair read."""

    input_ids: Int64Array
    attention_mask: Int64Array
    token_type_ids: Int64Array
    tokens: list[int]
    pairs: list[tuple[int, int]]
    """For late interaction: the rows of each pair's query and document."""


class RerankOptions(BackendOptions):
    """What an ONNX reranker reads."""

    max_tokens: int = Field(default=512, gt=0)
    """The model's window: a cross-encoder cuts a longer pair's document to fit; late interaction cuts each text."""
    allow_spinning: bool = False
    """Let idle ONNX Runtime threads spin; off leaves the CPU to the HTTP server between batches."""


class _PairScorer(ModelBackend[Pair, PairBatch, FloatArray, ScoreOutput]):
    """`model.onnx` and `tokenizer.json` in the model folder, scoring `(query, document)` pairs."""

    task = "rerank"
    runtime = "onnxruntime"
    Options = RerankOptions

    def __init__(self, model_dir: Path, *, threads: int, options: Mapping[str, Any]) -> None:
        super().__init__(model_dir, threads=threads, options=options)
        self.opts = RerankOptions.parse(options, model=model_dir.name)
        self._max_chars = self.opts.max_tokens * 64  # never tokenise megabytes only to cut them
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: set[str] = set()

    def load(self) -> None:
        """Open the ONNX session and the tokenizer (padded to the longest input of each batch)."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        tokenizer.enable_padding()
        tokenizer.enable_truncation(self.opts.max_tokens, strategy=self._truncation)
        self._session = open_session(self.model_dir / "model.onnx", threads=self.threads, device=self.device,
                                     spinning=self.opts.allow_spinning)  # fmt: skip
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tokenizer

    _truncation = "longest_first"

    def unload(self) -> None:
        """Drop the session and tokenizer."""
        self._session = self._tokenizer = None

    def _cut(self, text: str) -> str:
        return text[: self._max_chars]

    def _run(self, batch: PairBatch) -> FloatArray:
        feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = batch.token_type_ids
        out: FloatArray = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        return out

    def postprocess(self, raw: FloatArray, batch: PairBatch) -> list[ScoreOutput | AiserveError]:
        """One score per pair."""
        return [ScoreOutput(float(score), tokens) for score, tokens in zip(raw, batch.tokens, strict=True)]

    def warmup_items(self, n: int) -> list[Pair]:
        """Pairs of a typical length."""
        return [_WARM_UP[i % len(_WARM_UP)] for i in range(n)]

    def info(self) -> dict[str, Any]:
        """The window."""
        return {"max_input_tokens": self.opts.max_tokens, "device": self.device}


def _arrays(encodings: list[Any]) -> tuple[Int64Array, Int64Array, Int64Array]:
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    types = np.array([e.type_ids for e in encodings], dtype=np.int64)
    return ids, mask, types


class OnnxCrossEncoderBackend(_PairScorer):
    """A cross-encoder: inputs `input_ids`, `attention_mask` (and `token_type_ids` if it takes them), output N×1 or
    N×2 logits.

    Options: `RerankOptions`.
    """

    _truncation = "only_second"  # the document is cut, never the query

    def _encode(self, items: Sequence[Pair]) -> list[Any]:
        return list(self._tokenizer.encode_batch([(self._cut(q), self._cut(d)) for q, d in items]))

    def preprocess(self, items: Sequence[Pair]) -> PairBatch:
        """Tokenise each pair as the model was trained on it: query, separator, document."""
        ids, mask, types = _arrays(self._encode(items))
        return PairBatch(ids, mask, types, [int(n) for n in mask.sum(axis=1)], [])

    def count_tokens(self, items: Sequence[Pair]) -> list[int] | None:
        """Tokens per pair as the model reads it."""
        return None if self._tokenizer is None else [sum(e.attention_mask) for e in self._encode(items)]

    def forward(self, batch: PairBatch) -> FloatArray:
        """The relevance of each pair: the sigmoid of one logit, or the softmax of the second of two."""
        logits = self._run(batch).reshape(len(batch.tokens), -1)
        if logits.shape[1] == 1:
            scores = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        else:
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            scores = shifted[:, -1] / shifted.sum(axis=1)
        out: FloatArray = scores.astype(np.float32)
        return out


class OnnxLateInteractionBackend(_PairScorer):
    """A sentence encoder (the shipped all-MiniLM-L6-v2) scoring pairs by late interaction and whole-text cosine.

    Options: `RerankOptions`.
    """

    def preprocess(self, items: Sequence[Pair]) -> PairBatch:
        """Tokenise each distinct text of the batch once."""
        rows: dict[str, int] = {}
        for query, document in items:
            rows.setdefault(self._cut(query), len(rows))
            rows.setdefault(self._cut(document), len(rows))
        ids, mask, types = _arrays(self._tokenizer.encode_batch(list(rows)))
        pairs = [(rows[self._cut(q)], rows[self._cut(d)]) for q, d in items]
        counts = mask.sum(axis=1)
        return PairBatch(ids, mask, types, [int(counts[q] + counts[d]) for q, d in pairs], pairs)

    def count_tokens(self, items: Sequence[Pair]) -> list[int] | None:
        """Tokens per pair: the query's and the document's."""
        if self._tokenizer is None:
            return None
        texts = list(dict.fromkeys(self._cut(text) for pair in items for text in pair))  # a shared query once
        counts = dict(zip(texts, (sum(e.attention_mask) for e in self._tokenizer.encode_batch(texts)), strict=True))
        return [counts[self._cut(q)] + counts[self._cut(d)] for q, d in items]

    def forward(self, batch: PairBatch) -> FloatArray:
        """Token-level and whole-text similarity of each pair, mapped to 0 to 1."""
        hidden = self._run(batch)
        mask = batch.attention_mask.astype(bool)
        content = mask.copy()  # the text's own tokens, without [CLS] and [SEP]
        content[:, 0] = False
        content[np.arange(len(mask)), mask.sum(axis=1) - 1] = False
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        tokens = hidden / np.maximum(np.linalg.norm(hidden, axis=2, keepdims=True), 1e-12)
        scores = np.empty(len(batch.pairs), dtype=np.float32)
        for i, (q, d) in enumerate(batch.pairs):
            query, document = tokens[q][content[q]], tokens[d][content[d]]
            late = float((query @ document.T).max(axis=1).mean()) if len(query) and len(document) else 0.0
            scores[i] = (1.0 + LATE * late + (1.0 - LATE) * float(pooled[q] @ pooled[d])) / 2.0
        return scores
