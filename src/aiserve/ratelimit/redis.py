"""Limits in Redis, shared by every replica: one atomic Lua script checks and counts all of a request's limits in
one round trip, on Redis's own clock so replicas with drifting clocks still agree. A window is a sorted set of its
hits (member `id:weight`, scored by time) beside its running sum; a lease limit is a sorted set of leases scored
by when they lapse (so a crashed replica's leases free themselves); a counter is a number that expires. When Redis
cannot be reached, `fail_open` decides: admit the request (and log an error each time) or refuse it with 503."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from aiserve.errors import Unavailable
from aiserve.ratelimit.base import Charge, Decision, Limit, Verdict

log = logging.getLogger(__name__)

_KINDS = {"window": "w", "lease": "l", "counter": "c"}

# Shared by both scripts: `now` in ms, and `used(i, kind, span)` that drops what has lapsed and says what is held.
# Each limit has two keys: KEYS[2i-1] (the set or counter) and KEYS[2i] (a window's sum).
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function used(i, kind, span)
  local key, sum = KEYS[2 * i - 1], KEYS[2 * i]
  if kind == 'w' then
    local old = redis.call('ZRANGEBYSCORE', key, '-inf', now - span)
    if #old > 0 then
      local freed = 0
      for _, m in ipairs(old) do freed = freed + tonumber(string.match(m, ':(%d+)$')) end
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
      redis.call('DECRBY', sum, freed)
    end
    return tonumber(redis.call('GET', sum) or '0')
  elseif kind == 'l' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    return redis.call('ZCARD', key)
  end
  return tonumber(redis.call('GET', key) or '0')
end
local function count(i, kind, span, cost, member)
  local key, sum = KEYS[2 * i - 1], KEYS[2 * i]
  if kind == 'w' and cost > 0 then
    redis.call('ZADD', key, now, member .. ':' .. cost)
    redis.call('INCRBY', sum, cost)
    redis.call('PEXPIRE', key, span)
    redis.call('PEXPIRE', sum, span)
  elseif kind == 'l' then
    redis.call('ZADD', key, now + span, member)
    redis.call('PEXPIRE', key, span)
  elseif kind == 'c' and cost > 0 then
    if redis.call('INCRBY', key, cost) == cost then redis.call('PEXPIRE', key, span) end
  end
end
"""

# ARGV: lease, then kind, limit, span_ms, cost for each limit. Returns admitted, then for each limit: allowed,
# remaining, reset_ms, retry_ms.
_ACQUIRE = (
    _PRELUDE
    + """
local n = (#ARGV - 1) / 4
local out, admitted = {0}, 1
for i = 1, n do
  local kind, limit = ARGV[4 * i - 2], tonumber(ARGV[4 * i - 1])
  local span, cost = tonumber(ARGV[4 * i]), tonumber(ARGV[4 * i + 1])
  local need = math.max(cost, 1)
  local held = used(i, kind, span)
  local ok = held + need <= limit
  local reset, retry = 0, 0
  if kind == 'w' then
    local newest = redis.call('ZRANGE', KEYS[2 * i - 1], -1, -1, 'WITHSCORES')
    if #newest > 0 then reset = tonumber(newest[2]) + span - now end
    if not ok then
      retry = span
      local hits, freed = redis.call('ZRANGE', KEYS[2 * i - 1], 0, -1, 'WITHSCORES'), 0
      for j = 1, #hits, 2 do
        freed = freed + tonumber(string.match(hits[j], ':(%d+)$'))
        if held - freed + need <= limit then retry = tonumber(hits[j + 1]) + span - now break end
      end
    end
  elseif kind == 'l' then
    if not ok then retry = 1000 end
  else
    local ttl = redis.call('PTTL', KEYS[2 * i - 1])
    reset = ttl > 0 and ttl or span
    if not ok then retry = reset end
  end
  if not ok then admitted = 0 end
  local remaining = limit - held - (ok and cost or 0)
  out[#out + 1] = ok and 1 or 0
  out[#out + 1] = remaining > 0 and remaining or 0
  out[#out + 1] = reset
  out[#out + 1] = retry
end
if admitted == 1 then
  for i = 1, n do
    local kind = ARGV[4 * i - 2]
    count(i, kind, tonumber(ARGV[4 * i]), tonumber(ARGV[4 * i + 1]), kind == 'l' and ARGV[1] or ARGV[1] .. ':' .. i)
  end
end
out[1] = admitted
return out
"""
)

# ARGV: lease, a fresh id, then kind, span_ms, cost for each charge.
_SETTLE = (
    _PRELUDE
    + """
for i = 1, (#ARGV - 2) / 3 do
  local kind, span, cost = ARGV[3 * i], tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2])
  if kind == 'l' then redis.call('ZREM', KEYS[2 * i - 1], ARGV[1])
  else count(i, kind, span, cost, ARGV[2] .. ':' .. i) end
end
return 1
"""
)


class RedisRateLimiter:
    """The limiter for several replicas."""

    def __init__(self, url: str, *, fail_open: bool, prefix: str = "aiserve:rl:") -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._settle = self._redis.register_script(_SETTLE)
        self._fail_open = fail_open
        self._prefix = prefix

    async def acquire(self, limits: Sequence[Limit], *, lease: str) -> Verdict:
        """Check and count every limit in one round trip."""
        from redis.exceptions import RedisError

        args: list[str | int] = [lease]
        for limit in limits:
            args += [_KINDS[limit.kind], limit.limit, _ms(limit.span_s), limit.cost]
        try:
            out = await self._acquire(keys=self._keys(limit.key for limit in limits), args=args)
        except RedisError as exc:
            if not self._fail_open:
                log.error("rate limit store unreachable (%s): refusing requests (ratelimit.fail_open is false)", exc)
                raise Unavailable("The rate limit store is unreachable; try again shortly.", retry_after=1.0) from None
            log.error("rate limit store unreachable (%s): admitting requests unlimited (ratelimit.fail_open)", exc)
            return Verdict(tuple(Decision(lim.name, True, lim.limit, lim.limit, lim.span_s, 0.0) for lim in limits))
        decisions = []
        for i, limit in enumerate(limits):
            allowed, remaining, reset_ms, retry_ms = out[1 + 4 * i : 5 + 4 * i]
            decisions.append(Decision(limit.name, bool(allowed), limit.limit, int(remaining), int(reset_ms) / 1000,
                                      int(retry_ms) / 1000))  # fmt: skip
        return Verdict(tuple(decisions))

    async def settle(self, charges: Sequence[Charge], *, lease: str) -> None:
        """Count the answer's costs and give the lease back, in one round trip; a failure is logged, not raised."""
        from redis.exceptions import RedisError

        args: list[str | int] = [lease, uuid.uuid4().hex]
        for charge in charges:
            args += [_KINDS[charge.kind], _ms(charge.span_s), charge.cost]
        try:
            await self._settle(keys=self._keys(charge.key for charge in charges), args=args)
        except RedisError as exc:
            log.error("rate limit store unreachable (%s): an answer's cost was not counted", exc)

    async def seed(self, key: str, value: int, span_s: float) -> None:
        """Set a counter unless Redis holds it; a failure is logged, not raised."""
        from redis.exceptions import RedisError

        try:
            await self._redis.set(self._prefix + key, value, px=_ms(span_s), nx=True)
        except RedisError as exc:
            log.error("rate limit store unreachable (%s): a quota was not seeded from the ledger", exc)

    async def close(self) -> None:
        """Close the connections."""
        await self._redis.aclose()

    def _keys(self, names: Any) -> list[str]:
        return [k for name in names for k in (self._prefix + name, self._prefix + name + ":sum")]


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)
