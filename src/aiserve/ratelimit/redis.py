"""Limits in Redis, shared by every replica: one atomic Lua script checks and counts all of a request's limits in
one round trip, on Redis's own clock so replicas with drifting clocks still agree. A window is a sorted set of its
hits (member `id:weight`, scored by time) beside its running sum; a lease limit is a sorted set of leases scored
by when they lapse (so a crashed replica's leases free themselves); a counter is a number that expires. When Redis
cannot be reached, `fail_open` decides: admit the request (and log an error each time) or refuse it with 503."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiserve.errors import Unavailable
from aiserve.ratelimit.base import HOLD_S, Charge, Decision, Limit, Verdict

log = logging.getLogger(__name__)

_KINDS = {"window": "w", "lease": "l", "counter": "c"}

# Shared by both scripts: `now` in ms, and `used(i, kind, span)` that drops what has lapsed and says what is held.
# Each limit has three keys: KEYS[3i-2] (the set or counter), KEYS[3i-1] (a window's sum) and KEYS[3i] (what running
# requests reserved on it: members `lease:amount`, scored by when they lapse).
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function holding(i)
  local key = KEYS[3 * i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local held = 0
  for _, m in ipairs(redis.call('ZRANGE', key, 0, -1)) do held = held + tonumber(string.match(m, ':(%d+)$')) end
  return held
end
local function used(i, kind, span)
  local key, sum = KEYS[3 * i - 2], KEYS[3 * i - 1]
  if kind == 'w' then
    local old = redis.call('ZRANGEBYSCORE', key, '-inf', now - span)
    if #old > 0 then
      local freed = 0
      for _, m in ipairs(old) do freed = freed + tonumber(string.match(m, ':(%d+)$')) end
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
      redis.call('DECRBY', sum, freed)
    end
    return tonumber(redis.call('GET', sum) or '0') + holding(i)
  elseif kind == 'l' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    return redis.call('ZCARD', key)
  end
  return tonumber(redis.call('GET', key) or '0') + holding(i)
end
local function count(i, kind, span, cost, member, reserve, lease)
  local key, sum = KEYS[3 * i - 2], KEYS[3 * i - 1]
  if reserve > 0 and kind ~= 'l' then
    redis.call('ZADD', KEYS[3 * i], now + HOLD, lease .. ':' .. reserve)
    redis.call('PEXPIRE', KEYS[3 * i], HOLD)
  end
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
""".replace("HOLD", str(int(HOLD_S * 1000)))

# One script does everything, so a request costs one round trip: first it settles what answers finished since the
# last call (A[2] of them: kind, span_ms, cost, lease, reserved each; keys first), then it checks the request's limits
# (kind, limit, span_ms, cost, reserve each; keys after) and counts them if all allow it. A[1] is the request's lease.
# The arguments come as one space-separated string (A): encoding one argument costs the client far less than
# encoding forty. Returns admitted, then for each limit: allowed, remaining, reset_ms, retry_ms.
_SCRIPT = (
    _PRELUDE
    + """
local A = {}
for token in string.gmatch(ARGV[1], '%S+') do A[#A + 1] = token end
local lease, settled = A[1], tonumber(A[2])
for i = 1, settled do
  local a = 5 * i - 2
  local kind, span, cost, owner, reserved = A[a], tonumber(A[a + 1]), tonumber(A[a + 2]), A[a + 3], tonumber(A[a + 4])
  if kind == 'l' then redis.call('ZREM', KEYS[3 * i - 2], owner)
  else
    if reserved > 0 then redis.call('ZREM', KEYS[3 * i], owner .. ':' .. reserved) end
    count(i, kind, span, cost, owner .. ':s' .. i, 0, owner)
  end
end
local base = 2 + 5 * settled
local n = (#A - base) / 5
local out, admitted = {0}, 1
for j = 1, n do
  local i, a = settled + j, base + 5 * j - 4
  local kind, limit, span, cost = A[a], tonumber(A[a + 1]), tonumber(A[a + 2]), tonumber(A[a + 3])
  local reserve = tonumber(A[a + 4])
  local need = math.max(cost, reserve, 1)
  local held = used(i, kind, span)
  local ok = held + need <= limit
  local reset, retry = 0, 0
  if kind == 'w' then
    local newest = redis.call('ZRANGE', KEYS[3 * i - 2], -1, -1, 'WITHSCORES')
    if #newest > 0 then reset = tonumber(newest[2]) + span - now end
    if not ok then
      retry = span
      local hits, freed = redis.call('ZRANGE', KEYS[3 * i - 2], 0, -1, 'WITHSCORES'), 0
      for h = 1, #hits, 2 do
        freed = freed + tonumber(string.match(hits[h], ':(%d+)$'))
        if held - freed + need <= limit then retry = tonumber(hits[h + 1]) + span - now break end
      end
    end
  elseif kind == 'l' then
    if not ok then retry = 1000 end
  else
    local ttl = redis.call('PTTL', KEYS[3 * i - 2])
    reset = ttl > 0 and ttl or span
    if not ok then retry = reset end
  end
  if not ok then admitted = 0 end
  local remaining = limit - held - (ok and math.max(cost, reserve) or 0)
  out[#out + 1] = ok and 1 or 0
  out[#out + 1] = remaining > 0 and remaining or 0
  out[#out + 1] = reset
  out[#out + 1] = retry
end
if admitted == 1 then
  for j = 1, n do
    local i, a = settled + j, base + 5 * j - 4
    local kind = A[a]
    count(i, kind, tonumber(A[a + 2]), tonumber(A[a + 3]), kind == 'l' and lease or lease .. ':' .. j,
          tonumber(A[a + 4]), lease)
  end
end
out[1] = admitted
return out
"""
)


class RedisRateLimiter:
    """The limiter for several replicas. Checks made in the same turn of the event loop go to Redis together in one
    pipeline (each script still runs atomically, so counts stay exact). What a finished answer settles (its tokens,
    its lease) rides on this replica's next check, or is sent on its own after `settle_delay_s` when no check comes:
    one round trip per request, and a slot freed on one replica is free on all within that delay."""

    def __init__(self, url: str, *, fail_open: bool, prefix: str = "aiserve:rl:", settle_delay_s: float = 0.02) -> None:
        from redis.asyncio import Redis

        self._redis: Any = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._sha: str | None = None
        self._fail_open = fail_open
        self._prefix = prefix
        self._settle_delay_s = settle_delay_s
        self._pending: list[tuple[Charge, str]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._batch: list[tuple[list[str], list[str | int], asyncio.Future[Any]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def acquire(self, limits: Sequence[Limit], *, lease: str) -> Verdict:
        """Settle what is pending, then check and count every limit, in the next pipeline to Redis."""
        from redis.exceptions import RedisError

        pending, self._pending = self._pending, []
        keys, args = self._settling(pending, lease)
        for limit in limits:
            keys += self._keys(limit.key)
            args += [_KINDS[limit.kind], limit.limit, _ms(limit.span_s), limit.cost, limit.reserve]
        answer = self._call(keys, args)
        try:
            out = await asyncio.shield(answer)
        except asyncio.CancelledError:  # the caller left: give back a lease it may have been granted
            answer.add_done_callback(lambda done: self._release_if_granted(done, limits, lease))
            raise
        except RedisError as exc:
            self._pending = pending + self._pending
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
        """Queue the answer's costs and lease for the next round trip (no I/O here, so it cannot be interrupted)."""
        self._pending.extend((charge, lease) for charge in charges)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later(), name="ratelimit-settle")

    async def seed(self, key: str, value: int, span_s: float) -> None:
        """Set a counter unless Redis holds it; a failure is logged, not raised."""
        from redis.exceptions import RedisError

        try:
            await self._redis.set(self._prefix + key, value, px=_ms(span_s), nx=True)
        except RedisError as exc:
            log.error("rate limit store unreachable (%s): a quota was not seeded from the ledger", exc)

    async def close(self) -> None:
        """Send what is pending and close the connections."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self._flush()
        await asyncio.gather(*self._sending, return_exceptions=True)
        await self._redis.aclose()

    def _call(self, keys: list[str], args: list[str | int]) -> asyncio.Future[Any]:
        """The script's answer for these keys and arguments, from the pipeline sent at the end of this loop turn."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        self._batch.append((keys, args, answer))
        if len(self._batch) == 1:
            loop.call_soon(self._send_batch)
        return answer

    def _send_batch(self) -> None:
        batch, self._batch = self._batch, []
        task = asyncio.create_task(self._send(batch), name="ratelimit-pipeline")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[list[str], list[str | int], asyncio.Future[Any]]]) -> None:
        from redis.exceptions import NoScriptError, RedisError

        results: list[Any]
        try:
            results = await self._pipeline(batch)
            missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
            if missing:  # Redis restarted or dropped its scripts: load it again and run only those
                self._sha = None
                again = await self._pipeline([batch[i] for i in missing])
                for i, result in zip(missing, again, strict=True):
                    results[i] = result
        except RedisError as exc:
            results = [exc] * len(batch)
        for (_, _, answer), result in zip(batch, results, strict=True):
            if answer.done():
                continue
            if isinstance(result, Exception):
                answer.set_exception(result)
            else:
                answer.set_result(result)

    async def _pipeline(self, batch: list[tuple[list[str], list[str | int], asyncio.Future[Any]]]) -> list[Any]:
        if self._sha is None:
            self._sha = await self._redis.script_load(_SCRIPT)
        pipe = self._redis.pipeline(transaction=False)
        for keys, args, _ in batch:
            pipe.evalsha(self._sha, len(keys), *keys, " ".join(map(str, args)))
        results: list[Any] = await pipe.execute(raise_on_error=False)
        return results

    def _release_if_granted(self, answer: asyncio.Future[Any], limits: Sequence[Limit], lease: str) -> None:
        if answer.cancelled() or answer.exception() is not None or not answer.result()[0]:
            return
        self._pending.extend((Charge(lim.key, "lease", lim.span_s), lease) for lim in limits if lim.kind == "lease")

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._settle_delay_s)
        await self._flush()

    async def _flush(self) -> None:
        from redis.exceptions import RedisError

        pending, self._pending = self._pending, []
        if not pending:
            return
        keys, args = self._settling(pending, "-")  # no request: a placeholder lease
        try:
            await self._call(keys, args)
        except RedisError as exc:
            log.error("rate limit store unreachable (%s): %d answers' costs were not counted", exc, len(pending))

    def _settling(self, pending: list[tuple[Charge, str]], lease: str) -> tuple[list[str], list[str | int]]:
        keys: list[str] = []
        args: list[str | int] = [lease, len(pending)]
        for charge, owner in pending:
            keys += self._keys(charge.key)
            args += [_KINDS[charge.kind], _ms(charge.span_s), charge.cost, owner, charge.reserved]
        return keys, args

    def _keys(self, name: str) -> list[str]:
        return [self._prefix + name, self._prefix + name + ":sum", self._prefix + name + ":held"]


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)
