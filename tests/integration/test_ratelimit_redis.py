"""The Redis limiter on a real Redis: exact across limiters that share it (as replicas do), and the chosen
behaviour when Redis is away."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from aiserve.errors import Unavailable
from aiserve.ratelimit.redis import RedisRateLimiter
from tests.services import free_port, redis_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.mark.asyncio
async def test_replicas_share_one_exact_limit(redis_url: str) -> None:
    replicas = [RedisRateLimiter(redis_url, fail_open=False) for _ in range(3)]
    decisions = await asyncio.gather(*(replicas[i % 3].hit("shared", limit=10, window_s=60) for i in range(40)))
    assert sum(d.allowed for d in decisions) == 10
    refused = [d for d in decisions if not d.allowed]
    assert all(0 < d.retry_after_s <= 60 for d in refused)
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))
    assert (await replicas[0].hit("another", limit=10, window_s=60)).allowed
    for limiter in replicas:
        await limiter.close()


@pytest.mark.asyncio
async def test_a_window_frees_its_room_when_it_passes(redis_url: str) -> None:
    limiter = RedisRateLimiter(redis_url, fail_open=False)
    assert (await limiter.hit("short", limit=1, window_s=0.3)).allowed
    refused = await limiter.hit("short", limit=1, window_s=0.3)
    assert not refused.allowed
    await asyncio.sleep(refused.retry_after_s + 0.05)
    assert (await limiter.hit("short", limit=1, window_s=0.3)).allowed
    await limiter.close()


@pytest.mark.asyncio
async def test_an_unreachable_redis_fails_open_or_closed_as_configured(caplog: pytest.LogCaptureFixture) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    open_ = RedisRateLimiter(nowhere, fail_open=True)
    assert (await open_.hit("k", limit=1, window_s=60)).allowed
    assert "admitting requests unlimited" in caplog.text
    closed = RedisRateLimiter(nowhere, fail_open=False)
    with pytest.raises(Unavailable):
        await closed.hit("k", limit=1, window_s=60)
    assert "refusing requests" in caplog.text
    await open_.close()
    await closed.close()
