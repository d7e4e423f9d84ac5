"""What every rate limiter answers: whether a request fits all of its limits at once, and where each one stands.

A request is checked against several limits in one atomic step (`acquire`): sliding windows (requests or tokens
per minute), concurrency leases and counters (monthly quotas). It is admitted only if it fits all of them, and only
then is anything counted. What is known only after the answer (its tokens) and the lease it held are settled
afterwards (`settle`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Kind = Literal["window", "lease", "counter"]
"""`window`: a sliding window of weighted hits; `lease`: requests in flight; `counter`: a total until it expires."""


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit a request must fit: it is admitted if `used + held + max(cost, reserve, 1) <= limit`, where `held`
    is what running requests reserved; then `cost` is counted and `reserve` held until settled.

    A cost of 0 without a reserve admits while anything is left."""

    name: str
    """What is limited, e.g. `requests` or `monthly_tokens`."""
    key: str
    """Where the store keeps it."""
    kind: Kind
    limit: int
    span_s: float
    """The window's length, the longest a lease is held, or the counter's lifetime."""
    cost: int = 1
    reserve: int = 0
    """Held back until the answer is settled (its worst case, e.g. prompt plus `max_tokens`), so requests running
    at the same time cannot together pass the limit: admitted only if `used + held + reserve <= limit`."""


@dataclass(frozen=True, slots=True)
class Decision:
    """Where one limit stands after the check."""

    name: str
    allowed: bool
    limit: int
    remaining: int
    """What is still allowed after this request."""
    reset_s: float
    """Seconds until the limit is back to its full value (`x-ratelimit-reset-*`)."""
    retry_after_s: float
    """Seconds until this request would fit (0 when it did)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decisions on every limit of one request; it was admitted if every one allowed it."""

    decisions: tuple[Decision, ...]

    @property
    def allowed(self) -> bool:
        """Whether the request was admitted (and counted)."""
        return all(d.allowed for d in self.decisions)

    @property
    def refusal(self) -> Decision | None:
        """The refusing decision that frees last (the one the caller must wait for), if any."""
        refused = [d for d in self.decisions if not d.allowed]
        return max(refused, key=lambda d: d.retry_after_s) if refused else None

    def get(self, name: str) -> Decision | None:
        """The decision on the limit called `name`."""
        return next((d for d in self.decisions if d.name == name), None)


@dataclass(frozen=True, slots=True)
class Charge:
    """What to settle once an answer is done: `cost` more in a window or counter, or a lease given back."""

    key: str
    kind: Kind
    span_s: float
    cost: int = 0
    reserved: int = 0
    """The reservation this answer held on the limit: given back as its cost is counted."""


HOLD_S = 600.0
"""The longest a reservation is held: one whose replica died frees itself after this."""


class RateLimiter(Protocol):
    """Limits shared by whatever sees the same store."""

    async def acquire(self, limits: Sequence[Limit], *, lease: str) -> Verdict:
        """Check every limit; if all allow the request, count it (holding `lease` on lease limits)."""
        ...

    async def settle(self, charges: Sequence[Charge], *, lease: str) -> None:
        """Count what the answer cost and give back `lease`."""
        ...

    async def seed(self, key: str, value: int, span_s: float) -> None:
        """Set a counter the store does not hold (a quota's total so far, from the ledger)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
