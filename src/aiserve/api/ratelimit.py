"""Per-key limits and quotas as pure ASGI middleware, inside authentication, for the routes whose policy says they
are metered (listings, usage reports and admin routes never are, so a key that has spent its limit can still look at
its usage). A request is checked against all of its key's limits in one step (token limits only where the route's
answers cost tokens); every limited response carries `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`
and a refusal is 429 with `Retry-After` and the code `rate_limit_exceeded` (requests, tokens, requests in flight)
or `insufficient_quota` (a monthly quota). Once the answer is done, its tokens are counted and its slot freed."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiserve.api.errors import error_response
from aiserve.api.policy import Api
from aiserve.api.record import RequestRecord, record_of
from aiserve.auth.principal import Principal
from aiserve.errors import InvalidInput, QuotaExceeded, RateLimited, Unavailable
from aiserve.ratelimit import policy
from aiserve.ratelimit.base import Decision, Limit, RateLimiter, Verdict
from aiserve.settings import RateLimitSettings
from aiserve.usage.tables import utcnow

_PLAN_TTL = timedelta(seconds=1)
_MAX_PLANS = 10_000

MonthToDate = Callable[[int, datetime], Awaitable[tuple[int, int]]]
"""(key id, month start) → (requests, tokens) the ledger holds for the key this month."""


class RateLimitMiddleware:
    """Admits each authenticated request only if it fits its key's limits."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: RateLimiter,
        settings: RateLimitSettings,
        month_to_date: MonthToDate | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.settings = settings
        self.defaults = policy.defaults(settings)
        self.month_to_date = month_to_date
        self._seeded: set[str] = set()
        self._plans: dict[tuple[int, bool], tuple[Principal, policy.Plan, datetime]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = record_of(scope)
        principal = record.principal
        exempt = principal is not None and self.settings.exempt_admin and "admin" in principal.scopes
        if principal is None or not record.policy.metered or exempt:
            await self.app(scope, receive, send)
            return
        now = utcnow()
        plan = self._plan(principal, now, tokens=record.policy.uses_tokens)
        if not plan.limits:
            await self.app(scope, receive, send)
            return
        ticket = _Ticket(self.limiter, plan, self.settings.tokens_per_image)
        try:
            await self._seed(principal.key_id, plan, now)
            verdict = await self.limiter.acquire(plan.limits, lease=ticket.lease)
        except Unavailable as exc:  # the shared store is away and the operator chose to fail closed
            await error_response(exc, api=record.policy.api)(scope, receive, send)
            return
        named = _headers(verdict)
        if verdict.refusal is not None:
            await _refuse(verdict.refusal, named, record.policy.api)(scope, receive, send)
            return
        if plan.reservation(1):
            record.reserver = ticket.reserve
        headers = [(k.encode(), v.encode()) for k, v in named.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        cancelled = False
        try:
            await self.app(scope, receive, send_with_headers)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:  # a cancelled request (shielded from a second cancel) still frees its slot and counts
            settling = ticket.settle(record)
            await (asyncio.shield(settling) if cancelled else settling)

    def _plan(self, principal: Principal, now: datetime, *, tokens: bool) -> policy.Plan:
        """The key's plan (with or without its token limits), made again when its principal is checked again,
        each second and each month."""
        cached = self._plans.get((principal.key_id, tokens))
        if cached is not None and cached[0] is principal and now < cached[2]:
            return cached[1]
        limits = principal.limits.over(self.defaults)
        plan = policy.plan(principal.key_id, limits, lease_s=self.settings.lease_s, now=now, tokens=tokens)
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        self._plans[(principal.key_id, tokens)] = (principal, plan, min(now + _PLAN_TTL, policy.month(now)[1]))
        return plan

    async def _seed(self, key_id: int, plan: policy.Plan, now: datetime) -> None:
        """Start a limiter that has not seen this key this month (a restart, an emptied Redis) from the ledger."""
        if self.month_to_date is None:
            return
        counters = [c for c in (plan.counter("monthly_requests"), plan.counter("monthly_tokens")) if c is not None]
        if not counters or all(c.key in self._seeded for c in counters):
            return
        requests, tokens = await self.month_to_date(key_id, policy.month(now)[0])
        for counter in counters:
            await self.limiter.seed(counter.key, requests if counter.name == "monthly_requests" else tokens,
                                    counter.span_s)  # fmt: skip
            self._seeded.add(counter.key)


class _Ticket:
    """One admitted request's hold on its key's limits: its lease, what it reserved, and how it is settled."""

    def __init__(self, limiter: RateLimiter, plan: policy.Plan, tokens_per_image: int) -> None:
        self.lease = uuid.uuid4().hex  # never the client's request id: a repeated one must not share a slot
        self._limiter = limiter
        self._plan = plan
        self._tokens_per_image = tokens_per_image
        self._reserved = 0

    async def reserve(self, tokens: int, images: int) -> None:
        """Hold back the request's worst case on its token limits, once, before it runs."""
        amount = tokens + images * self._tokens_per_image
        if amount <= 0 or self._reserved:
            return
        held = await self._limiter.acquire(self._plan.reservation(amount), lease=self.lease)
        refusal = held.refusal
        if refusal is not None:
            if amount > refusal.limit:  # it could never fit: waiting would not help
                span = "a month" if refusal.name in policy.QUOTAS else "a minute"
                raise InvalidInput(
                    f"This request may use up to {amount} tokens, more than this API key may use in {span} "
                    f"({refusal.limit}); send less, or ask for fewer tokens (max_tokens)."
                )
            raise _refusal(refusal)
        self._reserved = amount

    async def settle(self, record: RequestRecord) -> None:
        """Count what the answer used (giving back what was reserved) and free the slot."""
        tokens = policy.token_cost(input_tokens=record.input_tokens, output_tokens=record.output_tokens,
                                   images=record.images, tokens_per_image=self._tokens_per_image)  # fmt: skip
        charges = self._plan.charges(tokens, reserved=self._reserved)
        if charges:
            await self._limiter.settle(charges, lease=self.lease)


def _refusal(refusal: Decision) -> RateLimited:
    """The error for a limit that refused a request."""
    wait = max(1, math.ceil(refusal.retry_after_s))
    if refusal.name in policy.QUOTAS:
        what = "requests" if refusal.name == "monthly_requests" else "tokens"
        message = (f"You have used this month's quota of {refusal.limit} {what} for this API key; it renews at the "
                   "start of next month (UTC).")  # fmt: skip
        return QuotaExceeded(message, limit=refusal.name, retry_after=wait)
    if refusal.name == "concurrent":
        message = f"Too many requests in flight for this API key: at most {refusal.limit} at once. Try again shortly."
    else:
        message = f"Rate limit reached for {refusal.name}: {refusal.limit} per minute. Try again in {wait} s."
    return RateLimited(message, limit=refusal.name, retry_after=wait)


def _refuse(refusal: Decision, headers: dict[str, str], api: Api) -> Response:
    return error_response(_refusal(refusal), headers=headers, api=api)


def _headers(verdict: Verdict) -> dict[str, str]:
    headers = {}
    for name in ("requests", "tokens"):
        decision = verdict.get(name)
        if decision is not None:
            headers[f"x-ratelimit-limit-{name}"] = str(decision.limit)
            headers[f"x-ratelimit-remaining-{name}"] = str(decision.remaining)
            headers[f"x-ratelimit-reset-{name}"] = f"{max(decision.reset_s, 0):.3f}s"
    return headers


class AddressLimitMiddleware:
    """Requests per minute per client address, before any key is checked (public paths are not counted)."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, per_minute: int) -> None:
        self.app = app
        self.limiter = limiter
        self.per_minute = per_minute

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or record_of(scope).policy.scope is None or not client:
            await self.app(scope, receive, send)
            return
        limit = Limit("requests", f"ip:{client[0]}", "window", self.per_minute, policy.WINDOW_S)
        try:
            verdict = await self.limiter.acquire([limit], lease=uuid.uuid4().hex)
        except Unavailable as exc:
            await error_response(exc, api=record_of(scope).policy.api)(scope, receive, send)
            return
        refusal = verdict.refusal
        if refusal is not None:
            wait = max(1, math.ceil(refusal.retry_after_s))
            message = f"Too many requests from your address: {self.per_minute} per minute. Try again in {wait} s."
            limited = RateLimited(message, limit="requests", retry_after=wait)
            await error_response(limited, api=record_of(scope).policy.api)(scope, receive, send)
            return
        await self.app(scope, receive, send)
