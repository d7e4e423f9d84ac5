"""aiserve's MCP server through the official `mcp` client, as MCP hosts use it: over Streamable HTTP against a real
`aiserve serve`, and over stdio through `aiserve mcp` (relaying to that server with a key, or `--local`, serving in
its own process). The tools and the models resource are listed, each tool answers right, a failing tool says why,
and the server's refusals (a spent limit, a wrong key, no server at all) reach the host as reasons."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import httpx
import httpx2
import pytest
import skimage
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent, TextResourceContents

from aiserve.bench.server import ServerProcess, free_port
from tests.e2e.conftest import own_home, user_key
from tests.e2e.test_cli import aiserve

pytestmark = pytest.mark.e2e

ADMIN = "sk-mcp-e2e-admin-" + "e" * 32
COFFEE = Path(skimage.__file__).parent / "data" / "coffee.png"
TOOLS = {"classify_image", "embed", "chat", "rerank"}
FRANCE = [{"role": "system", "content": "Answer in one short sentence."},
          {"role": "user", "content": "What is the capital of France?"}]  # fmt: skip


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(["--data-dir", str(own_home(data_dir, tmp_path_factory, "mcp"))], api_key=ADMIN) as proc:
        yield proc


def key_for(server: ServerProcess, user: str, **limits: int) -> str:
    with httpx.Client(base_url=server.url) as http:
        return user_key(http, ADMIN, user, limits)["Authorization"].removeprefix("Bearer ")


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(main(), 240))


@asynccontextmanager
async def over_http(server: ServerProcess, key: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def over_stdio(errors: TextIO, *args: str) -> AsyncIterator[ClientSession]:
    """`aiserve mcp ARGS` started as a host starts it, its stderr in `errors`."""
    relay = StdioServerParameters(command=sys.executable, args=["-m", "aiserve", "mcp", *args], env=dict(os.environ))
    async with stdio_client(relay, errlog=errors) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def text_of(result: CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text


async def answer(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured answer, which must not be an error."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    structured: dict[str, Any] | None = result.structured_content
    assert structured is not None
    return structured


async def failure(session: ClientSession, tool: str, **arguments: Any) -> str:
    """Why a tool call failed, which it must."""
    result = await session.call_tool(tool, arguments)
    assert result.is_error, result
    return text_of(result)


async def models_listed(session: ClientSession) -> list[str]:
    assert [str(r.uri) for r in (await session.list_resources()).resources] == ["aiserve://models"]
    contents = (await session.read_resource("aiserve://models")).contents[0]
    assert isinstance(contents, TextResourceContents)
    return [card["id"] for card in json.loads(contents.text)["data"]]


def test_every_tool_and_the_models_resource_over_streamable_http(server: ServerProcess) -> None:
    key = key_for(server, "http")

    async def main() -> None:
        async with over_http(server, key) as session:
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            assert set(tools) == TOOLS
            assert all(tool.output_schema and tool.description for tool in tools.values())
            assert {"image", "path", "model", "top_k"} <= set(tools["classify_image"].input_schema["properties"])
            image = base64.b64encode(COFFEE.read_bytes()).decode()
            classified = await answer(session, "classify_image", image=image, top_k=3)
            assert classified["model"] == "efficientnet-lite0"
            assert classified["predictions"][0]["label"] == "espresso"
            assert len(classified["predictions"]) == 3
            embedded = await answer(session, "embed", texts=["a cup of coffee", "an espresso"])
            assert embedded["model"] == "all-minilm-l6-v2"
            assert [len(vector) for vector in embedded["embeddings"]] == [384, 384]
            said = await answer(session, "chat", messages=FRANCE, temperature=0, max_tokens=24)
            assert "Paris" in said["text"]
            assert said["model"] == "smollm2-135m-instruct"
            assert said["output_tokens"] > 0
            short = await answer(session, "chat", prompt="Count to one hundred.", max_tokens=4)
            assert short["finish_reason"] == "length"
            ranked = await answer(session, "rerank", query="What is the capital of France?",
                                  documents=["Bananas are yellow.", "Paris is the capital of France."])  # fmt: skip
            assert [r["index"] for r in ranked["results"]] == [1, 0]
            assert "Invalid image" in await failure(session, "classify_image", image="bm90IGFuIGltYWdl")
            assert "does not exist" in await failure(session, "embed", texts=["hi"], model="no-such-model")
            assert "either `prompt` or `messages`" in await failure(session, "chat", max_tokens=4)
            assert set(await models_listed(session)) == {"all-minilm-l6-v2", "efficientnet-lite0",
                                                         "smollm2-135m-instruct", "minilm-rerank"}  # fmt: skip

    run(main)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as http:
        deadline = time.monotonic() + 10  # the ledger is written in batches
        while (usage := http.get("/v1/usage").json())["total_requests"] < 8 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert (usage["total_requests"], usage["successful_requests"], usage["images"]) == (8, 5, 1)  # tool calls only


def test_stdio_relays_to_the_running_server_and_reads_a_path_itself(server: ServerProcess, tmp_path: Path) -> None:
    errors = (tmp_path / "relay.log").open("w")

    async def main() -> None:
        async with over_stdio(errors, "--url", server.url, "--api-key", key_for(server, "stdio")) as session:
            assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS
            classified = await answer(session, "classify_image", path=str(COFFEE))
            assert classified["predictions"][0]["label"] == "espresso"
            assert "No such file" in await failure(session, "classify_image", path=str(tmp_path / "missing.png"))
            embedded = await answer(session, "embed", texts=["hello"])
            assert len(embedded["embeddings"][0]) == 384
            assert "efficientnet-lite0" in await models_listed(session)
        async with over_stdio(errors, "--url", server.url, "--api-key", key_for(server, "few", requests_per_minute=1)
                              ) as session:  # fmt: skip
            await answer(session, "embed", texts=["the one request of the minute"])
            reason = await failure(session, "embed", texts=["one too many"])
            assert "Rate limit reached for requests: 1 per minute" in reason
            assert "Try again in" in reason

    try:
        run(main)
    finally:
        errors.close()


def test_stdio_refuses_to_start_with_a_wrong_key_or_without_a_server(server: ServerProcess) -> None:
    wrong = aiserve("mcp", "--url", server.url, "--api-key", "sk-wrong")
    assert wrong.returncode == 1
    assert "Invalid API key: pass --api-key to `aiserve mcp` or set AISERVE_API_KEY." in wrong.stderr
    away = aiserve("mcp", "--url", f"http://127.0.0.1:{free_port()}", "--api-key", "sk-any")
    assert away.returncode == 1
    assert "Is `aiserve serve` running?" in away.stderr
    assert "Traceback" not in wrong.stderr + away.stderr


def test_stdio_local_loads_the_models_itself(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = own_home(data_dir, tmp_path_factory, "mcp-local")
    errors = (home / "relay.log").open("w")

    async def main() -> None:
        async with over_stdio(errors, "--local", "--data-dir", str(home), "--model", "efficientnet-lite0") as session:
            assert await models_listed(session) == ["efficientnet-lite0"]
            classified = await answer(session, "classify_image", path=str(COFFEE), top_k=1)
            assert classified["predictions"][0]["label"] == "espresso"
            assert "does not exist" in await failure(session, "embed", texts=["no embedding model here"])

    try:
        run(main)
    finally:
        errors.close()
