"""Anthropic's Messages API (`/v1/messages`, `/v1/messages/count_tokens`) on the real app, with keys on, the real
SmolLM2-135M-Instruct on llama.cpp and the ImageNet classifier as the vision model. A 135M model's judgement is not
what is measured: shapes, stop reasons, event order, usage, tools, images, and refusals in Anthropic's error
shape."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import jsonschema
import pytest
import skimage
from anthropic.types.message_create_params import MessageCreateParamsBase
from fastapi.testclient import TestClient
from PIL import Image

from aiserve.settings import Settings
from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration

MODEL = "smollm2-135m-instruct"
VISION = "efficientnet-lite0@1"
ADMIN = "sk-test-messages-" + "m" * 32
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 40},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}
ASK_WEATHER = [{"role": "user", "content": "What is the weather like in Paris today?"}]


def _coffee() -> str:
    image = Image.open(Path(skimage.__file__).parent / "data" / "coffee.png").convert("RGB")  # skimage.data.coffee()
    image.thumbnail((160, 160))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return base64.b64encode(out.getvalue()).decode()


COFFEE = _coffee()
PHOTO: dict[str, Any] = {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": COFFEE}}


@pytest.fixture(scope="module")
def settings(make_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Settings:
    home = tmp_path_factory.mktemp("messages")
    (home / "models").symlink_to(data_dir / "models")
    return make_settings(data_dir=home, models={"enabled": ["smollm2-135m-instruct@1", "efficientnet-lite0"]},
                         auth={"enabled": True, "bootstrap_key": ADMIN, "cache_s": 0})  # fmt: skip


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with running_app(settings) as c:
        yield c


def new_key(client: TestClient, user: str, limits: dict[str, int] | None = None) -> str:
    """A new inference key for a new user."""
    assert client.post("/v1/admin/users", json={"name": user}, headers=AS_ADMIN).status_code == 201
    made = client.post("/v1/admin/keys", json={"user": user, "limits": limits or {}}, headers=AS_ADMIN)
    assert made.status_code == 201, made.text
    key: str = made.json()["key"]
    return key


@pytest.fixture(scope="module")
def key(client: TestClient) -> dict[str, str]:
    """The headers an Anthropic client sends."""
    return {"x-api-key": new_key(client, "claude-client"), "anthropic-version": "2023-06-01"}


def post(client: TestClient, key: dict[str, str], path: str = "/v1/messages", **body: Any) -> httpx2.Response:
    """A request with the model and greedy sampling unless `body` says otherwise."""
    body = {"model": MODEL, **body}
    if path == "/v1/messages":
        body = {"max_tokens": 32, "temperature": 0, **body}
    return client.post(path, json=body, headers=key)


def answer(client: TestClient, key: dict[str, str], **body: Any) -> dict[str, Any]:
    """A whole answer, which must succeed."""
    response = post(client, key, **body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def events(client: TestClient, key: dict[str, str], **body: Any) -> list[tuple[str, dict[str, Any]]]:
    """A streamed answer's events, each with its name."""
    response = post(client, key, stream=True, **body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    found = []
    for frame in response.text.split("\n\n"):
        if frame.strip():
            name, data = frame.split("\n")
            found.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    assert all(name == data["type"] for name, data in found)
    return found


def text_of(message: dict[str, Any]) -> str:
    assert [block["type"] for block in message["content"]] == ["text"]
    text: str = message["content"][0]["text"]
    return text


def count(client: TestClient, key: dict[str, str], **body: Any) -> int:
    response = post(client, key, "/v1/messages/count_tokens", **body)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"input_tokens"}
    tokens: int = response.json()["input_tokens"]
    return tokens


def test_a_plain_answer_has_the_messages_shape_and_usage(client: TestClient, key: dict[str, str]) -> None:
    message = answer(client, key, messages=FRANCE)
    assert set(message) == {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
    assert message["id"].startswith("msg_")
    assert (message["type"], message["role"], message["model"]) == ("message", "assistant", MODEL)
    assert text_of(message)
    assert message["stop_reason"] in ("end_turn", "max_tokens")
    assert message["stop_sequence"] is None
    usage = message["usage"]
    assert usage["input_tokens"] > 0
    assert 0 < usage["output_tokens"] <= 32
    assert usage["cache_creation_input_tokens"] == usage["cache_read_input_tokens"] == 0
    again = answer(client, key, messages=FRANCE)
    assert {**again, "id": message["id"]} == message  # greedy: the same answer


def test_a_system_prompt_is_part_of_the_prompt(client: TestClient, key: dict[str, str]) -> None:
    system = "You are a pirate. Answer in one short sentence."
    plain = answer(client, key, messages=FRANCE)  # SmolLM2's template gives its own system prompt then
    told = answer(client, key, messages=FRANCE, system=system)
    assert told["usage"]["input_tokens"] != plain["usage"]["input_tokens"]
    longer = answer(client, key, messages=FRANCE, system=system + " Never name a city.")
    assert longer["usage"]["input_tokens"] > told["usage"]["input_tokens"]
    as_blocks = answer(client, key, messages=FRANCE, system=[{"type": "text", "text": system}])
    assert as_blocks["usage"] == told["usage"]
    assert text_of(as_blocks) == text_of(told)


def test_a_stop_sequence_ends_the_answer_and_is_named(client: TestClient, key: dict[str, str]) -> None:
    text = text_of(answer(client, key, messages=FRANCE))
    stop = next(word for word in text.split()[1:] if len(word) >= 3)  # a string the greedy answer holds
    stopped = answer(client, key, messages=FRANCE, stop_sequences=[stop])
    assert stopped["stop_reason"] == "stop_sequence"
    assert stopped["stop_sequence"] == stop
    assert text_of(stopped) == text[: text.index(stop)]
    streamed = events(client, key, messages=FRANCE, stop_sequences=[stop])
    assert streamed[-2][1]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": stop}


def test_max_tokens_ends_the_answer_as_max_tokens(client: TestClient, key: dict[str, str]) -> None:
    cut = answer(client, key, messages=FRANCE, max_tokens=3)
    assert cut["stop_reason"] == "max_tokens"
    assert cut["stop_sequence"] is None
    assert cut["usage"]["output_tokens"] == 3


def test_the_stream_follows_anthropics_event_order_and_matches_the_whole_answer(
    client: TestClient, key: dict[str, str]
) -> None:
    whole = answer(client, key, messages=FRANCE)
    streamed = events(client, key, messages=FRANCE)
    names = [name for name, _ in streamed]
    deltas = len(names) - 6
    assert deltas >= 1
    assert names == ["message_start", "content_block_start", "ping", *["content_block_delta"] * deltas,
                     "content_block_stop", "message_delta", "message_stop"]  # fmt: skip
    start = streamed[0][1]["message"]
    assert start["id"].startswith("msg_")
    assert (start["model"], start["role"], start["content"], start["stop_reason"]) == (MODEL, "assistant", [], None)
    assert start["usage"]["input_tokens"] == whole["usage"]["input_tokens"]
    assert streamed[1][1] == {"type": "content_block_start", "index": 0,
                              "content_block": {"type": "text", "text": "", "citations": None}}  # fmt: skip
    pieces = [data["delta"] for name, data in streamed if name == "content_block_delta"]
    assert all(piece["type"] == "text_delta" for piece in pieces)
    assert "".join(piece["text"] for piece in pieces) == text_of(whole)
    assert streamed[-3][1] == {"type": "content_block_stop", "index": 0}
    ending = streamed[-2][1]
    assert ending["delta"] == {"stop_reason": whole["stop_reason"], "stop_sequence": None}
    assert ending["usage"]["output_tokens"] == whole["usage"]["output_tokens"]


def test_a_named_tool_is_called_with_input_that_follows_its_schema(client: TestClient, key: dict[str, str]) -> None:
    choice = {"type": "tool", "name": "get_weather"}
    message = answer(client, key, messages=ASK_WEATHER, tools=[WEATHER], tool_choice=choice, max_tokens=80)
    assert message["stop_reason"] == "tool_use"
    [call] = message["content"]
    assert call["type"] == "tool_use"
    assert call["id"].startswith("toolu_")
    assert call["name"] == "get_weather"
    jsonschema.validate(call["input"], WEATHER["input_schema"])
    streamed = events(client, key, messages=ASK_WEATHER, tools=[WEATHER], tool_choice=choice, max_tokens=80)
    assert [name for name, _ in streamed] == ["message_start", "content_block_start", "ping", "content_block_delta",
                                              "content_block_stop", "message_delta", "message_stop"]  # fmt: skip
    block = streamed[1][1]["content_block"]
    assert (block["type"], block["name"], block["input"]) == ("tool_use", "get_weather", {})
    delta = streamed[3][1]["delta"]
    assert delta["type"] == "input_json_delta"
    assert json.loads(delta["partial_json"]) == call["input"]  # greedy: the same call
    assert streamed[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_any_and_none_tool_choices(client: TestClient, key: dict[str, str]) -> None:
    called = answer(client, key, messages=ASK_WEATHER, tools=[WEATHER], tool_choice={"type": "any"}, max_tokens=80)
    assert {block["type"] for block in called["content"]} == {"tool_use"}
    text = answer(client, key, messages=ASK_WEATHER, tools=[WEATHER], tool_choice={"type": "none"})
    assert text["stop_reason"] != "tool_use"
    assert text_of(text)


def test_a_tool_result_turn_is_answered(client: TestClient, key: dict[str, str]) -> None:
    choice = {"type": "tool", "name": "get_weather"}
    called = answer(client, key, messages=ASK_WEATHER, tools=[WEATHER], tool_choice=choice, max_tokens=80)
    call = called["content"][0]
    for result in ("18 degrees and sunny", [{"type": "text", "text": "18 degrees"}, {"type": "text", "text": "sunny"}]):
        turns = [
            *ASK_WEATHER,
            {"role": "assistant", "content": called["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": result}]},
        ]
        replied = answer(client, key, messages=turns, tools=[WEATHER])
        assert replied["stop_reason"] in ("end_turn", "max_tokens", "tool_use"), replied
        assert replied["usage"]["input_tokens"] > called["usage"]["input_tokens"]
    failed = [*ASK_WEATHER, {"role": "assistant", "content": called["content"]}, {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": call["id"], "content": "timeout", "is_error": True},
        {"type": "text", "text": "Then guess."}]}]  # fmt: skip
    assert answer(client, key, messages=failed)["usage"]["input_tokens"] > 0


def test_an_image_is_seen_by_the_vision_model(client: TestClient, key: dict[str, str]) -> None:
    turn = [{"role": "user", "content": [PHOTO, {"type": "text", "text": "What is in this picture?"}]}]
    response = post(client, key, messages=turn)
    assert response.status_code == 200, response.text
    assert response.json()["vision_model"] == VISION
    assert response.headers["x-vision-model"] == VISION
    assert text_of(response.json())
    streamed = events(client, key, messages=turn)
    assert streamed[0][1]["message"]["vision_model"] == VISION
    as_url = [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "data:image/jpeg;base64,"
                                                                         + COFFEE}}]}]  # fmt: skip
    assert answer(client, key, messages=as_url)["vision_model"] == VISION  # fetching is off: only data URLs pass
    in_a_result = [*ASK_WEATHER, {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
            {"type": "text", "text": "A webcam photo:"}, PHOTO]}]}]  # fmt: skip
    assert answer(client, key, messages=in_a_result, tools=[WEATHER])["vision_model"] == VISION


def test_count_tokens_counts_the_prompt_as_an_answer_uses_it(client: TestClient, key: dict[str, str]) -> None:
    short = count(client, key, messages=FRANCE)
    assert short > 0
    longer = [{"role": "user", "content": "What is the capital of France, and which river runs through it?"}]
    assert count(client, key, messages=longer) > short
    assert short == answer(client, key, messages=FRANCE, max_tokens=2)["usage"]["input_tokens"]
    with_tools = {"messages": ASK_WEATHER, "tools": [WEATHER], "system": "Be brief."}
    counted = count(client, key, **with_tools)
    assert counted == answer(client, key, max_tokens=80, **with_tools)["usage"]["input_tokens"]
    assert counted > count(client, key, messages=ASK_WEATHER)


def _error(response: httpx2.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "error"}
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == kind
    message: str = body["error"]["message"]
    return message


TEXT = {"type": "text", "text": "hi"}
BAD: list[tuple[dict[str, Any], str]] = [
    ({"frequency_penalty": 1}, "frequency_penalty: not a field this server knows"),
    ({"messages": [{"role": "user", "content": [{**TEXT, "colour": "red"}]}]}, "messages.0.content.0.text.colour"),
    ({"container": "c-1"}, "'container' is not supported"),
    ({"mcp_servers": [{"type": "url", "url": "https://example.com", "name": "x"}]}, "'mcp_servers' is not supported"),
    ({"context_management": {"edits": []}}, "'context_management' is not supported"),
    ({"output_config": {"effort": "low"}}, "'output_config' is not supported"),
    ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "'thinking' is not supported"),
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "'web_search_20250305' is a server tool"),
    ({"tools": [{**WEATHER, "input_schema": {"type": "string"}}]}, "input_schema must be the JSON Schema of an object"),
    ({"tools": [WEATHER], "tool_choice": {"type": "tool"}}, "'name' is given with type 'tool'"),
    ({"tools": [WEATHER], "tool_choice": {"type": "tool", "name": "f"}}, "'tool_choice' names 'f'"),
    ({"tools": [{**WEATHER, "input_schema": {"type": "object", "if": {}}}]}, "'tools[0].input_schema' is not a JSON"),
    ({"messages": [{"role": "user", "content": [{**TEXT, "citations": [{"type": "char_location"}]}]}]}, "citations"),
    ({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
     "messages[0].content[0]: 'document' blocks are not supported"),
    ({"messages": [{"role": "user", "content": [{"type": "search_result", "source": "x"}]}]}, "'search_result' blocks"),
    ({"messages": [*FRANCE, {"role": "assistant", "content": [{"type": "thinking", "thinking": "h", "signature": "s"}]},
                   *FRANCE]}, "messages[1].content[0]: 'thinking' blocks are not supported"),
    ({"messages": [*FRANCE, {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"}]}, *FRANCE]},
     "'redacted_thinking' blocks"),
    ({"system": "x" * 100_000}, "context window"),
    ({"messages": [{"role": "user", "content": [{**PHOTO, "source": {**PHOTO["source"], "data": "not*b64"}}, TEXT]}]},
     "messages[0].content[0].source: Invalid image: the data is not valid base64"),
    ({"messages": [{"role": "user", "content": [TEXT, {**PHOTO, "source": {**PHOTO["source"], "data": "aGVsbG8="}}]}]},
     "messages[0].content[1].source: Invalid image"),
    ({"messages": [*FRANCE, {"role": "assistant", "content": [PHOTO]}, *FRANCE]}, "only a user's turn carries image"),
    ({"messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]},
     "only an assistant's turn carries tool_use"),
    ({"messages": [*FRANCE, {"role": "assistant", "content": "Paris is"}]}, "(prefill) is not supported"),
    ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "'stop_sequences' takes up to 4 non-empty strings"),
    ({"stop_sequences": [""]}, "'stop_sequences' takes up to 4 non-empty strings"),
    ({"temperature": 1.5}, "temperature: Input should be less than or equal to 1"),
    ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
    ({"metadata": {"user_id": "u", "tags": []}}, "metadata.tags: not a field"),
    ({"service_tier": "priority"}, "service_tier"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "fragment"), BAD, ids=[f"{i}-{fragment[:24]}" for i, (_, fragment) in enumerate(BAD)])
def test_what_cannot_be_honoured_is_refused_naming_it(
    client: TestClient, key: dict[str, str], body: dict[str, Any], fragment: str
) -> None:
    message = _error(post(client, key, **{"messages": FRANCE, **body}), 400, "invalid_request_error")
    assert fragment in message


# every field of the official SDK's `messages.create` with a value that is honoured (200) or refused (400 naming it);
# `user_profile_id` and `workspace_id` are sent as headers, which are not read
MESSAGE_PARAMETERS: dict[str, tuple[Any, int]] = {
    "cache_control": ({"type": "ephemeral", "ttl": "1h"}, 200),
    "container": ("container_1", 400),
    "diagnostics": ({"previous_message_id": "msg_1"}, 400),
    "inference_geo": ("us", 400),
    "max_tokens": (4, 200),
    "metadata": ({"user_id": "user-1"}, 200),
    "output_config": ({"format": {"type": "json_schema", "schema": {"type": "object"}}}, 400),
    "service_tier": ("standard_only", 200),
    "speed": ("fast", 400),
    "stop_sequences": (["\n"], 200),
    "system": ("Be brief.", 200),
    "thinking": ({"type": "enabled", "budget_tokens": 1024}, 400),
    "tool_choice": ({"type": "any"}, 400),  # without tools
    "tools": ([WEATHER], 200),
}
EXTENSIONS: dict[str, tuple[Any, int]] = {
    "stream": (True, 200), "temperature": (0.5, 200), "top_p": (0.5, 200), "top_k": (5, 200),  # the SDK types no more
    "mcp_servers": ([], 400), "context_management": ({"edits": []}, 400), "no_such_field": (1, 400),
}  # fmt: skip


def test_every_reference_parameter_is_classified() -> None:
    sent_as_headers = {"user_profile_id", "workspace_id"}
    assert set(MESSAGE_PARAMETERS) == set(MessageCreateParamsBase.__annotations__) - {"messages", "model",
                                                                                      *sent_as_headers}  # fmt: skip


def test_every_parameter_is_honoured_or_refused_naming_it(client: TestClient, key: dict[str, str]) -> None:
    for name, (value, status) in (MESSAGE_PARAMETERS | EXTENSIONS).items():
        response = post(client, key, **{"messages": FRANCE, "max_tokens": 4, name: value})
        assert response.status_code == status, (name, response.text[:300])
        if status == 400:
            assert name in _error(response, 400, "invalid_request_error"), name


def test_the_end_user_is_written_to_the_access_log(
    client: TestClient, key: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="aiserve.access"):
        answered = post(client, key, messages=FRANCE, max_tokens=2, metadata={"user_id": "end-user-7"})
    assert answered.status_code == 200
    [line] = [r for r in caplog.records if r.name == "aiserve.access" and getattr(r, "end_user", "") == "end-user-7"]
    assert getattr(line, "route", "") == "/v1/messages"


COUNT_BAD: list[tuple[dict[str, Any], str]] = [
    ({"max_tokens": 8}, "max_tokens: not a field this server knows"),
    ({"stream": True}, "stream: not a field this server knows"),
    ({"mcp_servers": []}, "'mcp_servers' is not supported"),
    ({"thinking": {"type": "adaptive"}}, "'thinking' is not supported"),
    ({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "'bash_20250124' is a server tool"),
    ({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}, "'document' blocks"),
    ({"messages": [{"role": "user", "content": [{**PHOTO, "source": {**PHOTO["source"], "data": "x"}}]}]},
     "messages[0].content[0].source: Invalid image"),
    ({"messages": [*FRANCE, {"role": "assistant", "content": "Paris is"}]}, "(prefill) is not supported"),
    ({"system": "x" * 100_000}, "context window"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "fragment"), COUNT_BAD, ids=[str(i) for i in range(len(COUNT_BAD))])
def test_count_tokens_refuses_what_it_cannot_count(
    client: TestClient, key: dict[str, str], body: dict[str, Any], fragment: str
) -> None:
    path = "/v1/messages/count_tokens"
    message = _error(post(client, key, path, **{"messages": FRANCE, **body}), 400, "invalid_request_error")
    assert fragment in message


def test_an_unknown_model_is_not_found(client: TestClient, key: dict[str, str]) -> None:
    assert "no-such-model" in _error(post(client, key, model="no-such-model", messages=FRANCE), 404, "not_found_error")
    refused = post(client, key, model="no-such-model", messages=FRANCE, stream=True)  # before the stream starts
    assert refused.headers["content-type"] == "application/json"
    _error(refused, 404, "not_found_error")
    _error(post(client, key, "/v1/messages/count_tokens", model="no-such-model", messages=FRANCE), 404,
           "not_found_error")  # fmt: skip


def test_keys_come_as_x_api_key_or_bearer(client: TestClient, key: dict[str, str]) -> None:
    body = {"model": MODEL, "messages": FRANCE}
    path = "/v1/messages/count_tokens"
    assert _error(client.post(path, json=body), 401, "authentication_error") == "Invalid API key"
    _error(client.post(path, json=body, headers={"x-api-key": "sk-" + "x" * 40}), 401, "authentication_error")
    _error(client.post("/v1/messages", json={**body, "max_tokens": 4}), 401, "authentication_error")
    assert client.post(path, json=body, headers={"x-api-key": key["x-api-key"]}).status_code == 200
    assert client.post(path, json=body, headers={"Authorization": f"Bearer {key['x-api-key']}"}).status_code == 200
    beta = {**key, "anthropic-beta": "token-counting-2024-11-01,anything-else", "anthropic-version": "2099-01-01"}
    assert client.post(path, json=body, headers=beta).status_code == 200
    reader = client.post("/v1/admin/keys", json={"user": "claude-client", "scopes": ["usage:read"]}, headers=AS_ADMIN)
    forbidden = client.post(path, json=body, headers={"x-api-key": reader.json()["key"]})
    assert "inference" in _error(forbidden, 403, "permission_error")


def test_a_key_over_its_rate_limit_is_refused_with_retry_after(client: TestClient) -> None:
    limited = {"x-api-key": new_key(client, "one-a-minute", {"requests_per_minute": 1})}
    assert post(client, limited, "/v1/messages/count_tokens", messages=FRANCE).status_code == 200
    refused = post(client, limited, messages=FRANCE, max_tokens=4)
    assert "per minute" in _error(refused, 429, "rate_limit_error")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
