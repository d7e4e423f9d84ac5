"""The one sampler both runtimes use: each parameter moves the choice as documented, on made-up logits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aiserve.engine.backends.sampling import Sampler, _inverse_cdf, _nucleus
from aiserve.engine.protocol import SamplingParams
from aiserve.errors import InvalidInput

pytestmark = pytest.mark.unit

VOCAB = 8
LOGITS = np.array([0.0, 3.0, 2.5, 1.0, -1.0, 0.5, 2.9, -2.0], dtype=np.float32)
"""Token 1 is the likeliest, then 6, then 2."""


def sampler(prompt: tuple[int, ...] = (), **params: object) -> Sampler:
    return Sampler(SamplingParams(**params), prompt, n_vocab=VOCAB, token_bytes=lambda t: bytes([97 + t]))  # type: ignore[arg-type]


def draws(s: Sampler, n: int = 300) -> set[int]:
    return {s.choose(LOGITS)[0] for _ in range(n)}


def test_greedy_takes_the_likeliest_and_lets_a_runtime_hand_it_over() -> None:
    plain = sampler(temperature=0)
    assert plain.greedy_only
    assert plain.choose(None, greedy=5) == (5, None)  # the runtime's own argmax is trusted
    assert plain.choose(LOGITS) == (1, None)
    assert not sampler(temperature=0, logprobs=0).greedy_only


def test_top_k_and_min_p_narrow_the_draw() -> None:
    assert draws(sampler(temperature=1.0, top_k=1, seed=1)) == {1}
    assert draws(sampler(temperature=1.0, top_k=2, seed=1)) == {1, 6}
    assert draws(sampler(temperature=1.0, min_p=1.0, seed=1)) == {1}
    assert draws(sampler(temperature=1.0, min_p=0.5, seed=1)) <= {1, 6, 2}
    assert len(draws(sampler(temperature=1.0, seed=1))) > 3


def test_the_same_seed_draws_the_same_tokens() -> None:
    first, second = sampler(temperature=1.0, seed=42), sampler(temperature=1.0, seed=42)
    assert [first.choose(LOGITS)[0] for _ in range(50)] == [second.choose(LOGITS)[0] for _ in range(50)]


def test_logit_bias_and_penalties_move_the_greedy_choice() -> None:
    assert sampler(temperature=0, logit_bias=((4, 10.0),)).choose(LOGITS)[0] == 4
    assert sampler(temperature=0, logit_bias=((1, -100.0),)).choose(LOGITS)[0] == 6
    repeated = sampler(temperature=0, frequency_penalty=0.3)
    repeated.chosen(1)
    assert repeated.choose(LOGITS)[0] == 6  # 3.0 - 0.3 < 2.9
    present = sampler(temperature=0, presence_penalty=2.0)
    for token in (1, 6):
        present.chosen(token)
    assert present.choose(LOGITS)[0] == 2
    seen_in_prompt = sampler((1,), temperature=0, repetition_penalty=2.0)
    assert seen_in_prompt.choose(LOGITS)[0] == 6  # 3.0 / 2 < 2.9
    with pytest.raises(InvalidInput) as outside:
        sampler(logit_bias=((VOCAB, 1.0),))
    assert outside.value.param == "logit_bias"


def test_logprobs_are_the_models_own_distribution() -> None:
    token, logprob = sampler(temperature=0, logprobs=3, logit_bias=((4, 10.0),)).choose(LOGITS)
    assert token == 4
    assert logprob is not None
    expected = LOGITS.astype(np.float64) - math.log(np.exp(LOGITS.astype(np.float64)).sum())
    assert logprob.token == b"e"
    assert logprob.logprob == pytest.approx(expected[4])  # before the bias that chose it
    assert [t for t, _ in logprob.top] == [b"b", b"g", b"c"]
    assert [v for _, v in logprob.top] == pytest.approx([expected[1], expected[6], expected[2]])
    assert sampler(temperature=0, logprobs=0).choose(LOGITS)[1].top == ()  # type: ignore[union-attr]


def test_draws_follow_the_distribution_and_never_pick_a_token_without_mass() -> None:
    rng = np.random.default_rng(3)
    probs = (rng.random(1000) ** 8).astype(np.float32)
    probs[::7] = 0
    probs /= probs.sum()
    counts = np.bincount([_inverse_cdf(probs, rng.random()) for _ in range(100_000)], minlength=1000)
    assert counts[::7].sum() == 0
    assert np.abs(counts / 100_000 - probs).max() < 0.002  # sampling noise at this size is about 0.0003


def test_the_nucleus_is_the_one_a_full_sort_gives() -> None:
    rng = np.random.default_rng(5)
    for _ in range(100):
        logits = rng.standard_normal(5000) * rng.uniform(0.1, 8)  # from flat to peaked
        probs = np.exp(logits - logits.max()).astype(np.float32)
        probs /= probs.sum()
        top_p = float(rng.uniform(0.05, 0.999))
        order = np.argsort(-probs, kind="stable")
        before = np.cumsum(probs[order]) - probs[order]
        expected = np.zeros(len(probs), dtype=bool)
        expected[order[before < top_p]] = True
        assert np.array_equal(_nucleus(probs, top_p) > 0, expected)
