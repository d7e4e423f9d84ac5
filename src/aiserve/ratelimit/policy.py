"""Which limits a request must fit and what its answer costs, from a key's limits over the server's defaults."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aiserve.protocol.keys import LIMIT_FIELDS, Limits
from aiserve.ratelimit.base import Charge, Kind, Limit
from aiserve.settings import RateLimitSettings

WINDOW_S = 60.0
QUOTAS = frozenset({"monthly_requests", "monthly_tokens"})
TOKEN_LIMITS = frozenset({"tokens", "monthly_tokens"})
"""Limits whose refusal is `insufficient_quota` rather than `rate_limit_exceeded`."""


def defaults(settings: RateLimitSettings) -> Limits:
    """The server's default limits."""
    return Limits(**{name: getattr(settings, name) for name in LIMIT_FIELDS})


def month(now: datetime) -> tuple[datetime, datetime]:
    """The start of `now`'s calendar month (UTC) and the start of the next."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.month == 12:
        return start, start.replace(year=start.year + 1, month=1)
    return start, start.replace(month=start.month + 1)


def token_cost(*, input_tokens: int, output_tokens: int, images: int, tokens_per_image: int) -> int:
    """What an answer counts as in token limits and quotas."""
    return input_tokens + output_tokens + images * tokens_per_image


@dataclass(frozen=True, slots=True)
class Plan:
    """The limits of one request, and how to settle it."""

    limits: tuple[Limit, ...]

    def reservation(self, tokens: int) -> list[Limit]:
        """The token limits holding back `tokens` (a request's worst case) until it is settled."""
        return [replace(limit, cost=0, reserve=tokens) for limit in self.limits if limit.name in TOKEN_LIMITS]

    def charges(self, tokens: int, *, reserved: int = 0) -> list[Charge]:
        """What to count once the answer used `tokens`: tokens in token limits (giving back what was `reserved`),
        and every lease given back."""
        charges = []
        for limit in self.limits:
            if limit.kind == "lease":
                charges.append(Charge(limit.key, "lease", limit.span_s))
            elif limit.name in TOKEN_LIMITS and (tokens > 0 or reserved > 0):
                charges.append(Charge(limit.key, limit.kind, limit.span_s, tokens, reserved))
        return charges

    def counter(self, name: str) -> Limit | None:
        """The quota counter called `name`, if this request has one."""
        return next((limit for limit in self.limits if limit.name == name), None)


def plan(key_id: int, limits: Limits, *, lease_s: float, now: datetime, tokens: bool = True) -> Plan:
    """The limits a request by key `key_id` must fit (the unset ones do not apply; without `tokens`, for a request
    that uses none, neither do the token limits)."""
    start, end = month(now)
    left = (end - now).total_seconds()
    label = f"{start:%Y-%m}"
    chosen: list[Limit] = []

    def add(name: str, value: int | None, key: str, kind: Kind, span: float, cost: int) -> None:
        if value is not None:
            chosen.append(Limit(name, key, kind, value, span, cost))

    add("requests", limits.requests_per_minute, f"rpm:{key_id}", "window", WINDOW_S, 1)
    if not tokens:
        limits = limits.model_copy(update={"tokens_per_minute": None, "monthly_tokens": None})
    add("tokens", limits.tokens_per_minute, f"tpm:{key_id}", "window", WINDOW_S, 0)
    add("concurrent", limits.max_concurrent, f"inflight:{key_id}", "lease", lease_s, 1)
    add("monthly_requests", limits.monthly_requests, f"mreq:{key_id}:{label}", "counter", left, 1)
    add("monthly_tokens", limits.monthly_tokens, f"mtok:{key_id}:{label}", "counter", left, 0)
    return Plan(tuple(chosen))
