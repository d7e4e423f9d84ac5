"""Deny by default: a pure ASGI middleware that lets a request through only with a valid key carrying the scope
its route's policy names (any valid key for a `key` route); a public route needs none. The caller's `Principal` goes
in the request's record.

With authentication turned off (`auth.enabled = false`, for a laptop) every route is open except the admin routes,
which stay closed: nobody could tell who made a key or loaded a model."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from aiserve.api.errors import error_response
from aiserve.api.record import record_of
from aiserve.auth.backend import KeyAuthenticator
from aiserve.errors import AiserveError, Forbidden, Unauthenticated


class AuthMiddleware:
    """401 (with `WWW-Authenticate: Bearer`) without a valid key (`Authorization: Bearer` or `x-api-key`), 403
    without the route's scope."""

    def __init__(self, app: ASGIApp, *, authenticator: KeyAuthenticator | None) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = record_of(scope)
        needed = record.policy.scope
        if needed is None or (self.authenticator is None and needed != "admin"):
            await self.app(scope, receive, send)
            return
        if self.authenticator is None:
            closed = Forbidden("The admin routes are closed while authentication is off (auth.enabled = false).")
            await error_response(closed, api=record.policy.api)(scope, receive, send)
            return
        try:
            principal = await self.authenticator.authenticate(_bearer(scope))
        except AiserveError as exc:  # the key store is away: 503 with Retry-After, never a bare 500
            await error_response(exc, api=record.policy.api)(scope, receive, send)
            return
        if principal is None:
            await error_response(Unauthenticated("Invalid API key"), api=record.policy.api)(scope, receive, send)
            return
        if needed != "key" and not principal.allows(needed):
            refusal = Forbidden(f"This API key lacks the '{needed}' scope that this route needs.")
            await error_response(refusal, api=record.policy.api)(scope, receive, send)
            return
        record.principal = principal
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str:
    """The key: `Authorization: Bearer <key>`, or `x-api-key: <key>` as Anthropic's clients send it."""
    other = ""
    for name, value in scope["headers"]:
        if name == b"authorization":
            kind, _, key = value.decode("latin-1").partition(" ")
            return key.strip() if kind.lower() == "bearer" else ""
        if name == b"x-api-key":
            other = value.decode("latin-1").strip()
    return other
