"""MCP's Streamable HTTP at `POST /mcp`, stateless and answered in JSON: each POST carries one JSON-RPC message and
stands alone, so any replica can answer it and nothing is kept between them.

`/mcp` is an ordinary route of the app: its policy asks for an `inference` key, so authentication, the per-address
limit, the body limit, the request id and the access log treat it as they treat every route, and answer their
refusals (401, 403, 413, 429 with `Retry-After`) in the app's own error shape, before MCP sees the message.
`McpToolPolicies` then reads the message: a `tools/call` takes its tool's policy and the route name `mcp/<tool>`,
so the rate limiter counts it, and the ledger, the metrics and the access log record it, as one request to that
tool. MCP's other messages (`initialize`, `tools/list`, `resources/read`...) keep `/mcp`'s policy: they need a key
but run no model, so they are not metered, as listing `/v1/models` is not."""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager

import orjson
from fastapi import APIRouter
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aiserve.api.deps import Services
from aiserve.api.errors import error_response
from aiserve.api.mcp.tools import TOOL_POLICIES, build_server, tool_status
from aiserve.api.policy import policy
from aiserve.api.record import record_of
from aiserve.errors import AiserveError, PayloadTooLarge

PATH = "/mcp"


class McpEndpoint:
    """The MCP server on the app: its route, and the SDK's session manager, which the app's lifespan runs."""

    def __init__(self, services: Services) -> None:
        server = build_server(services)
        # The SDK's Host/Origin check guards servers without keys against DNS rebinding; this one sits behind the
        # app's keys and its proxy settings, like every other route.
        server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            max_request_body_size=services.settings.server.max_body_bytes,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._manager = server.session_manager
        self.router = APIRouter(tags=["mcp"])
        manager = self._manager

        @self.router.post(PATH, include_in_schema=False)
        @policy("inference")
        async def mcp() -> Response:
            """One MCP message in, its answer out (GET and DELETE: 405, a stateless server has no stream or session
            to open or end)."""
            return _Exchange(manager)

    def running(self) -> AbstractAsyncContextManager[None]:
        """Run the session manager (its task group serves the tool calls) for as long as the app runs."""
        logging.getLogger("mcp").setLevel(logging.WARNING)  # the SDK's lines per message repeat the access log
        return self._manager.run()


class _Exchange(Response):
    """Hands the request to the SDK, which reads the body and writes the answer itself."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        super().__init__()
        self._manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._manager.handle_request(scope, receive, send)


class McpToolPolicies:
    """Pure ASGI middleware inside authentication and outside the rate limiter: a POST to `/mcp` that calls a tool
    takes that tool's policy and route name, and once answered, the status the tool's route would have answered
    with (a tool's error is a 200 carrying `isError`; the ledger keeps its 4xx)."""

    def __init__(self, app: ASGIApp, *, max_prompt_bytes: int) -> None:
        self.app = app
        self.max_prompt_bytes = max_prompt_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or record_of(scope).route != PATH:
            await self.app(scope, receive, send)
            return
        record = record_of(scope)
        try:
            body = await _body(receive)
        except AiserveError as exc:  # over the body limit, with no Content-Length to refuse it by
            await error_response(exc, headers={"Connection": "close"}, api=record.policy.api)(scope, receive, send)
            return
        if body is None:  # the client left
            return
        name = _tool_called(body)
        chosen = TOOL_POLICIES.get(name) if name else None
        if chosen is not None and chosen.prompt and len(body) > self.max_prompt_bytes:
            # refused before MCP reads it, as a route for prompts refuses such a body: not metered
            too_large = PayloadTooLarge(f"The request body is over the limit of {self.max_prompt_bytes} bytes.")
            await error_response(too_large, api=record.policy.api)(scope, receive, send)
            return
        if chosen is not None:
            record.route, record.policy = f"mcp/{name}", chosen
        await self.app(scope, _replay(body, receive), send)
        if chosen is not None and 200 <= record.status < 300:
            # a failed tool answers 200 with `isError`; the ledger keeps the status its route would have answered
            # (400 when the SDK refused the call's arguments and the tool never ran)
            record.status = tool_status(scope) or 400


async def _body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body again, for the SDK to read; then what the client sends next (its disconnect)."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _tool_called(body: bytes) -> str | None:
    """The tool a JSON-RPC `tools/call` request names; None for any other message or a body that is not one."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict) or message.get("method") != "tools/call" or "id" not in message:
        return None
    params = message.get("params")
    name = params.get("name") if isinstance(params, dict) else None
    return name if isinstance(name, str) else None
