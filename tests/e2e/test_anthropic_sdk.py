"""The official `anthropic` package against a running server with keys: messages whole and streamed, an image, a
tool call and its result, token counting, and the SDK's error classes."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest
import skimage
from anthropic.types import Message, MessageParam, TextBlock, ToolUseBlock
from PIL import Image

from aiserve.bench.server import ServerProcess
from tests.e2e.conftest import own_home, user_key

pytestmark = pytest.mark.e2e

ADMIN = "sk-e2e-anthropic-" + "a" * 32
MODEL = "smollm2-135m-instruct"
GREEDY: Any = {"temperature": 0}
"""Sampling fields the SDK no longer types (it sends them as they are)."""
FRANCE: list[MessageParam] = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER: Any = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 40}, "unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = own_home(data_dir, tmp_path_factory, "anthropic-e2e")
    args = ["--data-dir", str(home), "--model", "smollm2-135m-instruct", "--model", "efficientnet-lite0"]
    with ServerProcess(args, api_key=ADMIN) as proc:
        yield proc


def key_for(server: ServerProcess, user: str, limits: dict[str, int] | None = None) -> str:
    with httpx.Client(base_url=server.url) as http:
        return user_key(http, ADMIN, user, limits)["Authorization"].removeprefix("Bearer ")


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=key_for(server, "sdk-user"), max_retries=0)


def text_of(message: Message) -> str:
    [block] = message.content
    assert isinstance(block, TextBlock)
    return block.text


def test_a_message_whole_and_streamed(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=32, messages=FRANCE, extra_body=GREEDY)
    assert message.id.startswith("msg_")
    assert (message.type, message.role, message.model) == ("message", "assistant", MODEL)
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 0
    assert 0 < message.usage.output_tokens <= 32
    with client.messages.stream(model=MODEL, max_tokens=32, messages=FRANCE, extra_body=GREEDY) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == text_of(final) == text_of(message)
    assert final.stop_reason == message.stop_reason
    assert final.usage.input_tokens == message.usage.input_tokens
    assert final.usage.output_tokens == message.usage.output_tokens


def test_an_image_is_seen_by_the_vision_model(client: anthropic.Anthropic) -> None:
    photo = Image.open(Path(skimage.__file__).parent / "data" / "coffee.png").convert("RGB")  # skimage.data.coffee()
    photo.thumbnail((160, 160))
    jpeg = io.BytesIO()
    photo.save(jpeg, format="JPEG")
    data = base64.b64encode(jpeg.getvalue()).decode()
    turn: list[MessageParam] = [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": data}},
        {"type": "text", "text": "What is in this picture?"},
    ]}]  # fmt: skip
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=24, messages=turn, extra_body=GREEDY)
    assert raw.headers["x-vision-model"] == "efficientnet-lite0@1"
    message = raw.parse()
    assert text_of(message)
    assert (message.model_extra or {})["vision_model"] == "efficientnet-lite0@1"


def test_a_tool_call_and_its_result(client: anthropic.Anthropic) -> None:
    choice: Any = {"type": "tool", "name": "get_weather"}
    ask: list[MessageParam] = [{"role": "user", "content": "What is the weather like in Paris today?"}]
    called = client.messages.create(model=MODEL, max_tokens=80, messages=ask, tools=[WEATHER], tool_choice=choice,
                                    extra_body=GREEDY)  # fmt: skip
    assert called.stop_reason == "tool_use"
    [call] = called.content
    assert isinstance(call, ToolUseBlock)
    assert call.name == "get_weather"
    jsonschema.validate(call.input, WEATHER["input_schema"])
    with client.messages.stream(model=MODEL, max_tokens=80, messages=ask, tools=[WEATHER], tool_choice=choice,
                                extra_body=GREEDY) as stream:  # fmt: skip
        streamed = stream.get_final_message()
    assert isinstance(streamed.content[0], ToolUseBlock)
    assert streamed.content[0].input == call.input
    result: list[MessageParam] = [*ask, {"role": "assistant", "content": called.content}, {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": call.id, "content": "18 degrees and sunny"}]}]  # fmt: skip
    answered = client.messages.create(model=MODEL, max_tokens=32, messages=result, tools=[WEATHER], extra_body=GREEDY)
    assert answered.stop_reason in ("end_turn", "max_tokens", "tool_use")
    assert answered.usage.input_tokens > called.usage.input_tokens


def test_count_tokens_matches_the_answers_usage(client: anthropic.Anthropic) -> None:
    counted = client.messages.count_tokens(model=MODEL, messages=FRANCE, system="Be brief.")
    assert counted.input_tokens > 0
    message = client.messages.create(model=MODEL, max_tokens=2, messages=FRANCE, system="Be brief.", extra_body=GREEDY)
    assert counted.input_tokens == message.usage.input_tokens


def test_errors_are_the_sdks_classes(server: ServerProcess, client: anthropic.Anthropic) -> None:
    stranger = anthropic.Anthropic(base_url=server.url, api_key="sk-" + "z" * 40, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError, match="Invalid API key"):
        stranger.messages.create(model=MODEL, max_tokens=4, messages=FRANCE)
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="no-such-model", max_tokens=4, messages=FRANCE)
    gone = {"type": "not_found_error", "message": "The model 'no-such-model' does not exist."}
    assert missing.value.body == {"type": "error", "error": gone}
    with pytest.raises(anthropic.BadRequestError, match="frequency_penalty"):
        client.messages.create(model=MODEL, max_tokens=4, messages=FRANCE, extra_body={"frequency_penalty": 1})
    once = key_for(server, "one-a-minute", {"requests_per_minute": 1})
    limited = anthropic.Anthropic(base_url=server.url, api_key=once, max_retries=0)
    assert limited.messages.count_tokens(model=MODEL, messages=FRANCE).input_tokens > 0
    with pytest.raises(anthropic.RateLimitError) as limit:
        limited.messages.count_tokens(model=MODEL, messages=FRANCE)
    assert 1 <= int(limit.value.response.headers["retry-after"]) <= 60
