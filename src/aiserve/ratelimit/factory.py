"""The configured rate limiter, chosen by name; the chosen store's module is imported only when chosen."""

from __future__ import annotations

from aiserve.ratelimit.base import RateLimiter
from aiserve.ratelimit.memory import MemoryRateLimiter


def make_limiter(backend: str, redis_url: str | None, *, fail_open: bool) -> RateLimiter:
    """The configured limiter."""
    if backend == "redis":
        if not redis_url:
            raise ValueError("ratelimit.backend is 'redis' but ratelimit.redis_url is not set")
        from aiserve.ratelimit.redis import RedisRateLimiter

        return RedisRateLimiter(redis_url, fail_open=fail_open)
    return MemoryRateLimiter()
