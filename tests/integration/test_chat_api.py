"""Chat and text completions on the real SmolLM2-135M-Instruct, the same suite on llama.cpp and transformers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration

MODEL = "smollm2-135m-instruct"  # the name answers carry: each app serves one runtime as the default version


@pytest.fixture(
    scope="module", params=["smollm2-135m-instruct@1", "smollm2-135m-instruct@hf"], ids=["llama.cpp", "transformers"]
)
def runtime(request: pytest.FixtureRequest, make_settings: MakeSettings) -> Iterator[tuple[TestClient, str]]:
    """The same suite on both runtimes."""
    with running_app(make_settings(models={"enabled": [request.param, "all-minilm-l6-v2"]})) as client:
        yield client, request.param


# a 135M model needs the nudge to answer greedily in one sentence
FRANCE = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]


def chat(runtime: tuple[TestClient, str], **body: Any) -> dict[str, Any]:
    client, model = runtime
    response = client.post("/v1/chat/completions", json={"model": model, "temperature": 0, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def events(client: TestClient, path: str, body: dict[str, Any]) -> list[str]:
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = "".join(response.iter_text())
    return [block for block in raw.split("\n\n") if block]


def test_capital_of_france(runtime: tuple[TestClient, str]) -> None:
    body = chat(runtime, messages=FRANCE, max_tokens=40)
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == MODEL
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert "Paris" in choice["message"]["content"]
    assert choice["finish_reason"] in {"stop", "length"}
    usage = body["usage"]
    assert usage["prompt_tokens"] > 5
    assert 0 < usage["completion_tokens"] <= 40
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_greedy_is_deterministic_and_length_is_reported(runtime: tuple[TestClient, str]) -> None:
    first = chat(runtime, messages=FRANCE, max_tokens=4)
    second = chat(runtime, messages=FRANCE, max_tokens=4)
    assert first["choices"][0]["message"] == second["choices"][0]["message"]
    assert first["choices"][0]["finish_reason"] == "length"
    assert first["usage"]["completion_tokens"] == 4


def test_content_parts_and_system_messages(runtime: tuple[TestClient, str]) -> None:
    parts = [{"type": "text", "text": "What is the capital "}, {"type": "text", "text": "of France?"}]
    messages = [{"role": "developer", "content": "Answer in one short sentence."}, {"role": "user", "content": parts}]
    assert "Paris" in chat(runtime, messages=messages, max_tokens=40)["choices"][0]["message"]["content"]


def test_stream_matches_the_whole_answer(runtime: tuple[TestClient, str]) -> None:
    client, model = runtime
    whole = chat(runtime, messages=FRANCE, max_tokens=24)
    blocks = events(client, "/v1/chat/completions", {"model": model, "messages": FRANCE, "max_tokens": 24,
                                                     "temperature": 0, "stream": True,
                                                     "stream_options": {"include_usage": True}})  # fmt: skip
    assert blocks[-1] == "data: [DONE]"
    chunks = [json.loads(b.removeprefix("data: ")) for b in blocks[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == whole["choices"][0]["message"]["content"]
    finals = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finals == [whole["choices"][0]["finish_reason"]]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == whole["usage"]


def test_text_completion_plain_and_streamed(runtime: tuple[TestClient, str]) -> None:
    client, model = runtime
    body = {"model": model, "prompt": "The capital of France is", "max_tokens": 12, "temperature": 0}
    whole = client.post("/v1/completions", json=body).json()
    assert whole["object"] == "text_completion"
    assert whole["choices"][0]["text"].startswith(" Paris")
    blocks = events(client, "/v1/completions", {**body, "stream": True})
    chunks = [json.loads(b.removeprefix("data: ")) for b in blocks[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"messages": FRANCE, "n": 2}, 400, "'n' must be 1"),
        ({"messages": FRANCE, "stop": ["a", "b", "c", "d", "e"]}, 400, "up to 4"),
        ({"messages": FRANCE, "max_tokens": 5000}, 400, "context window of 2048"),
        ({"messages": FRANCE, "model": "gpt-17"}, 404, "does not exist"),
        ({"messages": FRANCE, "model": "all-minilm-l6-v2"}, 400, "not a chat model"),
        ({"messages": []}, 400, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, 400, "role"),
        ({"messages": FRANCE, "temperature": 3}, 400, "temperature"),
        ({"messages": FRANCE, "temprature": 0}, 400, "temprature: not a field"),
    ],
)
def test_bad_requests(runtime: tuple[TestClient, str], body: dict[str, Any], status: int, fragment: str) -> None:
    client, model = runtime
    response = client.post("/v1/chat/completions", json={"model": model, **body})
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]["message"]


def test_stream_errors_before_the_first_token_are_plain_http_errors(runtime: tuple[TestClient, str]) -> None:
    client, model = runtime
    body = {"model": model, "messages": FRANCE, "max_tokens": 5000, "stream": True}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert "2048" in response.json()["error"]["message"]


def test_course_endpoints(runtime: tuple[TestClient, str]) -> None:
    client, _ = runtime
    assert client.get("/v1/hello").json() == {"message": "Hello from aiserve!"}
    reply = client.post("/v1/chat", json={"message": "What is the capital of France?", "temperature": 0,
                                           "max_tokens": 40})  # fmt: skip
    assert reply.status_code == 200
    assert reply.json()["model"] == MODEL
    assert reply.json()["reply"].strip()
    assert client.post("/v1/chat", json={}).status_code == 422
    assert client.post("/v1/chat", json={"message": 42}).status_code == 422
    blocks = events(client, "/v1/chat/stream", {"message": "What is the capital of France?", "temperature": 0,
                                                "max_tokens": 40})  # fmt: skip
    assert blocks[-1] == "data: [DONE]"
    # the course's client: print each event's text after "data: " without adding anything
    printed = "".join("\n".join(line[6:] for line in b.split("\n")) for b in blocks[:-1])
    assert printed == reply.json()["reply"]


def test_concurrent_answers_are_the_answers_given_alone(runtime: tuple[TestClient, str]) -> None:
    """Answers generated side by side (slots, or one batched forward pass per token) are the same greedy answers
    each question gets alone: sharing the model changes nobody's answer."""
    questions = ["What is the capital of France?", "Name three fruits.", "What is 2+2?", "Who wrote Hamlet?"]
    bodies = [{"messages": [{"role": "user", "content": q}], "max_tokens": 24} for q in questions]
    alone = [chat(runtime, **body)["choices"][0]["message"]["content"] for body in bodies]
    with ThreadPoolExecutor(len(bodies)) as pool:
        together = list(pool.map(lambda body: chat(runtime, **body)["choices"][0]["message"]["content"], bodies))
    assert together == alone
    assert len(set(alone)) == len(alone)


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}] * 2000}, 400, "the limit is 1024"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi " * 70_000}]}, 400, "context window"),
        ("/v1/completions", {"prompt": "word " * 40_000}, 400, "context window"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}] * 200_000}, 413, "4194304 bytes"),
        ("/v1/chat", {"message": "x" * 32_000, "max_tokens": 1}, 400, None),  # the schema's own limit holds first
    ],
    ids=["many-messages", "one-huge-message", "huge-prompt", "6-MB-body", "simple-chat"],
)
def test_a_prompt_that_cannot_fit_is_refused_before_the_model_sees_it(
    runtime: tuple[TestClient, str], path: str, body: dict[str, Any], status: int, fragment: str | None
) -> None:
    client, model = runtime
    refused = client.post(path, json={"model": model, "max_tokens": 8, **body})
    assert refused.status_code == status, refused.text[:300]
    if fragment is not None:  # 32,000 characters fit the schema and the 2048 x 16 character bound: the model says no
        assert fragment in refused.json()["error"]["message"]
    assert chat(runtime, messages=FRANCE, max_tokens=8)["choices"][0]["message"]["content"]  # still serving
