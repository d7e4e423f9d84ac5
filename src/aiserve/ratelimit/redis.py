"""A sliding-window limiter in Redis, shared by every replica: one atomic Lua script per request (one round trip),
on Redis's own clock so replicas with drifting clocks still agree. Each key is a sorted set of its admitted
requests in the last window; it expires when idle. When Redis cannot be reached, `fail_open` decides: admit the
request (and log an error each time) or refuse it with 503."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from aiserve.errors import Unavailable
from aiserve.ratelimit.base import Decision

log = logging.getLogger(__name__)

# KEYS[1]: the window's sorted set. ARGV: window_ms, limit, cost, member. Returns allowed, remaining, reset_ms,
# retry_ms. A hit exactly one window old has left the window (as in the in-memory limiter).
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, limit, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n + cost <= limit then
  for i = 1, cost do redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. i) end
  redis.call('PEXPIRE', KEYS[1], window)
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, limit - n - cost, tonumber(oldest[2]) + window - now, 0}
end
if n == 0 then return {0, 0, window, window} end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local i = math.min(n + cost - limit - 1, n - 1)
local freeing = redis.call('ZRANGE', KEYS[1], i, i, 'WITHSCORES')
return {0, 0, tonumber(oldest[2]) + window - now, tonumber(freeing[2]) + window - now}
"""


class RedisRateLimiter:
    """The limiter for several replicas."""

    def __init__(self, url: str, *, fail_open: bool, prefix: str = "aiserve:rl:") -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self._redis.register_script(_SCRIPT)
        self._fail_open = fail_open
        self._prefix = prefix

    async def hit(self, key: str, *, limit: int, window_s: float, cost: int = 1) -> Decision:
        """Count the request in Redis if it fits; the verdict."""
        from redis.exceptions import RedisError

        try:
            allowed, remaining, reset_ms, retry_ms = await self._script(
                keys=[self._prefix + key], args=[int(window_s * 1000), limit, cost, uuid.uuid4().hex]
            )
        except RedisError as exc:
            if not self._fail_open:
                log.error("rate limit store unreachable (%s): refusing requests (ratelimit.fail_open is false)", exc)
                raise Unavailable("The rate limit store is unreachable; try again shortly.", retry_after=1.0) from None
            log.error("rate limit store unreachable (%s): admitting requests unlimited (ratelimit.fail_open)", exc)
            return Decision(True, limit, limit, window_s, 0.0)
        return Decision(bool(allowed), limit, int(remaining), int(reset_ms) / 1000, int(retry_ms) / 1000)

    async def close(self) -> None:
        """Close the connections."""
        await self._redis.aclose()
