"""The in-memory limiter on an injected clock: exact at the boundary, with honest retry times, for windows of
requests and of tokens, leases and monthly counters."""

from __future__ import annotations

import uuid

import pytest

from aiserve.ratelimit.base import Charge, Decision, Limit
from aiserve.ratelimit.memory import MemoryRateLimiter

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def hit(limiter: MemoryRateLimiter, key: str, *, limit: int, window_s: float, cost: int = 1) -> Decision:
    verdict = await limiter.acquire([Limit("requests", key, "window", limit, window_s, cost)], lease=uuid.uuid4().hex)
    return verdict.decisions[0]


@pytest.mark.asyncio
async def test_five_per_minute_then_429_until_the_window_passes() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    for i in range(5):
        decision = await hit(limiter, "k", limit=5, window_s=60)
        assert decision.allowed
        assert decision.remaining == 4 - i
        clock.now += 1
    sixth = await hit(limiter, "k", limit=5, window_s=60)
    assert not sixth.allowed
    assert sixth.remaining == 0
    assert sixth.retry_after_s == pytest.approx(55.0)  # the first hit leaves the window at t0 + 60
    assert sixth.reset_s == pytest.approx(59.0)  # the last one leaves at t0 + 64
    clock.now = 1000.0 + 59.999
    assert not (await hit(limiter, "k", limit=5, window_s=60)).allowed
    clock.now = 1000.0 + 60.0
    again = await hit(limiter, "k", limit=5, window_s=60)
    assert again.allowed
    assert again.remaining == 0
    assert not (await hit(limiter, "k", limit=5, window_s=60)).allowed  # the second hit is still in the window


@pytest.mark.asyncio
async def test_keys_are_counted_apart_and_idle_keys_are_forgotten() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    assert (await hit(limiter, "a", limit=1, window_s=10)).allowed
    assert not (await hit(limiter, "a", limit=1, window_s=10)).allowed
    assert (await hit(limiter, "b", limit=1, window_s=10)).allowed
    clock.now += 90
    assert (await hit(limiter, "c", limit=1, window_s=10)).allowed
    assert set(limiter._windows) == {"c"}


@pytest.mark.asyncio
async def test_a_costly_request_waits_for_enough_room() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    for _ in range(3):
        assert (await hit(limiter, "k", limit=4, window_s=60)).allowed
        clock.now += 10
    refused = await hit(limiter, "k", limit=4, window_s=60, cost=3)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(40.0)  # two of the three hits must leave: the 2nd does at t0 + 70


@pytest.mark.asyncio
async def test_tokens_are_admitted_while_any_are_left_and_counted_when_the_answer_is_done() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    tokens = Limit("tokens", "t", "window", 100, 60, cost=0)
    first = await limiter.acquire([tokens], lease="a")
    assert first.allowed
    assert first.decisions[0].remaining == 100
    await limiter.settle([Charge("t", "window", 60, 70)], lease="a")
    clock.now += 10
    second = await limiter.acquire([tokens], lease="b")
    assert second.allowed
    assert second.decisions[0].remaining == 30
    await limiter.settle([Charge("t", "window", 60, 45)], lease="b")  # over: an answer is not cut short
    clock.now += 10
    refused = (await limiter.acquire([tokens], lease="c")).decisions[0]
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(40.0)  # once the 70 leave, 45 of 100 are used
    clock.now += 40
    assert (await limiter.acquire([tokens], lease="d")).allowed


@pytest.mark.asyncio
async def test_a_request_is_counted_only_if_it_fits_every_limit() -> None:
    limiter = MemoryRateLimiter(Clock())
    requests = Limit("requests", "r", "window", 10, 60)
    quota = Limit("monthly_requests", "q", "counter", 2, 3600)
    assert (await limiter.acquire([requests, quota], lease="a")).allowed
    assert (await limiter.acquire([requests, quota], lease="b")).allowed
    refused = await limiter.acquire([requests, quota], lease="c")
    assert not refused.allowed
    assert refused.refusal is not None
    assert refused.refusal.name == "monthly_requests"
    assert refused.refusal.retry_after_s == pytest.approx(3600)
    # the refused request took nothing from the request window
    assert (await limiter.acquire([requests], lease="d")).decisions[0].remaining == 7


@pytest.mark.asyncio
async def test_leases_limit_requests_in_flight_and_lapse_if_never_given_back() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    inflight = Limit("concurrent", "c", "lease", 2, 600)
    assert (await limiter.acquire([inflight], lease="a")).allowed
    assert (await limiter.acquire([inflight], lease="b")).allowed
    assert not (await limiter.acquire([inflight], lease="c")).allowed
    await limiter.settle([Charge("c", "lease", 600)], lease="a")
    assert (await limiter.acquire([inflight], lease="c")).allowed
    clock.now += 600  # b and c were never given back (a replica died): they lapse
    assert (await limiter.acquire([inflight], lease="d")).decisions[0].remaining == 1


@pytest.mark.asyncio
async def test_a_seed_sets_a_counter_only_where_none_is_held() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    quota = Limit("monthly_tokens", "m", "counter", 1000, 3600, cost=0)
    await limiter.seed("m", 990, 3600)
    await limiter.seed("m", 0, 3600)  # held: unchanged
    assert (await limiter.acquire([quota], lease="a")).decisions[0].remaining == 10
    await limiter.settle([Charge("m", "counter", 3600, 10)], lease="a")
    assert not (await limiter.acquire([quota], lease="b")).allowed
    clock.now += 3600  # a new month's counter
    assert (await limiter.acquire([quota], lease="c")).allowed
