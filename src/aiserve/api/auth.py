"""Deny by default: a pure ASGI middleware that lets a request through only with a valid key carrying the scope
its route needs, except on the public paths. The caller's `Principal` is put in the request's state."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from aiserve.api.errors import error_response
from aiserve.auth.backend import KeyAuthenticator
from aiserve.auth.keys import Scope as KeyScope

# the scope a path needs; first match wins, and every other path needs `inference`
_SCOPES: tuple[tuple[str, KeyScope], ...] = (("/v1/admin/", "admin"), ("/v1/usage", "usage:read"))


def required_scope(path: str) -> KeyScope:
    """What a key must carry to call `path`."""
    return next((scope for prefix, scope in _SCOPES if path.startswith(prefix)), "inference")


class AuthMiddleware:
    """401 (with `WWW-Authenticate: Bearer`) without a valid key, 403 without the route's scope."""

    def __init__(self, app: ASGIApp, *, authenticator: KeyAuthenticator, public_paths: list[str]) -> None:
        self.app = app
        self.authenticator = authenticator
        self.public = frozenset(public_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        principal = await self.authenticator.authenticate(_bearer(scope))
        if principal is None:
            response = error_response(401, "Invalid API key", type_="invalid_request_error", code="invalid_api_key",
                                      headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
            await response(scope, receive, send)
            return
        needed = required_scope(scope["path"])
        if not principal.allows(needed):
            message = f"This API key lacks the '{needed}' scope that this route needs."
            await error_response(403, message, type_="permission_error", code="insufficient_scope")(
                scope, receive, send
            )
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            kind, _, key = value.decode("latin-1").partition(" ")
            return key.strip() if kind.lower() == "bearer" else ""
    return ""
