"""The in-memory sliding window, on an injected clock: exact at the boundary, with honest retry times."""

from __future__ import annotations

import pytest

from aiserve.ratelimit.memory import MemoryRateLimiter

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_five_per_minute_then_429_until_the_window_passes() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    for i in range(5):
        decision = await limiter.hit("k", limit=5, window_s=60)
        assert decision.allowed
        assert decision.remaining == 4 - i
        clock.now += 1
    sixth = await limiter.hit("k", limit=5, window_s=60)
    assert not sixth.allowed
    assert sixth.remaining == 0
    assert sixth.retry_after_s == pytest.approx(55.0)  # the first hit leaves the window at t0 + 60
    clock.now = 1000.0 + 59.999
    assert not (await limiter.hit("k", limit=5, window_s=60)).allowed
    clock.now = 1000.0 + 60.0
    again = await limiter.hit("k", limit=5, window_s=60)
    assert again.allowed
    assert again.remaining == 0
    assert not (await limiter.hit("k", limit=5, window_s=60)).allowed  # the second hit is still in the window


@pytest.mark.asyncio
async def test_keys_are_counted_apart_and_idle_keys_are_forgotten() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    assert (await limiter.hit("a", limit=1, window_s=10)).allowed
    assert not (await limiter.hit("a", limit=1, window_s=10)).allowed
    assert (await limiter.hit("b", limit=1, window_s=10)).allowed
    clock.now += 30
    assert (await limiter.hit("c", limit=1, window_s=10)).allowed
    assert set(limiter._hits) == {"c"}


@pytest.mark.asyncio
async def test_a_costly_request_waits_for_enough_room() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    for _ in range(3):
        assert (await limiter.hit("k", limit=4, window_s=60)).allowed
        clock.now += 10
    refused = await limiter.hit("k", limit=4, window_s=60, cost=3)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(40.0)  # two of the three hits must leave: the 2nd does at t0 + 70
