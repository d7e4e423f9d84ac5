"""The Redis limiter on a real Redis: exact across limiters that share it (as replicas do), the same answers as
the in-memory limiter for every kind of limit, and the chosen behaviour when Redis is away."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from aiserve.errors import Unavailable
from aiserve.ratelimit.base import Charge, Decision, Kind, Limit, RateLimiter
from aiserve.ratelimit.memory import MemoryRateLimiter
from aiserve.ratelimit.redis import RedisRateLimiter
from tests.services import free_port, redis_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest_asyncio.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[RateLimiter]:
    made: RateLimiter = MemoryRateLimiter() if request.param == "memory" else RedisRateLimiter(
        redis_url, fail_open=False, prefix=f"test:{uuid.uuid4().hex}:"
    )  # fmt: skip
    yield made
    await made.close()


async def hit(limiter: RateLimiter, key: str, *, limit: int, window_s: float, cost: int = 1) -> Decision:
    verdict = await limiter.acquire([Limit("requests", key, "window", limit, window_s, cost)], lease=uuid.uuid4().hex)
    return verdict.decisions[0]


@pytest.mark.asyncio
async def test_replicas_share_one_exact_limit(redis_url: str) -> None:
    replicas = [RedisRateLimiter(redis_url, fail_open=False) for _ in range(3)]
    decisions = await asyncio.gather(*(hit(replicas[i % 3], "shared", limit=10, window_s=60) for i in range(40)))
    assert sum(d.allowed for d in decisions) == 10
    refused = [d for d in decisions if not d.allowed]
    assert all(0 < d.retry_after_s <= 60 for d in refused)
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))
    assert (await hit(replicas[0], "another", limit=10, window_s=60)).allowed
    for replica in replicas:
        await replica.close()


@pytest.mark.asyncio
async def test_a_slot_freed_on_one_replica_is_free_on_the_others(redis_url: str) -> None:
    first, second = (RedisRateLimiter(redis_url, fail_open=False, prefix="slots:") for _ in range(2))
    inflight = [Limit("concurrent", "c", "lease", 1, 600)]
    assert (await first.acquire(inflight, lease="a")).allowed
    assert not (await second.acquire(inflight, lease="b")).allowed
    await first.settle([Charge("c", "lease", 600)], lease="a")  # sent on its own shortly, as no check follows
    await asyncio.sleep(0.2)
    assert (await second.acquire(inflight, lease="b")).allowed
    await second.settle([Charge("c", "lease", 600)], lease="b")
    await second.close()  # what is pending is sent before closing
    assert (await first.acquire(inflight, lease="c")).allowed
    await first.close()


@pytest.mark.asyncio
async def test_a_window_frees_its_room_when_it_passes(limiter: RateLimiter) -> None:
    assert (await hit(limiter, "short", limit=1, window_s=0.3)).allowed
    refused = await hit(limiter, "short", limit=1, window_s=0.3)
    assert not refused.allowed
    await asyncio.sleep(refused.retry_after_s + 0.05)
    assert (await hit(limiter, "short", limit=1, window_s=0.3)).allowed


@pytest.mark.asyncio
async def test_tokens_are_counted_when_settled_and_free_up_as_the_window_passes(limiter: RateLimiter) -> None:
    tokens = Limit("tokens", "tok", "window", 100, 2.0, cost=0)
    assert (await limiter.acquire([tokens], lease="a")).decisions[0].remaining == 100
    await limiter.settle([Charge("tok", "window", 2.0, 60)], lease="a")
    await asyncio.sleep(1.0)
    assert (await limiter.acquire([tokens], lease="b")).decisions[0].remaining == 40
    await limiter.settle([Charge("tok", "window", 2.0, 50)], lease="b")
    refused = (await limiter.acquire([tokens], lease="c")).decisions[0]
    assert not refused.allowed
    assert 0 < refused.retry_after_s <= 1.1  # when the 60 leave (counted when settled, within 20 ms on Redis)
    await asyncio.sleep(refused.retry_after_s + 0.05)
    assert (await limiter.acquire([tokens], lease="d")).decisions[0].remaining == 50  # the 60 have left


@pytest.mark.asyncio
async def test_all_limits_or_nothing_leases_and_quotas(limiter: RateLimiter) -> None:
    requests = Limit("requests", "r", "window", 10, 60)
    inflight = Limit("concurrent", "c", "lease", 1, 600)
    quota = Limit("monthly_requests", "q", "counter", 2, 3600)
    assert (await limiter.acquire([requests, inflight, quota], lease="a")).allowed
    busy = await limiter.acquire([requests, inflight, quota], lease="b")
    assert busy.refusal is not None
    assert busy.refusal.name == "concurrent"
    await limiter.settle([Charge("c", "lease", 600)], lease="a")
    assert (await limiter.acquire([requests, inflight, quota], lease="b")).allowed
    await limiter.settle([Charge("c", "lease", 600)], lease="b")
    spent = await limiter.acquire([requests, inflight, quota], lease="c")
    assert spent.refusal is not None
    assert spent.refusal.name == "monthly_requests"
    assert 3500 < spent.refusal.retry_after_s <= 3600
    assert (await limiter.acquire([requests], lease="d")).decisions[0].remaining == 7  # refusals took nothing


@pytest.mark.asyncio
async def test_a_seed_sets_a_quota_only_where_none_is_held(limiter: RateLimiter) -> None:
    quota = Limit("monthly_tokens", "m", "counter", 1000, 3600, cost=0)
    await limiter.seed("m", 990, 3600)
    await limiter.seed("m", 5, 3600)
    assert (await limiter.acquire([quota], lease="a")).decisions[0].remaining == 10
    await limiter.settle([Charge("m", "counter", 3600, 10)], lease="a")
    assert not (await limiter.acquire([quota], lease="b")).allowed


@pytest.mark.asyncio
async def test_an_unreachable_redis_fails_open_or_closed_as_configured(caplog: pytest.LogCaptureFixture) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    open_ = RedisRateLimiter(nowhere, fail_open=True)
    assert (await hit(open_, "k", limit=1, window_s=60)).allowed
    assert "admitting requests unlimited" in caplog.text
    closed = RedisRateLimiter(nowhere, fail_open=False)
    with pytest.raises(Unavailable):
        await hit(closed, "k", limit=1, window_s=60)
    assert "refusing requests" in caplog.text
    await open_.close()
    await closed.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["window", "counter"])
async def test_reservations_hold_the_worst_case_until_settled(limiter: RateLimiter, kind: Kind) -> None:
    key = f"held-{kind}-{uuid.uuid4().hex}"

    def tokens(reserve: int) -> list[Limit]:
        return [Limit("tokens", key, kind, 100, 60.0, 0, reserve)]

    first = await limiter.acquire(tokens(60), lease="a")
    assert first.allowed
    assert first.decisions[0].remaining == 40
    assert not (await limiter.acquire(tokens(60), lease="b")).allowed  # 60 held + 60 > 100, though nothing counted
    assert (await limiter.acquire(tokens(40), lease="c")).allowed  # exactly fits
    assert not (await limiter.acquire(tokens(1), lease="d")).allowed
    await limiter.settle([Charge(key, kind, 60.0, 20, 60)], lease="a")  # used 20 of the 60 it held
    await limiter.settle([Charge(key, kind, 60.0, 40, 40)], lease="c")
    await asyncio.sleep(0.1)  # Redis settles on the next round trip, or after a short delay
    again = await limiter.acquire(tokens(40), lease="e")  # 60 counted: 40 more fit
    assert again.allowed
    assert not (await limiter.acquire(tokens(1), lease="f")).allowed
