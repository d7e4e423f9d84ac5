"""An exact sliding-window limiter in process memory: each key keeps the times of its admitted requests in the
last window, so the limit holds to the instant (a request exactly one window after the oldest one is admitted).
Memory is bounded: at most `limit` entries per key, and keys idle for a whole window are dropped."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from aiserve.ratelimit.base import Decision


class MemoryRateLimiter:
    """The default limiter, for one server process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._last_sweep = clock()

    async def hit(self, key: str, *, limit: int, window_s: float, cost: int = 1) -> Decision:
        """Admit and count the request if the last `window_s` seconds hold fewer than `limit - cost + 1` hits."""
        now = self._clock()
        self._sweep(now, window_s)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - window_s:
            hits.popleft()
        if len(hits) + cost <= limit:
            hits.extend([now] * cost)
            reset = hits[0] + window_s - now
            return Decision(True, limit, limit - len(hits), reset, 0.0)
        # the request fits once enough of the oldest hits have left the window
        index = min(len(hits) + cost - limit - 1, len(hits) - 1)
        retry = hits[index] + window_s - now if hits else window_s
        return Decision(False, limit, 0, hits[0] + window_s - now if hits else window_s, retry)

    async def close(self) -> None:
        """Nothing to release."""

    def _sweep(self, now: float, window_s: float) -> None:
        if now - self._last_sweep < window_s:
            return
        self._last_sweep = now
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - window_s]:
            del self._hits[key]
