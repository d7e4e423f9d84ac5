"""Chat against a running server: the official `openai` package, the course's `requests` SSE client, and a
client that leaves mid-answer."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import requests
from openai.types.chat import ChatCompletionMessageParam

from aiserve.bench.server import ServerProcess

pytestmark = pytest.mark.e2e

MODEL = "smollm2-135m-instruct"
FRANCE: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]


def test_openai_sdk_plain_and_streamed(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-unused", max_retries=0)
    plain = client.chat.completions.create(model=MODEL, messages=FRANCE, temperature=0, max_tokens=30)
    answer = plain.choices[0].message.content or ""
    assert "Paris" in answer
    assert plain.usage is not None
    assert plain.usage.completion_tokens > 0
    stream = client.chat.completions.create(
        model=MODEL, messages=FRANCE, temperature=0, max_tokens=30, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(pieces) == answer
    assert usage is not None
    assert usage.total_tokens == plain.usage.total_tokens
    text = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=5, temperature=0)
    assert text.choices[0].text.startswith(" Paris")


def test_course_streaming_client_prints_the_reply_with_its_spaces(server: ServerProcess) -> None:
    body: dict[str, Any] = {"message": "Name three colours.", "temperature": 0, "max_tokens": 40}
    reply = requests.post(f"{server.url}/v1/chat", json=body, timeout=600).json()["reply"]
    printed: list[str] = []
    with requests.post(f"{server.url}/v1/chat/stream", json=body, stream=True, timeout=600) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for raw in response.iter_lines():
            line = raw.decode()
            if line.startswith("data: "):
                data = line[len("data: ") :]
                if data == "[DONE]":
                    break
                printed.append(data)
    assert len(printed) > 3  # one event per token
    assert "".join(printed) == reply.replace("\n", "")
    assert " " in reply


@pytest.fixture(scope="module", params=["1", "hf"], ids=["llama.cpp", "transformers"])
def runtime_server(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[tuple[ServerProcess, str]]:
    """A server with one chat model on each runtime."""
    key = f"{MODEL}@{request.param}"
    with ServerProcess(["--data-dir", str(data_dir), "--model", key]) as proc:
        yield proc, key


def test_a_client_that_leaves_frees_the_model_within_a_step(runtime_server: tuple[ServerProcess, str]) -> None:
    server, key = runtime_server
    story = [{"role": "user", "content": "Write a very long story about a dragon who learns to cook."}]
    body = {"model": MODEL, "messages": story, "max_tokens": 1500, "temperature": 0, "stream": True}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=600) as response:
        for count, _ in enumerate(response.iter_lines()):
            if count >= 6:
                break  # leave after a few tokens
    quick = httpx.post(f"{server.url}/v1/chat/completions", json={"model": MODEL, "messages": FRANCE, "max_tokens": 3},
                       timeout=600)  # fmt: skip
    assert quick.status_code == 200

    def generations(reason: str) -> float:
        text = httpx.get(f"{server.url}/metrics").text
        found = re.search(rf'^aiserve_generations_total{{model="{key}",reason="{reason}"}} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    deadline = time.monotonic() + 30
    while generations("cancelled") < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert generations("cancelled") == 1
    tokens = re.search(
        rf'^aiserve_generated_tokens_total{{model="{key}"}} (\S+)$', httpx.get(f"{server.url}/metrics").text, re.M
    )
    assert tokens is not None
    assert float(tokens.group(1)) < 1500  # the abandoned answer stopped long before its budget


def test_full_queue_and_a_deadline_mid_stream(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISERVE_MODELS__CHAT__SLOTS", "1")
    monkeypatch.setenv("AISERVE_MODELS__CHAT__MAX_QUEUE", "1")
    monkeypatch.setenv("AISERVE_SERVER__REQUEST_TIMEOUT_S", "2")
    story = [{"role": "user", "content": "Write a very long story about a dragon who learns to cook."}]
    body = {"model": MODEL, "messages": story, "max_tokens": 1500, "temperature": 0, "stream": True}
    with ServerProcess(["--data-dir", str(data_dir), "--model", MODEL, "--log-level", "warning"]) as small:
        with httpx.stream("POST", f"{small.url}/v1/chat/completions", json=body, timeout=600) as response:
            lines = response.iter_lines()
            assert next(lines).startswith("data: {")  # the answer has started
            busy = httpx.post(f"{small.url}/v1/chat/completions", json={**body, "stream": False}, timeout=600)
            assert busy.status_code == 503
            assert int(busy.headers["retry-after"]) >= 1
            assert busy.json()["error"]["code"] == "overloaded"
            events = [line for line in lines if line.startswith("data: ")]
        # the 2 s deadline passed mid-answer: the stream ends with an error event, then [DONE]
        assert events[-1] == "data: [DONE]"
        error = json.loads(events[-2].removeprefix("data: "))
        assert error["error"]["code"] == "deadline_exceeded"
