"""`/mcp` in process, message by message as JSON-RPC: it needs a key like any route, and answers a missing or wrong
one, a spent limit and an oversized body in the app's error shape before MCP reads anything; each tool call is one
request to its tool in the limiter, the ledger and the metrics (`mcp/<tool>`, with the status its route would have
answered), while MCP's own messages are never metered; and what is not a tool call it can run (not JSON, a batch,
a huge list, an unknown tool) is refused without harm."""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import MakeSettings
from tests.integration.conftest import running_app
from tests.integration.test_chat_images import jpeg

pytestmark = pytest.mark.integration

ADMIN = "sk-test-mcp-admin-" + "m" * 32
MAX_BODY = 400_000
MAX_PROMPT = 100_000
ACCEPT = {"Accept": "application/json, text/event-stream"}


class Home:
    """The app and where its ledger is."""

    def __init__(self, client: TestClient, database: Path) -> None:
        self.client = client
        self.database = database

    def key(self, user: str, **limits: int) -> tuple[int, dict[str, str]]:
        """A new user's key (with `limits`): its id, and headers that carry it."""
        admin = {"Authorization": f"Bearer {ADMIN}"}
        assert self.client.post("/v1/admin/users", json={"name": user}, headers=admin).status_code == 201
        made = self.client.post("/v1/admin/keys", json={"user": user, "limits": limits}, headers=admin)
        assert made.status_code == 201, made.text
        return made.json()["id"], {"Authorization": f"Bearer {made.json()['key']}", **ACCEPT}

    def ledger(self, key_id: int, count: int) -> list[tuple[str, int, str | None, int, int]]:
        """The key's `count` events, oldest first: route, status, model, images, input tokens."""
        deadline = time.monotonic() + 10
        while True:
            with sqlite3.connect(self.database) as db:
                rows = db.execute("SELECT route, status, model, images, input_tokens FROM usage_events "
                                  "WHERE key_id = ? ORDER BY id", (key_id,)).fetchall()  # fmt: skip
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)


@pytest.fixture(scope="module")
def home(make_settings: MakeSettings, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    folder = tmp_path_factory.mktemp("mcp")
    (folder / "models").symlink_to(data_dir / "models")
    settings = make_settings(data_dir=folder, auth={"enabled": True, "bootstrap_key": ADMIN, "cache_s": 0},
                             server={"max_body_bytes": MAX_BODY},
                             models={"enabled": ["all-minilm-l6-v2", "efficientnet-lite0"],
                                     "chat": {"max_body_bytes": MAX_PROMPT}})  # fmt: skip
    with running_app(settings) as client:
        yield Home(client, folder / "aiserve.db")


def rpc(method: str, params: dict[str, Any] | None = None, id_: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, **({"params": params} if params is not None else {})}


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return rpc("tools/call", {"name": name, "arguments": arguments})


def coffee() -> str:
    return base64.b64encode(jpeg()).decode()


def test_protocol_messages_need_a_key_and_are_never_metered_while_tool_calls_are(home: Home) -> None:
    client = home.client
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}):
        refused = client.post("/mcp", json=rpc("tools/list"), headers={**ACCEPT, **headers})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"]["code"] == "invalid_api_key"
    key_id, mine = home.key("protocol", requests_per_minute=1)
    anthropic_style = {"x-api-key": mine["Authorization"].removeprefix("Bearer "), **ACCEPT}
    handshake = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}
    for message in (rpc("initialize", handshake), rpc("tools/list"), rpc("resources/list"),
                    rpc("resources/read", {"uri": "aiserve://models"})) * 2:  # fmt: skip
        answered = client.post("/mcp", json=message, headers=anthropic_style)
        assert answered.status_code == 200, answered.text
        assert "result" in answered.json()
    models = client.post("/mcp", json=rpc("resources/read", {"uri": "aiserve://models"}), headers=mine)
    listed = models.json()["result"]["contents"][0]
    assert listed["mimeType"] == "application/json"
    assert '"id":"efficientnet-lite0"' in listed["text"]
    first = client.post("/mcp", json=call("embed", texts=["one call a minute"]), headers=mine)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-remaining-requests"] == "0"
    second = client.post("/mcp", json=call("embed", texts=["and no more"]), headers=mine)
    assert second.status_code == 429
    assert int(second.headers["retry-after"]) > 0
    assert second.json()["error"]["code"] == "rate_limit_exceeded"
    assert client.post("/mcp", json=rpc("tools/list"), headers=mine).status_code == 200  # listing still works
    assert [row[:2] for row in home.ledger(key_id, 2)] == [("mcp/embed", 200), ("mcp/embed", 429)]


def test_each_tool_call_is_one_request_to_its_tool_with_the_status_its_route_would_answer(home: Home) -> None:
    client = home.client
    key_id, mine = home.key("tools")
    classified = client.post("/mcp", json=call("classify_image", image=coffee(), top_k=3), headers=mine).json()
    assert classified["result"]["structuredContent"]["predictions"][0]["label"] == "espresso"
    embedded = client.post("/mcp", json=call("embed", texts=["hello world", "hi"]), headers=mine).json()
    assert [len(v) for v in embedded["result"]["structuredContent"]["embeddings"]] == [384, 384]
    failures = (
        (call("classify_image", image="not base64!"), "Invalid image"),
        (call("embed", texts=["hi"], model="no-such-model"), "does not exist"),
        (call("embed", texts="not a list"), "valid list"),  # refused by the SDK before the tool runs
        (call("classify_image", path="/etc/passwd"), "`path` is read by `aiserve mcp`"),  # never opened here
        (call("embed", texts=["x"] * 3000), "the limit is 2048"),
    )
    for message, reason in failures:
        failed = client.post("/mcp", json=message, headers=mine)
        assert failed.status_code == 200
        assert failed.json()["result"]["isError"] is True
        assert reason in failed.json()["result"]["content"][0]["text"]
    unknown = client.post("/mcp", json=call("no_such_tool"), headers=mine).json()
    assert unknown["result"]["isError"] is True  # not metered: no model ran
    rows = home.ledger(key_id, 7)
    assert [row[:2] for row in rows] == [("mcp/classify_image", 200), ("mcp/embed", 200), ("mcp/classify_image", 400),
                                         ("mcp/embed", 404), ("mcp/embed", 400), ("mcp/classify_image", 400),
                                         ("mcp/embed", 400)]  # fmt: skip
    assert str(rows[0][2]).startswith("efficientnet-lite0@")
    assert rows[0][3] == 1  # the image it classified
    assert str(rows[1][2]).startswith("all-minilm-l6-v2@")
    assert rows[1][4] > 0
    usage = client.get("/v1/usage", headers=mine).json()
    assert (usage["total_requests"], usage["successful_requests"], usage["images"]) == (7, 2, 1)
    by_route = {row["route"]: (row["requests"], row["successful_requests"]) for row in usage["by_route"]}
    assert by_route == {"mcp/classify_image": (3, 1), "mcp/embed": (4, 1)}  # each tool call under its tool's name
    metrics = client.get("/metrics").text
    assert 'route="mcp/classify_image",status="200"' in metrics
    assert 'route="mcp/embed",status="404"' in metrics


def test_hostile_bodies_are_refused_without_running_a_model(home: Home) -> None:
    client = home.client
    key_id, mine = home.key("hostile")
    huge_image = call("classify_image", image="A" * MAX_BODY)
    refused = client.post("/mcp", json=huge_image, headers=mine)
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
    long_prompt = call("chat", prompt="word " * (MAX_PROMPT // 5))  # under the body limit, over the prompt limit
    refused = client.post("/mcp", json=long_prompt, headers=mine)
    assert refused.status_code == 413
    assert str(MAX_PROMPT) in refused.json()["error"]["message"]
    for body in (b"not json", b'[{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]', b'{"jsonrpc": "2.0"}'):
        broken = client.post("/mcp", content=body, headers={**mine, "Content-Type": "application/json"})
        assert broken.status_code == 400
        assert broken.json()["error"]["code"] in (-32700, -32602)  # JSON-RPC's own error: this is MCP's to answer
    batch = [call("embed", texts=["a"]), call("embed", texts=["b"])]  # JSON-RPC batches are gone from MCP
    assert client.post("/mcp", json=batch, headers=mine).status_code == 400
    assert client.get("/mcp", headers=mine).status_code == 405  # stateless: no stream to open
    assert client.post("/mcp", json=rpc("tools/list"), headers={**mine, "Accept": "text/html"}).status_code == 406
    assert (
        client.post("/mcp", json=call("embed", texts=["still here"]), headers=mine).json()["result"]["isError"] is False
    )
    assert [row[:2] for row in home.ledger(key_id, 1)] == [("mcp/embed", 200)]  # the refused bodies were never read
