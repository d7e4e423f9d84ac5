"""The relay behind `aiserve mcp`: an MCP server on stdio that answers with what a server's `/mcp` answers, reached
over HTTP (a running server) or in process (one built here). It reads a `path` given to `classify_image` and sends
the image, and turns the server's HTTP refusals into answers a host shows."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server

from aiserve import __version__
from aiserve.settings import Settings

Endpoint = tuple[str, httpx2.AsyncBaseTransport]
"""Where a server's `/mcp` is, and the transport that reaches it."""

MAX_FILE_BYTES = 64 * 1024 * 1024
"""A file past this is refused here, before it is read (the server's body limit is smaller still)."""
_READY_WAIT_S = 300.0


@asynccontextmanager
async def remote(base_url: str) -> AsyncIterator[Endpoint]:
    """A running server's `/mcp`."""
    yield f"{base_url}/mcp", httpx2.AsyncHTTPTransport()


@asynccontextmanager
async def local(settings: Settings) -> AsyncIterator[Endpoint]:
    """The server built and started in this process, as `aiserve serve` would, once its models are warm (or after
    five minutes: a model that failed answers its tool calls with why)."""
    from aiserve.app import create_app

    app = create_app(settings)
    transport = httpx2.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        async with httpx2.AsyncClient(transport=transport, base_url="http://aiserve") as http:
            with anyio.move_on_after(_READY_WAIT_S):
                while (await http.get("/ready")).status_code != 200:
                    await anyio.sleep(0.2)
        yield "http://aiserve/mcp", transport


async def relay(endpoint: AbstractAsyncContextManager[Endpoint], headers: dict[str, str], where: str) -> None:
    """Serve stdio until the host closes it, relaying each message to the endpoint. Stdout is taken for the host
    first: what loads or logs afterwards cannot write to it."""
    async with stdio_server() as (read, write), endpoint as (url, transport):
        timeout = httpx2.Timeout(30.0, read=None)  # an answer takes as long as the server allows
        async with (
            httpx2.AsyncClient(transport=_Refusals(transport, where), headers=headers, timeout=timeout) as http,
            streamable_http_client(url, http_client=http) as (remote_read, remote_write),
            ClientSession(remote_read, remote_write) as session,
        ):
            started = await session.initialize()
            server = _server(session, started.instructions)
            await server.run(read, write, server.create_initialization_options())


def first_error(group: BaseExceptionGroup[BaseException]) -> str:
    """What went wrong, from the first error inside nested exception groups."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    message = getattr(error, "message", None)
    return message if isinstance(message, str) else f"{type(error).__name__}: {error}"


def _server(session: ClientSession, instructions: str | None) -> Server[Any]:
    """A server that answers with what the session's server answers."""

    async def list_tools(_: ServerRequestContext, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return await session.list_tools(params=params)

    async def call_tool(_: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        arguments = dict(params.arguments or {})
        if params.name == "classify_image" and isinstance(arguments.get("path"), str):
            try:
                arguments["image"] = image_of(Path(arguments.pop("path")))
            except (OSError, ValueError) as exc:
                return types.CallToolResult(content=[types.TextContent(text=str(exc))], is_error=True)
        return await session.call_tool(params.name, arguments)

    async def list_resources(
        _: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await session.list_resources(params=params)

    async def read_resource(
        _: ServerRequestContext, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        return await session.read_resource(params.uri)

    return Server(
        "aiserve",
        version=__version__,
        instructions=instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
    )


def image_of(path: Path) -> str:
    """A file's bytes in base64, for `classify_image`'s `image`."""
    path = path.expanduser()
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ValueError(f"No such file: {path}") from None
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path} is {size} bytes; an image may have at most {MAX_FILE_BYTES}.")
    return base64.b64encode(path.read_bytes()).decode()


class _Refusals(httpx2.AsyncBaseTransport):
    """Turns the server's refusals (a missing or wrong key, a spent limit, a body too large) and an unreachable
    server into answers a host shows: a failed tool call with the reason for `tools/call`, a JSON-RPC error with the
    reason for any other request. (The SDK's client reports each as "Server returned an error response".)"""

    def __init__(self, inner: httpx2.AsyncBaseTransport, where: str) -> None:
        self._inner = inner
        self._where = where

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """The server's answer, or the answer that tells why there is none."""
        try:
            response = await self._inner.handle_async_request(request)
        except httpx2.TransportError as exc:
            away = f"Cannot reach the server at {self._where} ({type(exc).__name__}). Is `aiserve serve` running?"
            answer = _answer(request, away, 503)
            if answer is None:
                raise
            return answer
        if response.status_code < 400:
            return response
        await response.aread()
        reason = _reason(response)
        return (_answer(request, reason, response.status_code) if reason else None) or response

    async def aclose(self) -> None:
        """Close the transport beneath."""
        await self._inner.aclose()


def _reason(response: httpx2.Response) -> str | None:
    """The message of aiserve's error body, with the wait a refusal asks for; None for any other body (a JSON-RPC
    error from the MCP layer, which the SDK reads itself)."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) and "jsonrpc" not in body else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str):
        return None
    if response.status_code == 401:
        return f"{message}: pass --api-key to `aiserve mcp` or set AISERVE_API_KEY."
    wait = response.headers.get("retry-after")
    if wait and "Try again" not in message:
        return f"{message} Try again in {math.ceil(float(wait))} s."
    return message


def _answer(request: httpx2.Request, reason: str, status: int) -> httpx2.Response | None:
    """The answer to the JSON-RPC request `request` carried: a failed tool call, or an error; None for a
    notification, which gets none."""
    try:
        message = json.loads(request.content)
    except ValueError:
        return None
    if not isinstance(message, dict) or "id" not in message:
        return None
    if message.get("method") == "tools/call":
        result = {"content": [{"type": "text", "text": reason}], "isError": True}
        return httpx2.Response(200, json={"jsonrpc": "2.0", "id": message["id"], "result": result})
    error = {"code": -32000, "message": reason, "data": {"status": status}}
    return httpx2.Response(status, json={"jsonrpc": "2.0", "id": message["id"], "error": error})
