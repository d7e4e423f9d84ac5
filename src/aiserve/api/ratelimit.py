"""Per-key request limits as pure ASGI middleware, inside authentication: every limited response carries
`x-ratelimit-limit-requests`, `x-ratelimit-remaining-requests` and `x-ratelimit-reset-requests`; a refused one is
429 with `Retry-After` and the code `rate_limit_exceeded`."""

from __future__ import annotations

import math

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiserve.api.errors import domain_error_response, error_response
from aiserve.auth.principal import Principal
from aiserve.errors import Unavailable
from aiserve.ratelimit.base import Decision, RateLimiter
from aiserve.settings import RateLimitSettings

WINDOW_S = 60.0


class RateLimitMiddleware:
    """Counts each authenticated request against its key's requests-per-minute limit."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, settings: RateLimitSettings) -> None:
        self.app = app
        self.limiter = limiter
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Principal | None = scope.get("state", {}).get("principal")
        limit = self._limit(principal)
        if principal is None or limit is None:
            await self.app(scope, receive, send)
            return
        try:
            decision = await self.limiter.hit(f"rpm:{principal.key_id}", limit=limit, window_s=WINDOW_S)
        except Unavailable as exc:  # the shared store is away and the operator chose to fail closed
            await domain_error_response(exc)(scope, receive, send)
            return
        headers = _headers(decision)
        if not decision.allowed:
            wait = max(1, math.ceil(decision.retry_after_s))
            message = f"Rate limit reached for requests: {limit} per minute. Try again in {wait} s."
            response = error_response(429, message, type_="requests", code="rate_limit_exceeded",
                                      headers={**headers, "Retry-After": str(wait)})  # fmt: skip
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.encode(), v.encode()) for k, v in headers.items()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _limit(self, principal: Principal | None) -> int | None:
        if principal is None or (self.settings.exempt_admin and "admin" in principal.scopes):
            return None
        return principal.requests_per_minute or self.settings.requests_per_minute


def _headers(decision: Decision) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(decision.limit),
        "x-ratelimit-remaining-requests": str(decision.remaining),
        "x-ratelimit-reset-requests": f"{max(decision.reset_s, 0):.3f}s",
    }
