"""What every rate limiter answers: whether a request may go, and what the response headers say."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one request against one limit."""

    allowed: bool
    limit: int
    remaining: int
    """Requests still allowed in the window after this one."""
    reset_s: float
    """Seconds until the window has room for a full `limit` again (`x-ratelimit-reset-*`)."""
    retry_after_s: float
    """Seconds until this request would be allowed (0 when it was)."""


class RateLimiter(Protocol):
    """A sliding-window limiter shared by whatever sees the same store."""

    async def hit(self, key: str, *, limit: int, window_s: float, cost: int = 1) -> Decision:
        """Count `cost` against `key` if it fits `limit` per `window_s`; say what happened."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def make_limiter(backend: str, redis_url: str | None, *, fail_open: bool) -> RateLimiter:
    """The configured limiter."""
    if backend == "redis":
        if not redis_url:
            raise ValueError("ratelimit.backend is 'redis' but ratelimit.redis_url is not set")
        from aiserve.ratelimit.redis import RedisRateLimiter

        return RedisRateLimiter(redis_url, fail_open=fail_open)
    from aiserve.ratelimit.memory import MemoryRateLimiter

    return MemoryRateLimiter()
