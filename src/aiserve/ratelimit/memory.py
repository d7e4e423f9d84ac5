"""Exact limits in process memory, for one server: each window keeps its hits (time and weight) and their sum, so a
limit holds to the instant (a hit exactly one window old has left it). Memory is bounded: a window holds at most
`limit` hits, and windows, leases and counters idle past their span are dropped."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiserve.ratelimit.base import HOLD_S, Charge, Decision, Limit, Verdict

_SWEEP_S = 60.0


@dataclass
class _Window:
    span: float
    hits: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0

    def prune(self, now: float, span: float) -> None:
        while self.hits and self.hits[0][0] <= now - span:
            self.total -= self.hits.popleft()[1]

    def add(self, now: float, cost: int) -> None:
        if cost > 0:
            self.hits.append((now, cost))
            self.total += cost


class MemoryRateLimiter:
    """The default limiter."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._leases: dict[str, dict[str, float]] = {}
        self._counters: dict[str, tuple[int, float]] = {}
        self._held: dict[str, dict[str, tuple[int, float]]] = {}
        self._last_sweep = clock()

    async def acquire(self, limits: Sequence[Limit], *, lease: str) -> Verdict:
        """Check every limit and count the request if all of them allow it."""
        now = self._clock()
        self._sweep(now)
        decisions = tuple(self._check(limit, now) for limit in limits)
        if all(d.allowed for d in decisions):
            for limit in limits:
                self._count(limit, now, lease)
        return Verdict(decisions)

    async def settle(self, charges: Sequence[Charge], *, lease: str) -> None:
        """Add the answer's costs and give the lease back."""
        now = self._clock()
        for charge in charges:
            if charge.kind == "lease":
                self._leases.get(charge.key, {}).pop(lease, None)
            else:
                if charge.reserved:
                    self._held.get(charge.key, {}).pop(lease, None)
                self._count(Limit("", charge.key, charge.kind, 0, charge.span_s, charge.cost), now, lease)

    async def seed(self, key: str, value: int, span_s: float) -> None:
        """Set the counter unless it is already held."""
        now = self._clock()
        held = self._counters.get(key)
        if held is None or held[1] <= now:
            self._counters[key] = (value, now + span_s)

    async def close(self) -> None:
        """Nothing to release."""

    def _holding(self, key: str, now: float) -> int:
        """What running requests have reserved on `key`."""
        held = self._held.get(key)
        if not held:
            return 0
        for name in [n for n, (_, until) in held.items() if until <= now]:
            del held[name]
        return sum(amount for amount, _ in held.values())

    def _check(self, limit: Limit, now: float) -> Decision:
        need = max(limit.cost, limit.reserve, 1)
        if limit.kind == "window":
            window = self._window(limit)
            window.prune(now, limit.span_s)
            used = window.total + self._holding(limit.key, now)
            reset = window.hits[-1][0] + limit.span_s - now if window.hits else 0.0
            retry = 0.0
            if used + need > limit.limit:
                retry, freed = limit.span_s, 0
                for at, cost in window.hits:  # the hit whose leaving makes room
                    freed += cost
                    if used - freed + need <= limit.limit:
                        retry = at + limit.span_s - now
                        break
        elif limit.kind == "lease":
            held = self._leases.setdefault(limit.key, {})
            for name in [n for n, until in held.items() if until <= now]:
                del held[name]
            used, reset, retry = len(held), 0.0, 1.0  # a lease's end is unknown: suggest a second
        else:
            value, until = self._counters.get(limit.key, (0, now + limit.span_s))
            used = (value if until > now else 0) + self._holding(limit.key, now)
            reset = retry = limit.span_s
        allowed = used + need <= limit.limit
        remaining = max(limit.limit - used - (max(limit.cost, limit.reserve) if allowed else 0), 0)
        return Decision(limit.name, allowed, limit.limit, remaining, max(reset, 0.0), 0.0 if allowed else retry)

    def _count(self, limit: Limit, now: float, lease: str) -> None:
        if limit.reserve > 0 and limit.kind != "lease":
            self._held.setdefault(limit.key, {})[lease] = (limit.reserve, now + HOLD_S)
        if limit.kind == "window":
            self._window(limit).add(now, limit.cost)
        elif limit.kind == "lease":
            self._leases.setdefault(limit.key, {})[lease] = now + limit.span_s
        elif limit.cost > 0:
            value, until = self._counters.get(limit.key, (0, now + limit.span_s))
            self._counters[limit.key] = (value + limit.cost, until) if until > now else (limit.cost, now + limit.span_s)

    def _window(self, limit: Limit) -> _Window:
        window = self._windows.get(limit.key)
        if window is None:
            window = self._windows[limit.key] = _Window(limit.span_s)
        return window

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < _SWEEP_S:
            return
        self._last_sweep = now
        for key in [k for k, w in self._windows.items() if not w.hits or w.hits[-1][0] <= now - w.span]:
            del self._windows[key]
        for key in [k for k, held in self._leases.items() if not held]:
            del self._leases[key]
        for key in [k for k, held in self._held.items() if not held]:
            del self._held[key]
        for key in [k for k, (_, until) in self._counters.items() if until <= now]:
            del self._counters[key]
