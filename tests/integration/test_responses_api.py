"""`/v1/responses` on the real chat model: the response object and its stream, images, function tools, text
formats, stored responses per key with `previous_response_id`, and every field the request can carry honoured or
refused with 400 naming it."""

from __future__ import annotations

import base64
import io
import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import skimage
from fastapi.testclient import TestClient
from openai.types.responses import response_create_params
from PIL import Image

from aiserve.protocol.responses import ResponseRequest
from tests.conftest import MakeSettings
from tests.integration.conftest import running_app

pytestmark = pytest.mark.integration

CHAT = "smollm2-135m-instruct"
ADMIN = "sk-test-responses-" + "f" * 32
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city.", "parameters": CITY}


def coffee() -> str:
    image = Image.open(Path(skimage.__file__).parent / "data" / "coffee.png").convert("RGB")
    image.thumbnail((128, 128))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def ask(**fields: Any) -> dict[str, Any]:
    return {"model": CHAT, "input": "Name a fruit.", "temperature": 0, "max_output_tokens": 12, **fields}


def events(client: TestClient, body: dict[str, Any], **headers: str) -> list[tuple[str, dict[str, Any]]]:
    """The stream's events, each name checked against its data's type."""
    out: list[tuple[str, dict[str, Any]]] = []
    with client.stream("POST", "/v1/responses", json=body | {"stream": True}, headers=headers) as stream:
        assert stream.status_code == 200, stream.read()
        name = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
                assert data["type"] == name
                out.append((name, data))
    return out


@pytest.fixture(scope="module")
def client(make_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory, data_dir: Path
           ) -> Iterator[TestClient]:  # fmt: skip
    home = tmp_path_factory.mktemp("responses")
    (home / "models").symlink_to(data_dir / "models")
    settings = make_settings(data_dir=home, models={"enabled": ["efficientnet-lite0", CHAT]},
                             auth={"enabled": True, "bootstrap_key": ADMIN, "cache_s": 0})  # fmt: skip
    with running_app(settings, key=ADMIN) as c:
        yield c


def test_a_response_and_its_stream_say_the_same(client: TestClient) -> None:
    whole = client.post("/v1/responses", json=ask(instructions="Answer in one word.", metadata={"run": "1"}))
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert body["object"] == "response"
    assert body["id"].startswith("resp_")
    assert body["model"] == CHAT
    assert body["instructions"] == "Answer in one word."
    assert body["metadata"] == {"run": "1"}
    assert body["status"] in ("completed", "incomplete")
    message = body["output"][0]
    assert message["type"] == "message"
    assert message["role"] == "assistant"
    text = message["content"][0]["text"]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    seen = events(client, ask(instructions="Answer in one word.", metadata={"run": "1"}))
    names = [name for name, _ in seen]
    assert names[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]  # fmt: skip
    last = "response.completed" if body["status"] == "completed" else "response.incomplete"
    assert names[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          last]  # fmt: skip
    assert [data["sequence_number"] for _, data in seen] == list(range(len(seen)))
    assert "".join(d["delta"] for n, d in seen if n == "response.output_text.delta") == text
    final = seen[-1][1]["response"]
    assert final["output"][0]["content"][0]["text"] == text
    assert final["usage"] == usage


def test_too_few_tokens_make_an_incomplete_response(client: TestClient) -> None:
    body = client.post("/v1/responses", json=ask(input="Write a long story.", max_output_tokens=3)).json()
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}


def test_stored_responses_continue_and_belong_to_their_key(client: TestClient) -> None:
    first = client.post("/v1/responses", json=ask()).json()
    follow = client.post("/v1/responses", json=ask(input="Another one.", previous_response_id=first["id"])).json()
    assert follow["previous_response_id"] == first["id"]
    alone = client.post("/v1/responses", json=ask(input="Another one.")).json()
    assert follow["usage"]["input_tokens"] > alone["usage"]["input_tokens"] + first["usage"]["output_tokens"]
    assert client.get(f"/v1/responses/{first['id']}").json() == first
    client.post("/v1/admin/users", json={"name": "other"})
    other = {"Authorization": "Bearer " + client.post("/v1/admin/keys", json={"user": "other"}).json()["key"]}
    assert client.get(f"/v1/responses/{first['id']}", headers=other).status_code == 404
    assert client.delete(f"/v1/responses/{first['id']}", headers=other).status_code == 404
    stolen = client.post("/v1/responses", json=ask(previous_response_id=first["id"]), headers=other)
    assert stolen.status_code == 404
    assert stolen.json()["error"]["param"] == "previous_response_id"
    deleted = client.delete(f"/v1/responses/{first['id']}")
    assert deleted.json() == {"id": first["id"], "object": "response.deleted", "deleted": True}
    assert client.get(f"/v1/responses/{first['id']}").status_code == 404
    assert client.delete(f"/v1/responses/{first['id']}").status_code == 404
    unstored = client.post("/v1/responses", json=ask(store=False)).json()
    assert unstored["store"] is False
    assert client.get(f"/v1/responses/{unstored['id']}").status_code == 404
    assert client.get("/v1/responses/" + "x" * 5000).status_code == 404


def test_function_tools_and_their_outputs(client: TestClient) -> None:
    named = {"type": "function", "name": "get_weather"}
    called = client.post("/v1/responses", json=ask(input="Weather in Paris?", tools=[WEATHER], max_output_tokens=64,
                                                   tool_choice=named))  # fmt: skip
    assert called.status_code == 200, called.text
    call = called.json()["output"][0]
    assert call["type"] == "function_call"
    assert call["name"] == "get_weather"
    assert set(json.loads(call["arguments"])) == {"city"}
    result = {"type": "function_call_output", "call_id": call["call_id"], "output": "Sunny, 21 C"}
    answer = ask(previous_response_id=called.json()["id"], tools=[WEATHER], input=[result])
    assert client.post("/v1/responses", json=answer).status_code == 200
    by_hand = ask(input=[
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": [{"type": "input_text", "text": "Sunny"}]},
    ], tools=[WEATHER])  # fmt: skip
    assert client.post("/v1/responses", json=by_hand).status_code == 200
    streamed = events(client, ask(input="Weather in Rome?", tools=[WEATHER], tool_choice="required",
                                  max_output_tokens=64))  # fmt: skip
    names = [name for name, _ in streamed]
    assert "response.function_call_arguments.delta" in names
    done = next(d for n, d in streamed if n == "response.function_call_arguments.done")
    assert done["name"] == "get_weather"
    assert set(json.loads(done["arguments"])) == {"city"}


def test_text_formats_hold_the_answer(client: TestClient) -> None:
    schema = {"type": "object", "properties": {"fruit": {"type": "string", "maxLength": 20}}, "required": ["fruit"],
              "additionalProperties": False}  # fmt: skip
    text = {"format": {"type": "json_schema", "name": "fruit", "schema": schema, "strict": True}}
    answer = client.post("/v1/responses", json=ask(text=text, max_output_tokens=40)).json()
    assert answer["text"]["format"]["name"] == "fruit"
    assert set(json.loads(answer["output"][0]["content"][0]["text"])) == {"fruit"}
    as_object = client.post("/v1/responses", json=ask(text={"format": {"type": "json_object"}}, max_output_tokens=40))
    json.loads(as_object.json()["output"][0]["content"][0]["text"])
    bad = client.post("/v1/responses", json=ask(text={"format": {"type": "json_schema", "name": "x",
                                                                 "schema": {"type": "banana"}}}))  # fmt: skip
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "text.format"


def test_logprobs_come_with_include(client: TestClient) -> None:
    body = client.post("/v1/responses", json=ask(include=["message.output_text.logprobs"], top_logprobs=2)).json()
    tokens = body["output"][0]["content"][0]["logprobs"]
    assert len(tokens) == body["usage"]["output_tokens"]
    assert all(len(t["top_logprobs"]) == 2 and t["logprob"] <= 0 for t in tokens)


def test_an_image_is_seen_by_the_vision_model(client: TestClient) -> None:
    image = {"type": "input_image", "image_url": coffee(), "detail": "auto"}
    body = ask(input=[{"role": "user", "content": [{"type": "input_text", "text": "What is this?"}, image]}])
    answer = client.post("/v1/responses", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["vision_model"] == answer.headers["x-vision-model"] == "efficientnet-lite0@1"
    bad = {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}
    broken = body | {"input": [{"role": "user", "content": [bad]}]}
    refused = client.post("/v1/responses", json=broken)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "input[0].content[0].image_url"


HOSTILE: dict[str, tuple[dict[str, Any], str]] = {
    "an unknown field": (ask(temprature=0.5), "temprature"),
    "a web search tool": (ask(tools=[{"type": "web_search"}]), "tools.0.type"),
    "an image from the assistant": (
        ask(
            input=[
                {"role": "assistant", "content": [{"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]}
            ]
        ),
        "input.0.message",
    ),
    "a file id": (
        ask(input=[{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]),
        "input.0.message.content.0",
    ),
    "no input": (ask(input=[]), "input"),
    "an unknown item": (ask(input=[{"type": "reasoning", "summary": []}]), "input"),
    "a top_logprobs without include": (ask(top_logprobs=3), "top_logprobs"),
    "truncation auto": (ask(truncation="auto"), "truncation"),
    "background": (ask(background=True), "background"),
    "too much metadata": (ask(metadata={str(i): "v" for i in range(17)}), "metadata"),
    "a metadata value too long": (ask(metadata={"k": "v" * 513}), "metadata.k"),
    "stream options without a stream": (ask(stream_options={"include_obfuscation": False}), "body"),
    "a prompt over the window": (ask(instructions="word " * 40_000), "input"),
    "max_output_tokens over the window": (ask(max_output_tokens=10**6), "max_output_tokens"),
    "temperature 3": (ask(temperature=3), "temperature"),
    "an unknown model": (ask(model="gpt-9"), "model"),
}
for _name in ("max_tool_calls", "reasoning", "conversation", "prompt", "context_management", "moderation", "image",
              "access_programs", "background_options", "prompt_cache_options"):  # fmt: skip
    HOSTILE[f"refused {_name}"] = (ask(**{_name: {"effort": "low"} if _name == "reasoning" else 1}), _name)


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_requests_are_refused_naming_the_field(client: TestClient, case: str) -> None:
    body, param = HOSTILE[case]
    refused = client.post("/v1/responses", json=body)
    assert refused.status_code in (400, 404, 413), refused.text
    error = refused.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["param"] or "").startswith(param), error
    assert client.get("/health").status_code == 200


def test_every_openai_parameter_is_known_here(client: TestClient) -> None:
    """Each parameter of the openai package's Responses request is a field here: honoured, or refused by name (the
    hostile cases above); an unknown one is refused too, so none is silently ignored."""
    names = set(typing.get_type_hints(response_create_params.ResponseCreateParamsBase))
    assert names <= set(ResponseRequest.model_fields), names - set(ResponseRequest.model_fields)
    assert client.post("/v1/responses", json=ask(not_a_field=1)).json()["error"]["param"] == "not_a_field"
