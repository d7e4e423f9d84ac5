"""Choosing an answer's next token from the model's logits, the same way on every runtime.

In order: `logit_bias`, the presence, frequency and repetition penalties, the grammar's mask; then the likeliest
token at temperature 0, otherwise temperature, `top_k`, `top_p` and `min_p` before a draw from the answer's own
seeded generator. Log-probabilities, when asked for, are those of the model's own distribution (the logits before
any of these steps), as OpenAI returns them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from aiserve.engine.backends.grammar import Constraint
from aiserve.engine.protocol import SamplingParams, TokenLogprob
from aiserve.errors import InvalidInput


class Sampler:
    """One answer's token choices: its parameters, its grammar, what it has chosen so far."""

    def __init__(
        self,
        params: SamplingParams,
        prompt: Sequence[int],
        *,
        n_vocab: int,
        token_bytes: Callable[[int], bytes],
        constraint: Constraint | None = None,
    ) -> None:
        self.params = params
        self.constraint = constraint
        self._token_bytes = token_bytes
        self._rng = np.random.default_rng(params.seed)
        self._counts: Counter[int] = Counter()
        # an image's positions in a prompt are negative keys, not tokens
        self._seen: set[int] = {t for t in prompt if t >= 0} if params.repetition_penalty != 1.0 else set()
        if any(not 0 <= token < n_vocab for token, _ in params.logit_bias):
            raise InvalidInput(f"'logit_bias' names a token outside this model's vocabulary of {n_vocab}.",
                               param="logit_bias")  # fmt: skip
        self._bias = [(token, bias) for token, bias in params.logit_bias if bias]
        self.greedy_only = (
            params.temperature == 0
            and constraint is None
            and not self._bias
            and not params.presence_penalty
            and not params.frequency_penalty
            and params.repetition_penalty == 1.0
            and params.logprobs is None
        )
        """Whether the likeliest token of the raw logits is the choice (a runtime may then pick it in a batch)."""

    def choose(self, logits: NDArray[np.float32] | None, greedy: int | None = None) -> tuple[int, TokenLogprob | None]:
        """The next token and, when asked for, its log-probability. `greedy` is the raw logits' likeliest token
        where the runtime already has it; `logits` may then be None for a `greedy_only` answer."""
        if self.greedy_only and greedy is not None:
            return greedy, None
        assert logits is not None
        scores = self._adjusted(logits)
        token = int(np.argmax(scores)) if self.params.temperature == 0 else self._draw(scores)
        return token, (self._logprob(logits, token) if self.params.logprobs is not None else None)

    def chosen(self, token: int) -> None:
        """Note a token the answer took (not an end-of-sequence)."""
        self._counts[token] += 1
        if self.params.repetition_penalty != 1.0:
            self._seen.add(token)
        if self.constraint is not None:
            self.constraint.consume(token)

    def _adjusted(self, logits: NDArray[np.float32]) -> NDArray[np.float32]:
        scores = np.array(logits, dtype=np.float32)
        params = self.params
        for token, bias in self._bias:
            scores[token] += bias
        if self._counts and (params.presence_penalty or params.frequency_penalty):
            ids = np.fromiter(self._counts, dtype=np.int64, count=len(self._counts))
            counts = np.fromiter(self._counts.values(), dtype=np.float32, count=len(self._counts))
            scores[ids] -= params.frequency_penalty * counts + params.presence_penalty
        if self._seen:
            ids = np.fromiter(self._seen, dtype=np.int64, count=len(self._seen))
            held = scores[ids]
            scores[ids] = np.where(held > 0, held / params.repetition_penalty, held * params.repetition_penalty)
        if self.constraint is not None:
            self.constraint.mask(scores)
        return scores

    def _draw(self, scores: NDArray[np.float32]) -> int:
        params = self.params
        scaled = scores / np.float32(params.temperature)  # float32 throughout: numpy's float64 exp is 10x slower
        if 0 < params.top_k < len(scaled):
            cut = np.partition(scaled, -params.top_k)[-params.top_k]
            scaled[scaled < cut] = -np.inf
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        if params.top_p < 1.0:
            probs = _nucleus(probs, params.top_p)
        if params.min_p > 0:
            probs[probs < params.min_p * probs.max()] = 0.0
        return _inverse_cdf(probs, self._rng.random())

    def _logprob(self, logits: NDArray[np.float32], token: int) -> TokenLogprob:
        raw = logits.astype(np.float64)
        top = raw.max()
        logprobs = raw - (top + np.log(np.exp(raw - top).sum()))
        k = self.params.logprobs or 0
        best = np.argpartition(-logprobs, k)[:k] if k else np.empty(0, dtype=np.int64)
        best = best[np.argsort(-logprobs[best])]
        alternatives = tuple((self._token_bytes(int(t)), float(logprobs[t])) for t in best)
        return TokenLogprob(self._token_bytes(token), float(logprobs[token]), alternatives)


_BLOCK = 256


def _inverse_cdf(probs: NDArray[np.float32], u: float) -> int:
    """The token whose share of the cumulative mass holds `u` (in [0, 1)): the block of `_BLOCK` tokens first, then
    the token within it, so only one block is summed term by term (a whole-vocabulary `cumsum` costs ten times as
    much, `Generator.choice` twenty)."""
    n = len(probs)
    blocks = np.pad(probs, (0, -n % _BLOCK)).reshape(-1, _BLOCK)
    edges = np.cumsum(blocks.sum(axis=1, dtype=np.float64))
    target = u * edges[-1]
    block = min(int(np.searchsorted(edges, target, side="right")), len(edges) - 1)
    inner = np.cumsum(blocks[block], dtype=np.float64)
    index = block * _BLOCK + int(np.searchsorted(inner, target - (edges[block - 1] if block else 0.0), side="right"))
    if index < n and probs[index] > 0:
        return index
    return int(np.flatnonzero(probs)[-1])  # rounding at a block's end: the last token with any mass


_NUCLEUS_FLOOR = 1e-3
"""Tokens this many times less likely than the likeliest are sorted only when the likelier ones do not reach `top_p`
(a flat distribution): sorting a whole vocabulary for every token would cost more than the rest of the draw."""


def _nucleus(probs: NDArray[np.float32], top_p: float) -> NDArray[np.float32]:
    """`probs` keeping only the likeliest tokens whose mass before each is under `top_p` (the rest set to 0)."""
    candidates = np.flatnonzero(probs >= probs.max() * _NUCLEUS_FLOOR)
    if probs[candidates].sum() < top_p:  # the nucleus reaches past them
        candidates = np.arange(len(probs))
    order = candidates[np.argsort(-probs[candidates], kind="stable")]
    ordered = probs[order]
    keep = order[np.cumsum(ordered) - ordered < top_p]
    kept = np.zeros_like(probs)
    kept[keep] = probs[keep]
    return kept
