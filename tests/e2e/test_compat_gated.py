"""Clients written for commercial AI services, against a server with keys and limits: the official `openai`
package (text completions, its error classes for 401, 404 and 400, its own retry of a 429 that succeeds once the
slot frees, and the Responses API: plain, streamed, continued with `previous_response_id`, with a function tool,
and its error classes) and course-style clients on plain `requests` (base64 JSON with a Bearer key, SSE from
`/v1/chat/stream`, its 401 and 429 branches, and the image-analysis client that streams a chat answer about a
JPEG thumbnail sent as a data URL)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import requests
import skimage
from PIL import Image

from aiserve.bench.server import ServerProcess

pytestmark = pytest.mark.e2e

ADMIN = "sk-compat-admin-" + "k" * 32
CHAT = "smollm2-135m-instruct"
COFFEE = Path(skimage.__file__).parent / "data" / "coffee.png"


@pytest.fixture(scope="module")
def server(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("compat")
    (home / "models").symlink_to(data_dir / "models")
    with ServerProcess(["--data-dir", str(home)], api_key=ADMIN) as proc:
        yield proc


def new_key(server: ServerProcess, user: str, **limits: int) -> str:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert httpx.post(f"{server.url}/v1/admin/users", json={"name": user}, headers=admin).status_code == 201
    made = httpx.post(f"{server.url}/v1/admin/keys", json={"user": user, "limits": limits}, headers=admin)
    return str(made.json()["key"])


def test_openai_text_completions_and_error_classes(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=ADMIN, max_retries=0)
    stranger = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-" + "n" * 40, max_retries=0)
    whole = client.completions.create(model=CHAT, prompt="One, two, three,", max_tokens=8, temperature=0)
    pieces = client.completions.create(model=CHAT, prompt="One, two, three,", max_tokens=8, temperature=0,
                                       stream=True)  # fmt: skip
    assert "".join(chunk.choices[0].text for chunk in pieces if chunk.choices) == whole.choices[0].text
    assert whole.usage is not None
    assert whole.usage.completion_tokens > 0
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="all-minilm-l6-v2", input=[])
    with pytest.raises(openai.BadRequestError) as out_of_range:  # as OpenAI answers it
        client.chat.completions.create(model=CHAT, messages=[{"role": "user", "content": "hi"}], temperature=5)
    assert out_of_range.value.param == "temperature"
    client.close()
    stranger.close()


def test_openai_retries_a_429_until_the_slot_frees(server: ServerProcess) -> None:
    key = new_key(server, "one-at-a-time", max_concurrent=1)
    story = [{"role": "user", "content": "Write a very long story about a dragon who learns to cook."}]
    holder = httpx.Client(timeout=600)
    body = {"model": CHAT, "messages": story, "max_tokens": 400, "stream": True}
    with holder.stream("POST", f"{server.url}/v1/chat/completions", json=body,
                       headers={"Authorization": f"Bearer {key}"}) as held:  # fmt: skip
        lines = held.iter_lines()
        assert next(lines).startswith("data: ")
        answers: list[Any] = []

        def patient() -> None:
            with openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=5) as client:
                answers.append(client.embeddings.create(model="all-minilm-l6-v2", input="hi", encoding_format="float"))

        waiting = threading.Thread(target=patient)
        waiting.start()
        time.sleep(1.5)  # long enough for its first try to be refused with Retry-After: 1
        assert not answers
    holder.close()  # the slot is free: its next try gets through
    waiting.join(30)
    assert len(answers[0].data[0].embedding) == 384


def test_course_style_requests_client(server: ServerProcess) -> None:
    key = new_key(server, "student", requests_per_minute=2)
    image = base64.b64encode(COFFEE.read_bytes()).decode()

    def classify(bearer: str) -> str:
        response = requests.post(f"{server.url}/v1/classify", json={"image": image},
                                 headers={"Authorization": f"Bearer {bearer}"}, timeout=600)  # fmt: skip
        if response.status_code == 401:
            return "please check your API key"
        if response.status_code == 429:
            return f"slow down: retry in {response.headers['Retry-After']} s"
        response.raise_for_status()
        return str(response.json()["predictions"][0]["label"])

    assert classify("sk-" + "z" * 40) == "please check your API key"
    assert classify(key) == "espresso"
    with requests.post(f"{server.url}/v1/chat/stream", json={"message": "Say hello.", "max_tokens": 8},
                       headers={"Authorization": f"Bearer {key}"}, stream=True, timeout=600) as response:  # fmt: skip
        assert response.status_code == 200
        events = [line.decode() for line in response.iter_lines() if line.startswith(b"data:")]
    assert events[-1] == "data: [DONE]"
    assert len(events) > 1
    assert classify(key).startswith("slow down: retry in ")


def thumbnail_data_url(path: Path, size: int = 256) -> str:
    """The course's image client: a Pillow thumbnail, as a JPEG data URL."""
    image = Image.open(path).convert("RGB")
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_course_image_client_streams_an_answer_about_the_photo(server: ServerProcess) -> None:
    body: dict[str, Any] = {
        "model": CHAT, "stream": True, "temperature": 0, "max_tokens": 60,
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": thumbnail_data_url(COFFEE)}},
        ]}],
    }  # fmt: skip
    pieces: list[str] = []
    with requests.post(f"{server.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {ADMIN}"},
                       stream=True, timeout=600) as response:  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.headers["x-vision-model"] == "efficientnet-lite0@1"
        for raw in response.iter_lines():
            line = raw.decode()
            if not line.startswith("data: "):
                continue
            data = line.removeprefix("data: ")
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            pieces.extend(choice["delta"].get("content") or "" for choice in chunk["choices"])
    answer = "".join(pieces).lower()
    assert len(pieces) > 2  # streamed, not whole
    assert "coffee" in answer or "espresso" in answer, answer


def test_openai_responses_api(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=ADMIN, max_retries=0)
    first = client.responses.create(model=CHAT, input="Name a colour.", max_output_tokens=16, temperature=0)
    assert first.output_text
    assert first.usage is not None
    assert first.usage.input_tokens > 0
    assert client.responses.retrieve(first.id).output_text == first.output_text
    follow = client.responses.create(model=CHAT, input="Name another.", previous_response_id=first.id,
                                     max_output_tokens=16, temperature=0)  # fmt: skip
    assert follow.usage is not None
    assert follow.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens  # it saw the first turn
    with client.responses.stream(model=CHAT, input="Say hello.", max_output_tokens=200, temperature=0) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    whole = client.responses.create(model=CHAT, input="Say hello.", max_output_tokens=200, temperature=0)
    assert final.output_text == whole.output_text
    weather: Any = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                              "additionalProperties": False}}  # fmt: skip
    called = client.responses.create(model=CHAT, input="What is the weather in Paris?", tools=[weather],
                                     tool_choice={"type": "function", "name": "get_weather"})  # fmt: skip
    call = called.output[0]
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert set(json.loads(call.arguments)) == {"city"}
    answered = client.responses.create(model=CHAT, previous_response_id=called.id, max_output_tokens=16,
                                       input=[{"type": "function_call_output", "call_id": call.call_id,
                                               "output": "Sunny, 21 C"}])  # fmt: skip
    assert answered.status in ("completed", "incomplete")
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input="hi")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-" + "r" * 40, max_retries=0).responses.create(
            model=CHAT, input="hi")  # fmt: skip
    limited = openai.OpenAI(base_url=f"{server.url}/v1", api_key=new_key(server, "responder", requests_per_minute=1),
                            max_retries=0)  # fmt: skip
    limited.responses.create(model=CHAT, input="hi", max_output_tokens=2)
    with pytest.raises(openai.RateLimitError):
        limited.responses.create(model=CHAT, input="hi", max_output_tokens=2)
    client.close()
    limited.close()
